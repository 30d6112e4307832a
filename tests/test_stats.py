"""Stats and metrics against a scripted scenario: every figure is what it must be."""

from __future__ import annotations

import signal
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import Decision, Reason, Status
from moderation.settings import Settings
from moderation.store import CommentRef, Store, now_ms
from tests.conftest import (
    Api,
    comment,
    prose,
    running_worker,
    wait_for,
    worker_subprocess,
)

TOXIC = "you are a fucking idiot, shut the fuck up"


def _metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def _stats(api: Api) -> dict[str, Any]:
    r = await api.client.get("/v1/stats", headers=api.auth("moderator"))
    assert r.status_code == 200
    return dict(r.json())


async def _moderate(rds: Redis, cid: str, status: Status, who: str) -> None:
    store = Store(rds, Keys())
    stored = await store.get(cid)
    assert stored is not None
    decision = Decision(
        status=status,
        by=f"moderator:{who}",
        decided_at=now_ms(),
        reasons=[Reason(code="other", message="reviewed")],
    )
    result = await store.transition(
        CommentRef.of(stored.record), [Status.HELD], decision, actor=f"moderator:{who}"
    )
    assert result.applied


async def test_stats_follow_a_scripted_scenario(api: Api, settings: Settings, rds: Redis) -> None:
    empty = await _stats(api)
    assert empty["queue"]["undecided"] == 0
    assert empty["hold_rate"]["all_time"] is None
    assert empty["workers"] == []

    # 1. Seven fine comments and three toxic ones, no worker yet: all undecided.
    ids = []
    for i in range(10):
        text = f"{TOXIC} ({i})" if i < 3 else prose(i)
        posted = await api.post_comment(comment(article=f"s{i % 2}", text=text, author=f"s{i}"))
        ids.append(posted.json()["id"])
    s = await _stats(api)
    assert s["queue"]["undecided"] == 10
    assert s["queue"]["undelivered"] == 10
    assert s["queue"]["oldest_undecided_age_s"] >= 0
    assert s["throughput"]["accepted_per_minute"]["1m"] > 0

    # 2. A worker decides them.
    async with running_worker(settings, name="stats-w"):

        async def drained() -> bool:
            return (await _stats(api))["queue"]["undecided"] == 0

        await wait_for(drained)
        s = await _stats(api)
    assert s["queue"] == {
        "stream_length": 10,
        "undelivered": 0,
        "pending": 0,
        "undecided": 0,
        "oldest_undecided_age_s": None,
    }
    assert s["decisions"]["auto"] == {"approved": 7, "held": 3, "rejected": 0}
    assert s["decisions"]["by_reason"] == {"toxicity:toxicity": 3}
    assert s["hold_rate"] == {"all_time": 0.3, "last_hour": 0.3}
    assert s["held"]["backlog"] == 3 and s["held"]["oldest_age_s"] > 0
    assert s["auto_time_to_decision_ms"]["samples"] == 10
    assert s["auto_time_to_decision_ms"]["p50"] >= 0
    worker = next(w for w in s["workers"] if w["id"] == "stats-w")
    assert worker["processed"] == 10 and worker["model"] == "linear"
    assert worker["stale"] is False

    # 3. Moderators clear two of the three held comments.
    held = [i for i in ids[:3]]
    await _moderate(rds, held[0], Status.APPROVED, "alice")
    await _moderate(rds, held[1], Status.REJECTED, "bob")
    s = await _stats(api)
    assert s["held"]["backlog"] == 1
    assert s["moderators"]["actions_last_hour"] == 2
    assert s["moderators"]["time_to_decision_s"]["samples"] == 2
    assert s["decisions"]["moderator"] == {"approved": 1, "rejected": 1}
    assert s["decisions"]["total"] == {"approved": 8, "held": 3, "rejected": 1}

    # 4. A worker is killed: it stays listed, marked stale once its heartbeat ages.
    proc = worker_subprocess(settings, worker_name="doomed")
    try:

        async def listed() -> bool:
            return any(w["id"] == "doomed" for w in (await _stats(api))["workers"])

        await wait_for(listed, timeout=30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()

    async def stale() -> bool:
        ws = (await _stats(api))["workers"]
        return any(w["id"] == "doomed" and w["stale"] for w in ws)

    await wait_for(stale, timeout=settings.heartbeat_ttl_s + 10)
    assert s["dead_letters"] == 0 and s["rate_limited"]["total"] == 0


async def test_stats_need_a_moderator_or_admin(api: Api) -> None:
    assert (await api.client.get("/v1/stats")).status_code == 401
    assert (await api.client.get("/v1/stats", headers=api.auth("site"))).status_code == 403
    assert (await api.client.get("/v1/stats", headers=api.auth("admin"))).status_code == 200


async def test_metrics_parse_and_move(api: Api, settings: Settings) -> None:
    r = await api.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    before = _metrics(r.text)
    assert before[("moderation_comments_accepted_total", ())] == 0
    assert (
        before[("moderation_build_info", (("python", before_python(before)), ("version", "0.1.0")))]
        == 1
    )

    async with running_worker(settings, name="m-w"):
        for i in range(4):
            text = TOXIC if i == 0 else prose(i)
            posted = await api.post_comment(comment(text=text, author=f"m{i}"), wait=5)
            assert posted.status_code == 201

        async def flushed() -> dict[Any, float] | None:
            m = _metrics((await api.client.get("/metrics")).text)
            key = (
                "moderation_http_requests_total",
                (("method", "POST"), ("route", "/v1/comments"), ("status", "201")),
            )
            return m if m.get(key) == 4 else None

        after = await wait_for(flushed, timeout=10, interval=0.3)
    assert after[("moderation_comments_accepted_total", ())] == 4
    assert after[("moderation_decisions_total", (("by", "auto"), ("status", "approved")))] == 3
    assert after[("moderation_decisions_total", (("by", "auto"), ("status", "held")))] == 1
    assert after[("moderation_held_backlog", ())] == 1
    assert after[("moderation_queue_undecided", ())] == 0
    count = after[
        (
            "moderation_http_request_duration_seconds_count",
            (("method", "POST"), ("route", "/v1/comments")),
        )
    ]
    inf = after[
        (
            "moderation_http_request_duration_seconds_bucket",
            (("le", "+Inf"), ("method", "POST"), ("route", "/v1/comments")),
        )
    ]
    assert count == inf == 4
    # No per-comment labels anywhere.
    for _, labels in after:
        for name, _value in labels:
            assert name not in {"id", "comment_id", "article_id", "author_id"}


def before_python(metrics: dict[Any, float]) -> str:
    for name, labels in metrics:
        if name == "moderation_build_info":
            return dict(labels)["python"]
    raise AssertionError("no build_info")
