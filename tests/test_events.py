"""The live event stream (SSE) against a real uvicorn and a real worker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from redis.asyncio import Redis

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
