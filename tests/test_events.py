"""The live event stream (SSE) against a real uvicorn and a real worker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from redis.asyncio import Redis

from moderation.api.events import EventHub
from moderation.app import create_app
from moderation.keys import Keys
from moderation.messages import Role
from moderation.settings import Settings
from moderation.store.apikeys import create_key
from tests.conftest import comment
from tests.live_server import LiveServer

EVENTS = "/v1/moderation/events"


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings).start()
    yield server
    server.stop()


@dataclass
class Event:
    name: str = "message"
    id: str = ""
    data: dict[str, str] = field(default_factory=dict)


async def next_event(lines: AsyncIterator[str]) -> Event:
    async def read() -> Event:
        event = Event()
        seen = False
        async for line in lines:
            if not line:
                if seen:
                    return event
                continue
            if line.startswith(":") or line.startswith("retry:"):
                continue
            name, _, value = line.partition(": ")
            seen = True
            if name == "event":
                event.name = value
            elif name == "id":
                event.id = value
            elif name == "data":
                event.data = json.loads(value)
        raise AssertionError("stream ended")

    return await asyncio.wait_for(read(), 10.0)


async def wait_subscribed(lines: AsyncIterator[str]) -> None:
    async for line in lines:
        if line.startswith("retry:"):
            return


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_event_stream_roles_live_events_and_resume(live: LiveServer, rds: Redis) -> None:
    keys = Keys()
    site = await create_key(rds, keys, "site", Role.SITE)
    mod = await create_key(rds, keys, "mod", Role.MODERATOR)
    admin = await create_key(rds, keys, "admin", Role.ADMIN)
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        assert (await client.get(EVENTS)).status_code == 401
        assert (await client.get(EVENTS, headers=bearer("mk_admin_nope"))).status_code == 401
        assert (await client.get(EVENTS, headers=bearer(site))).status_code == 403
        bad = await client.get(EVENTS, headers={**bearer(mod), "Last-Event-ID": "junk"})
        assert bad.status_code == 400

        async with client.stream("GET", EVENTS, headers=bearer(mod)) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            await wait_subscribed(lines)
            # An approved comment is no queue event; a held one is.
            fine = await client.post(
                "/v1/comments", json=comment(text="Thanks, good read."), headers=bearer(site)
            )
            toxic = await client.post(
                "/v1/comments",
                json=comment(text="you are a fucking idiot", article="a<b>"),
                headers=bearer(site),
            )
            held_id = toxic.json()["id"]
            arrived = await next_event(lines)
            assert arrived.name == "held"
            assert arrived.data["id"] == held_id
            assert arrived.data["article"] == "a<b>"
            assert arrived.data["from"] == "pending"
            assert fine.json()["id"] != held_id

            r = await client.post(
                f"/v1/moderation/comments/{held_id}/decision",
                json={"action": "reject", "reason": "toxic"},
                headers=bearer(admin),
            )
            assert r.status_code == 200
            decided = await next_event(lines)
            assert (decided.name, decided.data["id"]) == ("decided", held_id)
            assert (decided.data["to"], decided.data["by"]) == ("rejected", "admin:admin")

        # A reconnecting client names the last event it saw and gets what it missed first.
        headers = {**bearer(admin), "Last-Event-ID": arrived.id}
        async with client.stream("GET", EVENTS, headers=headers) as stream:
            missed = await next_event(stream.aiter_lines())
            assert (missed.name, missed.id) == ("decided", decided.id)


async def test_shutdown_stops_the_reader_while_a_stream_is_still_subscribed(
    settings: Settings,
) -> None:
    """The app's shutdown stops the events reader even while a stream still holds its
    subscription (a response cancelled at shutdown lets go of it only when its generator is
    finalised, which may come after the loop has ended: the reader was then destroyed
    pending, its Redis connection never closed)."""
    app = create_app(settings)
    release = asyncio.Event()
    subscribed = asyncio.Event()

    async def stream(hub: EventHub) -> None:
        async with hub.subscribe():
            subscribed.set()
            await release.wait()

    async with app.router.lifespan_context(app):
        hub = EventHub(settings, Keys())
        app.state.event_hub = hub  # as the first stream's request makes it (``hub_of``)
        holder = asyncio.create_task(stream(hub))
        await asyncio.wait_for(subscribed.wait(), 10)
        assert hub.running and hub.subscribers == 1
    try:
        assert not hub.running  # stopped by the shutdown, the subscription still held
        assert hub.subscribers == 1
    finally:
        release.set()
        await holder
