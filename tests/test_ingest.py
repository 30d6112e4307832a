"""The ingest path's costs: one Redis round trip per accepted comment (admission checks
included), and API key revocation pushed to every API process's key cache."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import Role
from moderation.settings import Settings
from moderation.store.apikeys import create_key, digest_of, revoke_key
from moderation.store.pseudonyms import Pseudonyms
from tests.conftest import comment, running_api, running_worker, wait_for

#: Production defaults for flood control, and a key cache that outlives the test.
PRODUCTION = {
    "flood_author_interval_s": 10.0,
    "flood_author_burst": 3,
    "flood_ip_interval_s": 3.0,
    "flood_ip_burst": 10,
    "key_cache_ttl_s": 300.0,
}


@contextlib.asynccontextmanager
async def monitored(rds: Redis) -> AsyncIterator[list[dict[str, Any]]]:
    """Every command Redis receives meanwhile, as ``MONITOR`` reports it (commands that scripts
    run inside Redis carry ``client_type == "lua"``)."""
    seen: list[dict[str, Any]] = []
    ready = asyncio.Event()

    async def watch() -> None:
        async with rds.monitor() as m:
            ready.set()
            while True:
                seen.append(await m.next_command())

    task = asyncio.create_task(watch())
    await asyncio.wait_for(ready.wait(), 5)
    await asyncio.sleep(0.05)  # MONITOR acknowledged before the first command we care about
    try:
        yield seen
    finally:
        await asyncio.sleep(0.1)  # let the last commands arrive
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def round_trips(seen: list[dict[str, Any]], keys: Keys) -> list[str]:
    """The commands clients sent (not run by scripts), less the metrics recorder's flushes."""
    return [
        c["command"]
        for c in seen
        if c.get("client_type") != "lua"
        and keys.metrics not in c["command"]
        and not c["command"].upper().startswith(("MONITOR", "PING"))
    ]


async def test_an_accepted_comment_costs_one_round_trip_with_production_defaults(
    settings: Settings, rds: Redis, keys: Keys
) -> None:
    async with running_api(settings.with_overrides(**PRODUCTION)) as api:
        # The first request loads the key into the cache and the script into Redis.
        first = await api.post_comment(comment(author="warm", context={"ip": "192.0.2.7"}))
        assert first.status_code == 202
        async with monitored(rds) as seen:
            r = await api.post_comment(comment(author="reader", context={"ip": "192.0.2.8"}))
            assert r.status_code == 202, r.text
        sent = round_trips(seen, keys)
        assert len(sent) == 1, sent
        assert sent[0].upper().startswith("EVALSHA")
        # Inside that one call: the closed check, both flood limits and the store.
        inner = " ".join(c["command"] for c in seen if c.get("client_type") == "lua")
        assert keys.article_settings("a1") in inner
        assert keys.flood("author", "reader") in inner
        # The IP limit's key names the address' keyed hash, never the address.
        assert keys.flood("ip", await Pseudonyms(rds, keys).of("192.0.2.8")) in inner
        assert ":192.0.2.8" not in inner  # (the submission itself still holds it)
        assert "XADD" in inner.upper()

        # Refusals take one round trip too.
        await rds.hset(keys.article_settings("shut"), "closed", "1")
        async with monitored(rds) as seen:
            closed = await api.post_comment(comment(article="shut", author="late"))
        assert closed.status_code == 409
        assert closed.json()["error"]["code"] == "article_closed"
        assert len(round_trips(seen, keys)) == 1


async def test_a_closed_site_refuses_and_a_replay_on_a_closed_article_is_answered(
    settings: Settings, rds: Redis, keys: Keys
) -> None:
    async with running_api(settings.with_overrides(**PRODUCTION)) as api:
        body = comment(article="story", author="early")
        first = await api.post_comment(body, headers={"Idempotency-Key": "once"})
        assert first.status_code == 202
        await rds.hset(keys.article_settings("story"), "closed", "1")
        # The replay of a comment accepted before closing gets that comment back …
        replay = await api.post_comment(body, headers={"Idempotency-Key": "once"})
        assert replay.status_code in (200, 202)
        assert replay.json()["id"] == first.json()["id"]
        # … a new one is refused.
        assert (await api.post_comment(comment(article="story"))).status_code == 409
        await rds.hset(keys.policy, "closed", "1")
        elsewhere = await api.post_comment(comment(article="other", author="someone"))
        assert elsewhere.status_code == 409
        assert elsewhere.json()["error"]["article_id"] == "other"
    assert await rds.hget(keys.counters, "accepted") == b"1"


async def test_revoking_a_key_drops_it_from_every_api_process_at_once(
    settings: Settings, rds: Redis, keys: Keys
) -> None:
    """Two app instances (two uvicorn processes) cache the key for five minutes; a revocation
    reaches both at once, without waiting for the TTL."""
    s = settings.with_overrides(key_cache_ttl_s=300.0)
    secret = await create_key(rds, keys, "doomed-site", Role.SITE)
    headers = {"Authorization": f"Bearer {secret}"}
    async with running_api(s) as one, running_api(s) as two:
        for app in (one, two):
            await wait_for(lambda app=app: _subscribed(app))
            r = await app.client.get("/v1/counts?article=a1", headers=headers)
            assert r.status_code == 200
            r = await app.post_comment(comment(author="before"), headers=headers)
            assert r.status_code == 202
        # Cached: deleting the stored key behind the caches' back changes nothing yet …
        stored = await rds.get(keys.api_key(digest_of(secret)))
        await rds.delete(keys.api_key(digest_of(secret)))
        assert (
            await one.post_comment(comment(author="cached"), headers=headers)
        ).status_code == 202
        await rds.set(keys.api_key(digest_of(secret)), stored)
        # … but a revocation is pushed to both.
        await revoke_key(rds, keys, "doomed-site")

        async def refused(app: Any) -> bool:
            r = await app.post_comment(comment(author="after"), headers=headers)
            return bool(r.status_code == 401)

        for app in (one, two):
            assert await wait_for(lambda app=app: refused(app), timeout=2.0)


async def _subscribed(api: Any) -> bool:
    cache = api.client._transport.app.state.key_cache  # the app behind the ASGI transport
    return bool(cache.pushed)


async def test_a_lost_revocation_subscription_makes_the_key_cache_forget(
    settings: Settings, rds: Redis, keys: Keys
) -> None:
    """Revocations published while the subscription was down are missed: when it comes back
    the cache forgets everything, so a key removed meanwhile stops working."""
    secret = await create_key(rds, keys, "blip-site", Role.SITE)
    headers = {"Authorization": f"Bearer {secret}"}
    async with running_api(settings.with_overrides(key_cache_ttl_s=300.0)) as api:
        await wait_for(lambda: _subscribed(api))
        assert (await api.post_comment(comment(), headers=headers)).status_code == 202
        # Removed without a message (as if the message had been published into the gap) …
        await rds.delete(keys.api_key(digest_of(secret)))
        assert (await api.post_comment(comment(), headers=headers)).status_code == 202  # cached
        # … then the subscription drops and comes back.
        assert await rds.client_kill_filter(_type="pubsub") >= 1
        await asyncio.sleep(0.3)  # the listener notices and resubscribes (50 ms back-off)
        await wait_for(lambda: _subscribed(api))
        assert (await api.post_comment(comment(), headers=headers)).status_code == 401


async def test_a_waiting_post_reads_nothing_back_and_leaves_no_waiter_behind(
    settings: Settings, rds: Redis, keys: Keys
) -> None:
    async with running_api(settings.with_overrides(**PRODUCTION)) as api:
        assert api.transport is not None
        waiters = api.transport.app.state.waiters  # type: ignore[attr-defined]
        async with running_worker(settings):
            warm = await api.post_comment(comment(author="warm"), wait=5)
            assert warm.status_code == 201, warm.text
            async with monitored(rds) as seen:
                r = await api.post_comment(comment(author="reader"), wait=5)
            assert r.status_code == 201, r.text
            assert r.json()["status"] == "approved"
            # Registered for the decision before the comment was stored: no status read
            # between the submission and the decision.
            # Registered for the decision before the comment was stored (no status read between
            # the submission and the decision), answered from the transition's message (no
            # read of the comment after it).
            reads = [
                c
                for c in round_trips(seen, keys)
                if c.upper().startswith(("HGET ", "HMGET ")) and keys.comment(r.json()["id"]) in c
            ]
            assert reads == []
            assert waiters.count == 0
            # … and the answer is the comment as stored, field for field.
            got = await api.client.get(f"/v1/comments/{r.json()['id']}", headers=api.auth())
            assert got.status_code == 200
            assert r.json() == got.json()
            toxic = await api.post_comment(
                comment(author="rude", text="you are a fucking idiot, shut the fuck up"), wait=5
            )
            assert toxic.status_code == 201 and toxic.json()["status"] != "approved"
            assert toxic.json()["reasons"]
            got = await api.client.get(f"/v1/comments/{toxic.json()['id']}", headers=api.auth())
            assert toxic.json() == got.json()

            # A refusal and an idempotent replay wait for nothing and leave nothing registered.
            await rds.hset(keys.article_settings("shut"), "closed", "1")
            refused = await api.post_comment(comment(article="shut", author="late"), wait=5)
            assert refused.status_code == 409
            replay = await api.post_comment(
                comment(author="warm"), wait=5, headers={"Idempotency-Key": "k1"}
            )
            again = await api.post_comment(
                comment(author="warm"), wait=5, headers={"Idempotency-Key": "k1"}
            )
            assert again.json()["id"] == replay.json()["id"]
            assert again.headers["Idempotent-Replayed"] == "true"
            assert waiters.count == 0
