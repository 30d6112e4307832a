"""/healthz and /readyz; worker heartbeats."""

from __future__ import annotations

from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.scoring.linear import LinearScorer
from moderation.settings import Settings
from tests.conftest import Api, running_worker, wait_for


async def test_ready_needs_a_live_worker(api: Api, settings: Settings, rds: Redis) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    r = await api.client.get("/readyz")
    assert r.status_code == 503
    assert "no worker heartbeat" in r.json()["problems"][0]
    assert r.headers["retry-after"]

    async with running_worker(settings, name="hb-1") as worker:

        async def ready() -> bool:
            return (await api.client.get("/readyz")).status_code == 200

        await wait_for(ready)
        body = (await api.client.get("/readyz")).json()
        assert body["status"] == "ready" and body["problems"] == []
        assert body["workers"] == [
            {"name": "hb-1", "model": "linear", "device": "cpu", "degraded": False}
        ]
        assert body["degraded"] == []
        facts = await rds.hgetall(Keys().worker("hb-1"))
        assert facts[b"model"] == b"linear" and int(facts[b"pid"]) > 0
        assert 0 < await rds.ttl(Keys().worker("hb-1")) <= 3 * settings.heartbeat_ttl_s
        assert worker.name == "hb-1"
    # A stopped worker removes its heartbeat at once.
    assert (await api.client.get("/readyz")).status_code == 503


async def test_degraded_scorer_is_visible(api: Api, settings: Settings) -> None:
    async with running_worker(settings, name="fallback", scorer=LinearScorer(degraded=True)):

        async def ready() -> dict | None:
            r = await api.client.get("/readyz")
            return r.json() if r.status_code == 200 else None

        body = await wait_for(ready)
        assert body["degraded"] == ["scorer:linear"]
        assert body["workers"][0]["degraded"] is True
        posted = await api.post_comment(
            {"article_id": "a", "text": "fine", "author": {"id": "u", "name": "n"}}, wait=5
        )
        assert posted.json()["model"]["degraded"] is True


async def test_stale_heartbeat_does_not_count(api: Api, rds: Redis) -> None:
    await rds.zadd(Keys().workers, {"ghost": 1.0})  # last beat in 1970
    r = await api.client.get("/readyz")
    assert r.status_code == 503 and r.json()["workers"] == []
