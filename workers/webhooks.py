"""The webhook sender: every status change, POSTed to the site, signed, retried, never lost.

It reads the events stream (``keys.events``, the outbox written by ``transition.lua``) through
its own consumer group, so a change is sent only after it is durable, and a sender that dies
before acknowledging leaves the event to be reclaimed and sent again (receivers must be
idempotent on ``event_id``).

Each request carries ``Moderation-Signature: t=<unix seconds>,v1=<hex>`` where ``hex`` is
HMAC-SHA256 of ``"<t>.<raw body>"`` under ``MODERATION_WEBHOOK_SECRET``. A delivery that fails
(non-2xx, timeout, refused) is retried with exponential backoff; after
``MODERATION_WEBHOOK_MAX_ATTEMPTS`` it is recorded in ``keys.webhook_dead`` and acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from moderation.errors import REDIS_UNAVAILABLE
from moderation.keys import WEBHOOK_GROUP, Keys
from moderation.messages import iso, json_encoder
from moderation.ops.metrics import WEBHOOK_DELIVERIES, Recorder
from moderation.settings import Settings
from moderation.store.codec import as_str

log = logging.getLogger("moderation.webhooks")

SIGNATURE_HEADER = "Moderation-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, tolerance_s: int = 300) -> bool:
    """What a receiver does: recompute the MAC and reject stale timestamps (replays)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True, slots=True)
class Event:
    entry_id: str
    fields: dict[str, str]

    def payload(self) -> dict[str, Any]:
        f = self.fields
        if f.get("type") == "report.decided":
            # A reporter's outcome (moderation.store.reports): the site tells its reader.
            report = msgspec.json.decode(f.get("report", "{}"))
            return {
                "type": "report.decided",
                "event_id": self.entry_id,
                "receipt": report.get("receipt"),
                "reason": report.get("reason"),
                "comment_id": f.get("id"),
                "article_id": f.get("article"),
                "outcome": f.get("outcome"),
                "automated": f.get("automated") == "1",
                "at": iso(int(f.get("at", "0") or 0)),
            }
        decision = msgspec.json.decode(f["decision"]) if f.get("decision") else {}
        return {
            "type": "comment.status_changed",
            "event_id": self.entry_id,
            "comment_id": f.get("id"),
            "article_id": f.get("article"),
            "status": f.get("to"),
            "previous_status": f.get("from"),
            "by": f.get("by"),
            "reason": f.get("reason") or None,
            "at": iso(int(f.get("at", "0") or 0)),
            # DSA Art. 17: present whenever the change hides the comment (held, rejected).
            "statement": decision.get("statement"),
        }


class WebhookSender:
    def __init__(
        self, settings: Settings, redis: Redis, *, name: str, client: httpx.AsyncClient
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = Keys(settings.key_prefix)
        self.name = name
        self.client = client
        self.recorder = Recorder(redis, self.keys)
        self.wanted = set(settings.webhook_statuses)
        self.delivered = 0
        self.failed = 0
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def ensure_group(self) -> None:
        try:
            # "$": start with changes from now on, not the whole history.
            await self.redis.xgroup_create(self.keys.events, WEBHOOK_GROUP, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        await self.ensure_group()
        await self.recorder.start()
        next_reclaim = 0.0
        try:
            while not self._stop.is_set():
                try:
                    if time.monotonic() >= next_reclaim:
                        await self._reclaim()
                        next_reclaim = time.monotonic() + self.settings.reclaim_interval_s
                    reply: Any = await self.redis.xreadgroup(
                        WEBHOOK_GROUP,
                        self.name,
                        {self.keys.events: ">"},
                        count=self.settings.batch_size,
                        block=self.settings.block_ms,
                    )
                    if reply:
                        await self.deliver_batch(self._events(reply[0][1]))
                except REDIS_UNAVAILABLE as exc:
                    log.warning("redis unavailable (%s); retrying", exc)
                    await asyncio.sleep(0.5)
        finally:
            await self.recorder.stop()

    def _events(self, raw: Sequence[Any]) -> list[Event]:
        return [
            Event(as_str(entry_id), {as_str(k): as_str(v) for k, v in (fields or {}).items()})
            for entry_id, fields in raw
            if fields is not None
        ]

    async def _reclaim(self) -> None:
        reply: Any = await self.redis.xautoclaim(
            self.keys.events,
            WEBHOOK_GROUP,
            self.name,
            min_idle_time=self.settings.reclaim_idle_ms,
            start_id="0-0",
            count=self.settings.batch_size,
        )
        if reply[1]:
            await self.deliver_batch(self._events(reply[1]))

    async def deliver_batch(self, events: list[Event]) -> None:
        """Deliver every wanted event of a batch (concurrently), then acknowledge them all."""
        outcomes = await asyncio.gather(
            *(
                self.deliver(e)
                for e in events
                if e.fields.get("type") or e.fields.get("to") in self.wanted
            )
        )
        if not all(outcomes):
            # Stopping mid-retry: leave the whole batch unacknowledged; another sender (or this
            # one, restarted) reclaims and delivers it. Receivers dedupe on event_id.
            return
        await self.redis.xack(self.keys.events, WEBHOOK_GROUP, *[e.entry_id for e in events])

    async def deliver(self, event: Event) -> bool:
        """True once the event is settled (delivered, or recorded as failed); False when a stop
        request interrupted the retries."""
        s = self.settings
        body = json_encoder.encode(event.payload())
        delay = s.webhook_backoff_s
        error = ""
        for attempt in range(1, s.webhook_max_attempts + 1):
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "moderation-webhooks",
                "Moderation-Event-Id": event.entry_id,
                SIGNATURE_HEADER: sign(s.webhook_secret, int(time.time()), body),
            }
            try:
                response = await self.client.post(s.webhook_url, content=body, headers=headers)
                if 200 <= response.status_code < 300:
                    self.delivered += 1
                    self.recorder.inc(WEBHOOK_DELIVERIES, ("delivered",))
                    return True
                error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            if attempt < s.webhook_max_attempts:
                self.recorder.inc(WEBHOOK_DELIVERIES, ("retried",))
                log.info("webhook %s attempt %d failed (%s)", event.entry_id, attempt, error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                if self._stop.is_set():
                    return False
                delay = min(delay * 2, 60.0)
        self.failed += 1
        self.recorder.inc(WEBHOOK_DELIVERIES, ("failed",))
        # (recorded, then acknowledged by the caller: the failure itself is never lost)
        log.error("webhook %s failed %d times (%s)", event.entry_id, s.webhook_max_attempts, error)
        await self.redis.xadd(
            self.keys.webhook_dead,
            {
                "event": event.entry_id,
                "comment": event.fields.get("id", ""),
                "error": error,
                "attempts": s.webhook_max_attempts,
                "at": int(time.time() * 1000),
            },
            maxlen=100_000,
            approximate=True,
        )
        return True


async def serve_webhooks(settings: Settings, redis: Redis, name: str) -> None:
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_s) as client:
        sender = WebhookSender(settings, redis, name=name, client=client)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, sender.request_stop)
        await sender.run()
