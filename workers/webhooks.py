"""The webhook sender: every status change, POSTed to each subscribed endpoint, signed the
Standard Webhooks way, retried with backoff for a day, dead-lettered after, never lost.

**Events.** The sender reads the events stream (``keys.events``, the outbox ``transition.lua``
writes) through its consumer group, so a change is sent only once it is durable. Each
transition becomes up to two messages (:func:`messages_of`):

* ``comment.decided`` — an automatic decision (actor ``auto`` or ``system``);
* ``comment.moderated`` — a moderator's or admin's decision;
* ``comment.deleted`` — the site deleted the comment (status ``deleted``);
* ``article.count_changed`` — the comment entered or left the article's approved set (the
  payload carries the count when the event was fanned out).

Typed entries (a ``type`` field) are one message each: ``report.decided`` (a reporter's
outcome) and ``appeal.decided`` (an author's appeal answered: outcome, answer, status).

A message's id (``webhook-id``) is ``msg_<event id>_<type>``: the same on every attempt and
every replay, so receivers dedupe on it (delivery is at least once).

**Fan-out, then delivery.** A batch of events is fanned out to every endpoint that wants each
type — one message per endpoint in its queue (``moderation.store.webhooks``) — in the same
``MULTI`` that acknowledges the events: from then on each message lives in its queue until it
is delivered or dead-lettered. Due messages are claimed with a lease (a sender killed mid-POST
leaves them to be retried) and POSTed concurrently.

**Signing** (https://www.standardwebhooks.com): headers ``webhook-id``, ``webhook-timestamp``
(the attempt's unix seconds) and ``webhook-signature`` — ``v1,<base64 HMAC-SHA256 of
"<id>.<timestamp>.<body>">``, computed by the ``standardwebhooks`` package, one per signing
secret separated by spaces (two during a rotation). Receivers verify with the specification's
libraries (``standardwebhooks`` in Python, and its ports).

**Retries.** A non-2xx answer, a timeout or a refused connection is retried after
``webhook_backoff_s × 2^(attempt-1)`` (at most ``webhook_backoff_max_s``), each delay drawn
from its upper half (jitter); once the next attempt would fall past ``webhook_retry_for_s``
after the first, the message is dead-lettered into the endpoint's failed stream, where
``moderation webhooks failures`` lists it and ``replay`` sends it again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from standardwebhooks import Webhook

from moderation.errors import REDIS_UNAVAILABLE
from moderation.keys import DEFAULT_SITE, WEBHOOK_GROUP, Keys
from moderation.messages import iso, json_encoder
from moderation.ops.metrics import WEBHOOK_DELIVERIES, Recorder
from moderation.settings import Settings
from moderation.store import decisions
from moderation.store.codec import as_str
from moderation.store.comments import Store
from moderation.store.webhooks import Delivery, Endpoint, Webhooks, now_ms

log = logging.getLogger("moderation.webhooks")

#: The kinds of actor whose decisions are ``comment.decided`` (the rest are moderators').
AUTOMATIC = frozenset({"auto", "system"})


def signature_headers(
    message_id: str, body: bytes, secrets: Sequence[str], at: datetime
) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt, one signature per secret."""
    signatures = " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }


def messages_of(
    entry_id: str, fields: dict[str, str], count: int | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The ``(type, payload)`` messages one events-stream entry makes (see the docstring).

    ``count`` is the article's approved count, needed only when the entry changes it.
    """
    at = iso(int(fields.get("at", "0") or 0))
    article = fields.get("article", "")
    out: list[tuple[str, dict[str, Any]]] = []
    if fields.get("type") == "report.decided":
        # A reporter's outcome (moderation.store.reports): the site tells its reader (DSA).
        report = msgspec.json.decode(fields.get("report", "{}"))
        out.append(
            (
                "report.decided",
                {
                    "receipt": report.get("receipt"),
                    "reason": report.get("reason"),
                    "comment_id": fields.get("id"),
                    "article_id": article,
                    "outcome": fields.get("outcome"),
                    "automated": fields.get("automated") == "1",
                    "at": at,
                },
            )
        )
        return [(t, {"type": t, "timestamp": at, "data": data}) for t, data in out]
    if fields.get("type") == "appeal.decided":
        # An author's appeal answered (moderation.store.appeals): the site tells its author.
        data = {
            "appeal_id": fields.get("appeal"),
            "comment_id": fields.get("id"),
            "article_id": article,
            "outcome": fields.get("outcome"),
            "answer": fields.get("answer"),
            "status": fields.get("status"),
            "by": fields.get("by"),
            "filed_at": iso(int(fields.get("filed_at", "0") or 0)),
            "at": at,
        }
        return [("appeal.decided", {"type": "appeal.decided", "timestamp": at, "data": data})]
    if fields.get("type"):
        return []  # another typed entry (``report.filed``: for the record, no site message)
    old, new = fields.get("from", ""), fields.get("to", "")
    actor = fields.get("by", "")
    kind = actor.split(":", 1)[0]
    decision = msgspec.json.decode(fields["decision"]) if fields.get("decision") else {}
    comment = {
        "comment_id": fields.get("id", ""),
        "article_id": article,
        "site": fields.get("site") or DEFAULT_SITE,
        "status": new,
        "previous_status": old,
        "by": actor,
        "reason": fields.get("reason") or None,
        "at": at,
        # DSA Art. 17: present whenever the change hides the comment (held, rejected).
        "statement": decision.get("statement"),
    }
    if new == "deleted":
        out.append(("comment.deleted", comment))
    elif kind in AUTOMATIC and new != "pending":
        out.append(("comment.decided", comment))
    elif kind in {"moderator", "admin"}:
        out.append(("comment.moderated", comment))
    if (old == "approved") != (new == "approved"):
        site = fields.get("site") or DEFAULT_SITE
        out.append(
            (
                "article.count_changed",
                {"article_id": article, "site": site, "count": count, "at": at},
            )
        )
    return [(t, {"type": t, "timestamp": at, "data": data}) for t, data in out]


def _site_article(fields: dict[str, str]) -> tuple[str, str]:
    return fields.get("site") or DEFAULT_SITE, fields.get("article", "")


def message_id(entry_id: str, event_type: str) -> str:
    return f"msg_{entry_id}_{event_type}"


def next_delay_s(settings: Settings, attempts: int) -> float:
    """The wait before attempt ``attempts + 1``: exponential, capped, jittered."""
    ceiling = min(
        settings.webhook_backoff_s * 2 ** min(attempts - 1, 40), settings.webhook_backoff_max_s
    )
    return random.uniform(ceiling / 2, ceiling)


class WebhookSender:
    def __init__(
        self, settings: Settings, redis: Redis, *, name: str, client: httpx.AsyncClient
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = Keys(settings.key_prefix)
        self.hooks = Webhooks(redis, self.keys, settings)
        self.name = name
        self.client = client
        self.recorder = Recorder(redis, self.keys)
        self.delivered = 0
        self.retried = 0
        self.failed = 0
        #: A claimed message falls due again after this (its sender died mid-attempt).
        self.lease_ms = int(settings.webhook_timeout_s * 1000) + 30_000
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
                    await self.step(reclaim=time.monotonic() >= next_reclaim)
                    if time.monotonic() >= next_reclaim:
                        next_reclaim = time.monotonic() + self.settings.reclaim_interval_s
                except REDIS_UNAVAILABLE as exc:
                    log.warning("redis unavailable (%s); retrying", exc)
                    await asyncio.sleep(0.5)
        finally:
            await self.recorder.stop()

    async def step(self, *, reclaim: bool = False) -> None:
        """One turn: deliver what is due, then wait for new events until the next is due."""
        endpoints = await self.hooks.endpoints()
        if reclaim:
            await self._reclaim(endpoints)
        await self.deliver_due(endpoints)
        due = await self.hooks.next_due([e.id for e in endpoints])
        block = self.settings.block_ms
        if due is not None:
            block = max(1, min(block, due - now_ms()))
        reply: Any = await self.redis.xreadgroup(
            WEBHOOK_GROUP,
            self.name,
            {self.keys.events: ">"},
            count=self.settings.batch_size,
            block=block,
        )
        if reply:
            await self.fan_out(reply[0][1], endpoints)

    async def _reclaim(self, endpoints: list[Endpoint]) -> None:
        reply: Any = await self.redis.xautoclaim(
            self.keys.events,
            WEBHOOK_GROUP,
            self.name,
            min_idle_time=self.settings.reclaim_idle_ms,
            start_id="0-0",
            count=self.settings.batch_size,
        )
        if reply[1]:
            await self.fan_out(reply[1], endpoints)

    async def fan_out(self, raw: Sequence[Any], endpoints: list[Endpoint]) -> None:
        """Queue each event's messages for the endpoints that want them, and acknowledge the
        events, in one ``MULTI`` (a crash before it leaves the events to be reclaimed)."""
        # The decision is a binary blob (store.decisions): passed on as its JSON.
        await decisions.load_facts(
            self.redis, self.keys, ((f or {}).get(b"decision") for _, f in raw)
        )
        events = [
            (
                as_str(entry_id),
                {
                    as_str(k): decisions.as_json(v) if k == b"decision" else as_str(v)
                    for k, v in (fields or {}).items()
                },
            )
            for entry_id, fields in raw
        ]
        counted = [
            f for _, f in events if (f.get("from") == "approved") != (f.get("to") == "approved")
        ]
        counts: dict[tuple[str, str], int] = {}
        if counted and any("article.count_changed" in e.events for e in endpoints):
            # An article is its site's: its count is that site's (approved set and archived).
            pairs = sorted({_site_article(f) for f in counted})
            store = Store(self.redis, self.keys)
            for site in sorted({s for s, _ in pairs}):
                articles = [a for s, a in pairs if s == site]
                found = await store.counts(articles, site)
                counts.update({(site, a): n for a, n in found.items()})
        now = now_ms()
        pipe = self.redis.pipeline(transaction=True)
        for entry_id, fields in events:
            if not fields:
                continue  # trimmed while pending: nothing left to send
            for event_type, payload in messages_of(
                entry_id, fields, counts.get(_site_article(fields))
            ):
                body = json_encoder.encode(payload).decode()
                for endpoint in endpoints:
                    if endpoint.takes(event_type, fields.get("site") or None):
                        msg = Delivery(message_id(entry_id, event_type), event_type, body)
                        self.hooks.enqueue(pipe, endpoint.id, msg, now)
        if events:
            pipe.xack(self.keys.events, WEBHOOK_GROUP, *[entry_id for entry_id, _ in events])
        await pipe.execute()

    async def deliver_due(self, endpoints: list[Endpoint]) -> None:
        """Claim every endpoint's due messages and attempt them, all concurrently."""
        now = now_ms()
        claims = await asyncio.gather(
            *(
                self.hooks.claim(e.id, now, self.lease_ms, self.settings.batch_size)
                for e in endpoints
            )
        )
        await asyncio.gather(
            *(
                self.attempt(endpoint, message)
                for endpoint, messages in zip(endpoints, claims, strict=True)
                for message in messages
            )
        )

    async def attempt(self, endpoint: Endpoint, message: Delivery) -> bool:
        """POST one message once, then settle it: delivered, retried later or dead-lettered."""
        at = datetime.now(UTC)
        now = int(at.timestamp() * 1000)
        if not message.first:
            message.first = now
        body = message.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "moderation-webhooks",
            **signature_headers(message.id, body, endpoint.signing_secrets(now), at),
        }
        try:
            response = await self.client.post(endpoint.url, content=body, headers=headers)
            if 200 <= response.status_code < 300:
                await self.hooks.delivered(endpoint.id, message.id)
                self.delivered += 1
                self.recorder.inc(WEBHOOK_DELIVERIES, ("delivered",))
                return True
            error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        message.attempts += 1
        message.error = error
        due = now + int(next_delay_s(self.settings, message.attempts) * 1000)
        if due - message.first > self.settings.webhook_retry_for_s * 1000:
            # (recorded in the failed stream in the same MULTI that takes it off the queue)
            await self.hooks.dead_letter(endpoint.id, message, now)
            self.failed += 1
            self.recorder.inc(WEBHOOK_DELIVERIES, ("failed",))
            log.error(
                "webhook %s to %s dead-lettered after %d attempts (%s)",
                message.id, endpoint.id, message.attempts, error,
            )  # fmt: skip
        else:
            await self.hooks.retry_later(endpoint.id, message, due)
            self.retried += 1
            self.recorder.inc(WEBHOOK_DELIVERIES, ("retried",))
            log.info("webhook %s to %s attempt %d failed (%s)", message.id, endpoint.id,
                     message.attempts, error)  # fmt: skip
        return False


async def serve_webhooks(settings: Settings, redis: Redis, name: str) -> None:
    """The sender, and beside it the Coral write-back when a Coral API is configured."""
    from workers.coral import CoralSync, remove_group  # it builds on this module

    async with httpx.AsyncClient(timeout=settings.webhook_timeout_s) as client:
        sender = WebhookSender(settings, redis, name=name, client=client)
        runners: list[Any] = [sender]
        if settings.coral_api_url:
            runners.append(CoralSync(settings, redis, name=name, client=client))
        else:
            await remove_group(redis, sender.keys)
        loop = asyncio.get_running_loop()

        def stop() -> None:
            for runner in runners:
                runner.request_stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        await asyncio.gather(*(runner.run() for runner in runners))
