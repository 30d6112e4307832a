"""Live queue changes as Server-Sent Events: ``GET /v1/moderation/events``.

Each API process runs **one** reader of the transitions stream (``keys.events``) while at least
one client listens, and fans what it reads out to every connected client: a thousand open review
pages cost one blocked Redis connection, not a thousand. Clients get

* ``event: held`` when a comment enters the held queue, and
* ``event: decided`` when one leaves it (decided by someone, anywhere),

each with the stream id as the SSE ``id``. A reconnecting browser sends ``Last-Event-ID`` and is
first given what it missed (from the stream itself), so a dropped connection loses nothing.
The caller's session or key is re-checked every minute; a revoked one ends the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from moderation.api.access import Principal, require_principal
from moderation.api.auth import MODERATORS
from moderation.errors import BadRequest
from moderation.keys import Keys
from moderation.messages import json_encoder
from moderation.settings import Settings
from moderation.store.codec import as_str
from moderation.store.sessions import COOKIE, load_session
from moderation.tasks import stop_task

log = logging.getLogger("moderation.events")

#: Events buffered per client before a slow client is cut off (it reconnects and catches up).
CLIENT_BUFFER = 1_000
#: Most missed events replayed to a reconnecting client.
CATCH_UP = 1_000
KEEPALIVE_S = 15.0
RECHECK_S = 60.0
BLOCK_MS = 5_000

_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    name: str  # "held" | "decided"
    data: dict[str, str]

    def encode(self) -> str:
        data = json_encoder.encode(self.data).decode()
        return f"id: {self.id}\nevent: {self.name}\ndata: {data}\n\n"


#: Put in a client's queue when it fell too far behind.
_OVERFLOW = Event("", "overflow", {})


def to_event(entry_id: Any, fields: dict[Any, Any]) -> Event | None:
    """A queue event from one transitions-stream entry (``None``: not about the queue)."""
    # Only the text fields it shows: the decision is a binary blob (store.decisions).
    f = {as_str(k): as_str(v) for k, v in fields.items() if k not in (b"decision", "decision")}
    data = {
        "id": f.get("id", ""),
        "from": f.get("from", ""),
        "to": f.get("to", ""),
        "by": f.get("by", ""),
        "at": f.get("at", ""),
        "article": f.get("article", ""),
    }
    if data["to"] == "held":
        return Event(as_str(entry_id), "held", data)
    if data["from"] == "held":
        return Event(as_str(entry_id), "decided", data)
    return None


class EventHub:
    """The per-process reader of ``keys.events`` and its subscribers."""

    def __init__(self, settings: Settings, keys: Keys) -> None:
        self.settings = settings
        self.keys = keys
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @property
    def running(self) -> bool:
        """Whether the reader of the events stream is running (it is while a stream is open)."""
        return self._task is not None and not self._task.done()

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(CLIENT_BUFFER + 1)
        self._subscribers.add(queue)
        if self._task is None or self._task.done():
            started = asyncio.Event()
            self._task = asyncio.create_task(self._run(started), name="moderation-events")
            # Wait until the reader knows where the stream ends, so nothing published after
            # this subscription can be missed.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(started.wait(), 2.0)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
            if not self._subscribers:
                await self.close()

    async def close(self) -> None:
        """Stop the reader (the app's shutdown). A stream response cancelled at shutdown does
        not end its subscription until its generator is finalised, which may be after the loop
        has stopped: the reader would then be destroyed pending, its connection unclosed."""
        task, self._task = self._task, None
        await stop_task(task)

    async def _run(self, started: asyncio.Event) -> None:
        s = self.settings
        redis = Redis.from_url(
            s.resolved_redis_url(),
            socket_timeout=BLOCK_MS / 1000 + 5,
            socket_connect_timeout=s.redis_timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        last: str | None = None
        delay = 0.1
        try:
            while True:
                try:
                    if last is None:
                        newest = await redis.xrevrange(self.keys.events, "+", "-", count=1)
                        last = as_str(newest[0][0]) if newest else "0-0"
                        started.set()
                    reply: Any = await redis.xread(
                        {self.keys.events: last}, count=500, block=BLOCK_MS
                    )
                    delay = 0.1
                except (RedisError, OSError) as exc:
                    log.warning("event stream unavailable: %s", exc)
                    started.set()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                for _, rows in reply or []:
                    for entry_id, fields in rows:
                        last = as_str(entry_id)
                        event = to_event(entry_id, fields)
                        if event is not None:
                            self._publish(event)
        finally:
            await redis.aclose()

    def _publish(self, event: Event) -> None:
        for queue in list(self._subscribers):
            if queue.qsize() >= CLIENT_BUFFER:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(_OVERFLOW)
                continue
            queue.put_nowait(event)


async def stop_hub(state: State) -> None:
    """Stop the app's event reader, if a stream ever started one (the lifespan's shutdown)."""
    hub: EventHub | None = getattr(state, "event_hub", None)
    if hub is not None:
        await hub.close()


def hub_of(request: Request) -> EventHub:
    state = request.app.state
    hub: EventHub | None = getattr(state, "event_hub", None)
    if hub is None:
        hub = EventHub(state.settings, state.keys)
        state.event_hub = hub
    return hub


async def _still_allowed(request: Request, principal: Principal) -> bool:
    if principal.session is None:
        try:
            await require_principal(request, MODERATORS)
        except Exception:
            return False
        return True
    session = await load_session(
        request.app.state.redis,
        request.app.state.keys,
        request.app.state.settings,
        request.cookies.get(COOKIE, ""),
    )
    return session is not None


async def events(request: Request) -> Response:
    principal = await require_principal(request, MODERATORS)
    after = request.headers.get("last-event-id") or request.query_params.get("after") or None
    if after is not None and not _STREAM_ID.match(after):
        raise BadRequest(
            "Last-Event-ID is not an event id this service sent", field="Last-Event-ID"
        )
    hub = hub_of(request)
    keys: Keys = request.app.state.keys
    redis: Redis = request.app.state.redis

    async def stream() -> AsyncIterator[str]:
        delivered = after
        async with hub.subscribe() as queue:
            # Sent once subscribed: a client that has seen it misses nothing published later.
            yield "retry: 2000\n\n"
            if after is not None:
                rows: Any = await redis.xrange(keys.events, f"({after}", "+", count=CATCH_UP)
                for entry_id, fields in rows:
                    event = to_event(entry_id, fields)
                    delivered = as_str(entry_id)
                    if event is not None:
                        yield event.encode()
            checked = time.monotonic()
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    event = None
                if time.monotonic() - checked > RECHECK_S:
                    checked = time.monotonic()
                    if not await _still_allowed(request, principal):
                        yield "event: signed_out\ndata: {}\n\n"
                        return
                if event is None:
                    continue
                if event is _OVERFLOW:
                    return  # the browser reconnects with Last-Event-ID and catches up
                if delivered is not None and _order(event.id) <= _order(delivered):
                    continue  # already sent during the catch-up
                delivered = event.id
                yield event.encode()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _order(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)
