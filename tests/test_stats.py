"""Stats and metrics against a scripted scenario: every figure is what it must be."""

from __future__ import annotations

import signal
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from moderation.app import create_metrics_app
from moderation.evaluation.corpus import prose
from moderation.keys import Keys
from moderation.settings import Settings
from tests.conftest import (
    METRICS_AUTH,
    Api,
    comment,
    running_api,
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
    # Ten decisions within the last few minutes: exact averages over 5 and 60 minutes.
    assert s["throughput"]["decided_per_minute"]["5m"] == 2.0
    assert s["throughput"]["decided_per_minute"]["60m"] == round(10 / 60, 2)
    assert s["throughput"]["moderator_decisions_per_minute"]["60m"] == 0
    assert s["hold_rate"] == {"all_time": 0.3, "last_hour": 0.3}
    assert s["held"]["backlog"] == 3 and s["held"]["oldest_age_s"] > 0
    assert s["auto_time_to_decision_ms"]["samples"] == 10
    assert s["auto_time_to_decision_ms"]["p50"] >= 0
    worker = next(w for w in s["workers"] if w["id"] == "stats-w")
    assert worker["processed"] == 10 and worker["model"] == "linear"
    assert worker["stale"] is False

    # 3. Moderators clear two of the three held comments (through the moderation API).
    held = [i for i in ids[:3]]
    for cid, body in (
        (held[0], {"action": "approve"}),
        (held[1], {"action": "reject", "reason": "toxic"}),
    ):
        r = await api.client.post(
            f"/v1/moderation/comments/{cid}/decision", json=body, headers=api.auth("moderator")
        )
        assert r.status_code == 200, r.text
    s = await _stats(api)
    assert s["held"]["backlog"] == 1
    assert s["moderators"]["actions_last_hour"] == 2
    human = s["moderators"]["time_to_decision_s"]
    assert human["samples"] == 2 and 0 < human["p50"] <= human["p90"] < 60
    assert s["decisions"]["moderator"] == {"approved": 1, "rejected": 1}
    assert s["decisions"]["total"] == {"approved": 8, "held": 3, "rejected": 1}
    # The machine's reasons and the moderators' are counted apart.
    assert s["decisions"]["by_reason"] == {"toxicity:toxicity": 3}
    assert s["decisions"]["moderator_by_reason"] == {"toxic": 1}
    assert s["throughput"]["moderator_decisions_per_minute"]["5m"] == 0.4

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
    # Still listed once its heartbeat hash has expired (3 × the TTL): a dead worker does not
    # vanish from the table while it is news.
    await wait_for(
        lambda: _expired(rds, "doomed"), timeout=settings.heartbeat_ttl_s * 3 + 10, interval=0.3
    )
    ws = (await _stats(api))["workers"]
    assert [w["stale"] for w in ws if w["id"] == "doomed"] == [True]
    alerts = {a["code"] for a in (await _stats(api))["alerts"]}
    assert "worker_stale" in alerts
    assert s["dead_letters"] == 0 and s["rate_limited"]["total"] == 0

    # 5. A poison entry is dead-lettered: counted, and its comment held with that reason.
    poison = (await api.post_comment(comment(text="poison", author="p1"))).json()["id"]
    for n in range(3):
        await rds.xreadgroup("scorers", f"ghost{n}", {Keys().stream: ">"}, count=10)
        entries = [e[0] for e in await rds.xrange(Keys().stream) if e[1][b"id"] == poison.encode()]
        await rds.xclaim(Keys().stream, "scorers", f"ghost{n}", 0, entries)
    s5 = settings.with_overrides(max_deliveries=3, reclaim_idle_ms=0, reclaim_interval_s=0.05)
    async with running_worker(s5, name="reaper"):

        async def dead() -> dict[str, Any] | None:
            got = await _stats(api)
            return got if got["dead_letters"] == 1 else None

        s = await wait_for(dead, timeout=15)
    assert s["decisions"]["by_reason"] == {"dead_letter": 1, "toxicity:toxicity": 3}
    assert s["held"]["backlog"] == 2


async def _expired(rds: Redis, name: str) -> bool:
    return not await rds.exists(Keys().worker(name))


async def test_stats_need_a_moderator_or_admin(api: Api) -> None:
    assert (await api.client.get("/v1/stats")).status_code == 401
    assert (await api.client.get("/v1/stats", headers=api.auth("site"))).status_code == 403
    assert (await api.client.get("/v1/stats", headers=api.auth("admin"))).status_code == 200


async def test_metrics_parse_and_move(api: Api, settings: Settings) -> None:
    r = await api.client.get("/metrics", headers=METRICS_AUTH)
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
            m = _metrics((await api.client.get("/metrics", headers=METRICS_AUTH)).text)
            key = (
                "moderation_http_requests_total",
                (("method", "POST"), ("route", "/v1/comments"), ("status", "201")),
            )
            scored = m.get(("moderation_scoring_batch_size_sum", (("model", "linear"),)))
            return m if m.get(key) == 4 and scored == 4 else None

        after = await wait_for(flushed, timeout=10, interval=0.3)
    assert after[("moderation_comments_accepted_total", ())] == 4
    assert after[("moderation_decisions_total", (("by", "auto"), ("status", "approved")))] == 3
    assert after[("moderation_decisions_total", (("by", "auto"), ("status", "held")))] == 1
    assert after[("moderation_held_backlog", ())] == 1
    assert after[("moderation_queue_undecided", ())] == 0
    # The worker's batches: sizes and scoring times, labelled by model.
    model = (("model", "linear"),)
    sizes = after[("moderation_scoring_batch_size_count", model)]
    assert sizes >= 1 and after[("moderation_scoring_batch_size_sum", model)] == 4
    assert after[("moderation_scoring_batch_duration_seconds_count", model)] == sizes
    assert after[("moderation_scoring_batch_duration_seconds_sum", model)] > 0
    live = [k for k in after if k[0] == "moderation_model_info" and after[k] == 1]
    assert [dict(labels)["model"] for _, labels in live] == ["linear"]
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


async def test_metrics_are_not_open_to_anyone(settings: Settings) -> None:
    """Without a token /metrics is not served on the API's port (the answer says where it is);
    with one, only that bearer reads it; the localhost listener serves it without credentials."""
    closed = settings.with_overrides(metrics_token="", metrics_port=9999)
    async with running_api(closed) as api:
        r = await api.client.get("/metrics")
        assert r.status_code == 404
        assert "http://127.0.0.1:9999/metrics" in r.json()["error"]["message"]
        assert "MODERATION_METRICS_TOKEN" in r.json()["error"]["message"]
    async with running_api(settings) as api:
        assert (await api.client.get("/metrics")).status_code == 401
        wrong = await api.client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert (await api.client.get("/metrics", headers=METRICS_AUTH)).status_code == 200
    listener = create_metrics_app(closed)
    async with listener.router.lifespan_context(listener):
        transport = httpx.ASGITransport(app=listener)
        async with httpx.AsyncClient(transport=transport, base_url="http://m") as client:
            r = await client.get("/metrics")
            assert r.status_code == 200
            assert "moderation_build_info" in r.text
            assert (await client.get("/v1/stats")).status_code == 404  # /metrics alone
