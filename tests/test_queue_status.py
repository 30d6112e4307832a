"""The queue's scoring-health notice (moderation.ui.queue_status.notices): the stats document's
alerts, in a moderator's words, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from moderation.ui.queue_status import notices

DEGRADED = {"code": "scorer_degraded", "message": "Worker w1 scores with the fallback model x"}

CASES: list[tuple[list[dict[str, Any]], int, list[tuple[str, str, str]]]] = [
    ([], 0, []),
    ([], 5, []),
    (
        [{"code": "no_workers", "message": "No scoring worker is running"}],
        3,
        [("no_workers", "bad", "3 comments wait for scoring.")],
    ),
    (
        [{"code": "no_workers", "message": "No scoring worker is running"}],
        1,
        [("no_workers", "bad", "1 comment waits for scoring.")],
    ),
    (
        [{"code": "no_workers", "message": "No scoring worker is running"}],
        0,
        [("no_workers", "bad", "reach this queue only once a worker runs again")],
    ),
    ([DEGRADED], 0, [("scorer_degraded", "warn", "fallback model x")]),
    # Two degraded workers: one notice.
    ([DEGRADED, {**DEGRADED, "message": "Worker w2 …"}], 0, [("scorer_degraded", "warn", "w1")]),
    (
        [{"code": "queue_stuck", "message": "Queue stuck: the oldest is 900 s old"}],
        40,
        [("queue_stuck", "bad", "900 s old. 40 comments wait for scoring.")],
    ),
    # A stale worker beside live ones: nothing for the queue to say.
    ([{"code": "worker_stale", "message": "Worker w9 has not sent a heartbeat"}], 0, []),
]


@pytest.mark.parametrize(("alerts", "pending", "expected"), CASES)
def test_notices(
    alerts: list[dict[str, Any]], pending: int, expected: list[tuple[str, str, str]]
) -> None:
    got = notices({"alerts": alerts}, pending)
    assert [(n.code, n.kind) for n in got] == [(c, k) for c, k, _ in expected]
    for n, (_, _, words) in zip(got, expected, strict=True):
        assert words in n.text
