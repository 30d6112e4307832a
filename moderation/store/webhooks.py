"""Webhook endpoints and their delivery queues, in Redis.

An **endpoint** (``Endpoint``) is a URL, the event types it wants and its Standard Webhooks
secrets (``whsec_`` + base64). Admins register endpoints at run time (API, CLI); the one in the
environment (``MODERATION_WEBHOOK_URL``) is listed as the read-only endpoint ``env``. A secret
is shown once, when it is made (create, rotate); listings show a hint only. ``rotate`` makes a
new secret the current one and keeps the previous one signing beside it for the grace period,
so a receiver can switch without a window of failed verifications.

Each endpoint has its own **queue** of messages (``Delivery``): a sorted set by when the next
attempt is due and a hash of the messages. The sender (``workers.webhooks``) fans an event out
by adding a message to each subscribed endpoint's queue in the same ``MULTI`` that
acknowledges the event, claims due messages with ``webhook_claim.lua`` (a lease: a sender that
dies mid-attempt loses nothing), and settles each attempt: delivered (removed), retried later
(re-scored), or dead-lettered past the retry window into the endpoint's **failed** stream,
from which ``replay`` puts messages back in the queue. Every move is one ``MULTI``: a message
is always in exactly one of queue or failed stream.

The Coral write-back (``workers.coral``) keeps its queue here too, under the id ``coral``:
with ``MODERATION_CORAL_API_URL`` set, ``get("coral")`` answers a read-only endpoint (not in
:meth:`Webhooks.endpoints`, so the sender never posts to it) whose failures admins list and
replay like any endpoint's.
"""

from __future__ import annotations

import base64
import secrets as random_secrets
import time
from collections.abc import Sequence
from typing import Any

import msgspec
from redis.asyncio import Redis

from moderation.errors import Conflict, NotFound, ValidationFailed
from moderation.ids import check_site_id
from moderation.keys import CORAL_QUEUE, Keys
from moderation.messages import iso
from moderation.settings import WEBHOOK_EVENTS, Settings
from moderation.store.codec import as_str, script, str_map

#: The id of the endpoint the environment configures.
ENV_ENDPOINT = "env"
#: Most messages the failures listing and one replay handle at once.
MAX_FAILURES_PAGE = 500


class Secret(msgspec.Struct):
    value: str
    #: Epoch ms after which it no longer signs (``None``: the current secret).
    expires: int | None = None


class Endpoint(msgspec.Struct):
    id: str
    url: str
    events: list[str]
    #: Newest first: the current secret, then any previous one still in its grace period.
    secrets: list[Secret]
    created: int
    description: str = ""
    #: ``api`` (registered at run time) or ``environment``.
    source: str = "api"
    #: The sites whose events it receives (empty: every site's). Every event names its site;
    #: one that does not (written by hand) goes to every endpoint that takes its type.
    sites: list[str] = msgspec.field(default_factory=list)

    def takes(self, event_type: str, site: str | None) -> bool:
        """Whether a message of ``event_type`` about ``site`` goes to this endpoint."""
        return event_type in self.events and (not self.sites or site is None or site in self.sites)

    def signing_secrets(self, now: int) -> list[str]:
        return [s.value for s in self.secrets if s.expires is None or s.expires > now]

    def view(self, now: int) -> dict[str, Any]:
        """What listings show: never a secret, only a hint of the current one."""
        current = self.secrets[0].value if self.secrets else ""
        rotating = [s for s in self.secrets[1:] if s.expires is not None and s.expires > now]
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "sites": list(self.sites),
            "description": self.description,
            "source": self.source,
            "created_at": iso(self.created),
            "secret_hint": current[:10] + "…" if current else "",
            "previous_secret_expires_at": iso(rotating[0].expires) if rotating else None,
        }


class Delivery(msgspec.Struct):
    """One message to one endpoint; its id is the ``webhook-id`` of every attempt."""

    id: str
    type: str
    body: str
    first: int = 0
    attempts: int = 0
    error: str = ""


_endpoint_decoder = msgspec.json.Decoder(Endpoint)
_delivery_decoder = msgspec.json.Decoder(Delivery)
_encoder = msgspec.json.Encoder()


def new_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(random_secrets.token_bytes(32)).decode()


def check_url(url: str) -> str:
    url = url.strip()
    if not url.startswith(("http://", "https://")) or len(url) > 2000 or " " in url:
        raise ValidationFailed("url must be an http:// or https:// URL", field="url")
    return url


def check_events(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(WEBHOOK_EVENTS))
    if unknown or not events:
        raise ValidationFailed(
            f"events must name one or more of {', '.join(WEBHOOK_EVENTS)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else ""),
            field="events",
        )
    return sorted(set(events), key=WEBHOOK_EVENTS.index)


def now_ms() -> int:
    return int(time.time() * 1000)


class Webhooks:
    """The endpoints and their queues (see the module docstring)."""

    def __init__(self, redis: Redis, keys: Keys, settings: Settings) -> None:
        self.redis = redis
        self.keys = keys
        self.settings = settings

    # --- endpoints -------------------------------------------------------------------------
    def env_endpoint(self) -> Endpoint | None:
        s = self.settings
        if not s.webhook_url:
            return None
        return Endpoint(
            id=ENV_ENDPOINT,
            url=s.webhook_url,
            events=list(s.webhook_events),
            secrets=[Secret(s.webhook_secret)],
            created=0,
            description="MODERATION_WEBHOOK_URL",
            source="environment",
        )

    def coral_endpoint(self) -> Endpoint | None:
        s = self.settings
        if not s.coral_api_url:
            return None
        return Endpoint(
            id=CORAL_QUEUE,
            url=s.coral_api_url,
            events=[],
            secrets=[],
            created=0,
            description="Coral write-back (MODERATION_CORAL_API_URL)",
            source="coral",
        )

    async def endpoints(self) -> list[Endpoint]:
        """Every endpoint: the environment's first, then the registered ones by creation."""
        raw: Any = await self.redis.hgetall(self.keys.webhook_endpoints)
        stored = sorted(
            (_endpoint_decoder.decode(v) for v in str_map(raw).values()), key=lambda e: e.created
        )
        env = self.env_endpoint()
        return ([env] if env else []) + stored

    async def get(self, endpoint_id: str) -> Endpoint:
        builtin = {ENV_ENDPOINT: self.env_endpoint, CORAL_QUEUE: self.coral_endpoint}
        if endpoint_id in builtin:
            found = builtin[endpoint_id]()
            if found is not None:
                return found
        raw: Any = await self.redis.hget(self.keys.webhook_endpoints, endpoint_id)
        if raw is None:
            raise NotFound(f"no webhook endpoint {endpoint_id!r}", field="endpoint_id")
        return _endpoint_decoder.decode(raw)

    async def create(
        self, url: str, events: Sequence[str], description: str = "", sites: Sequence[str] = ()
    ) -> tuple[Endpoint, str]:
        """A new endpoint and its secret (shown to the caller this once); ``sites``: the
        sites whose events it receives (none: every site's)."""
        secret = new_secret()
        endpoint = Endpoint(
            id="ep_" + random_secrets.token_hex(8),
            url=check_url(url),
            events=check_events(events),
            secrets=[Secret(secret)],
            created=now_ms(),
            description=description[:200],
            sites=check_sites(sites),
        )
        await self._save(endpoint)
        return endpoint, secret

    async def update(
        self,
        endpoint_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        description: str | None = None,
        sites: Sequence[str] | None = None,
    ) -> Endpoint:
        endpoint = await self._stored(endpoint_id)
        if sites is not None:
            endpoint.sites = check_sites(sites)
        if url is not None:
            endpoint.url = check_url(url)
        if events is not None:
            endpoint.events = check_events(events)
        if description is not None:
            endpoint.description = description[:200]
        await self._save(endpoint)
        return endpoint

    async def rotate(self, endpoint_id: str) -> tuple[Endpoint, str]:
        """A new current secret; the previous one signs beside it for the grace period."""
        endpoint = await self._stored(endpoint_id)
        now = now_ms()
        secret = new_secret()
        previous = Secret(
            endpoint.secrets[0].value, now + self.settings.webhook_rotation_grace_s * 1000
        )
        endpoint.secrets = [Secret(secret), previous]
        await self._save(endpoint)
        return endpoint, secret

    async def remove(self, endpoint_id: str) -> None:
        """The endpoint, its queue and its failures: nothing more is sent to it."""
        await self._stored(endpoint_id)
        k = self.keys
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(k.webhook_endpoints, endpoint_id)
        pipe.delete(
            k.webhook_queue(endpoint_id),
            k.webhook_messages(endpoint_id),
            k.webhook_failed(endpoint_id),
        )
        await pipe.execute()

    async def _stored(self, endpoint_id: str) -> Endpoint:
        if endpoint_id == ENV_ENDPOINT and self.settings.webhook_url:
            raise Conflict(
                "the env endpoint comes from MODERATION_WEBHOOK_URL/SECRET/EVENTS: change those "
                "settings instead",
                field="endpoint_id",
            )
        if endpoint_id == CORAL_QUEUE and self.settings.coral_api_url:
            raise Conflict(
                "the coral endpoint is the Coral write-back: change MODERATION_CORAL_API_URL and "
                "MODERATION_CORAL_API_TOKEN instead",
                field="endpoint_id",
            )
        return await self.get(endpoint_id)

    async def _save(self, endpoint: Endpoint) -> None:
        await self.redis.hset(self.keys.webhook_endpoints, endpoint.id, _encoder.encode(endpoint))

    # --- queues ----------------------------------------------------------------------------
    def enqueue(self, pipe: Any, endpoint_id: str, message: Delivery, due: int) -> None:
        """Add ``message`` to a queue inside the caller's ``MULTI`` (``NX``: a redelivered
        event leaves a message already queued as it is, attempts included)."""
        pipe.hsetnx(self.keys.webhook_messages(endpoint_id), message.id, _encoder.encode(message))
        pipe.zadd(self.keys.webhook_queue(endpoint_id), {message.id: due}, nx=True)

    async def claim(self, endpoint_id: str, now: int, lease_ms: int, count: int) -> list[Delivery]:
        k = self.keys
        reply: Any = await script(self.redis, "webhook_claim.lua")(
            keys=[k.webhook_queue(endpoint_id), k.webhook_messages(endpoint_id)],
            args=[now, lease_ms, count],
        )
        return [_delivery_decoder.decode(reply[i + 1]) for i in range(0, len(reply), 2)]

    async def next_due(self, endpoint_ids: Sequence[str]) -> int | None:
        """The earliest due time (epoch ms) across these queues, ``None`` when all are empty."""
        pipe = self.redis.pipeline(transaction=False)
        for endpoint_id in endpoint_ids:
            pipe.zrange(self.keys.webhook_queue(endpoint_id), 0, 0, withscores=True)
        heads = [int(rows[0][1]) for rows in await pipe.execute() if rows]
        return min(heads) if heads else None

    async def delivered(self, endpoint_id: str, message_id: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(self.keys.webhook_queue(endpoint_id), message_id)
        pipe.hdel(self.keys.webhook_messages(endpoint_id), message_id)
        await pipe.execute()

    async def retry_later(self, endpoint_id: str, message: Delivery, due: int) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.webhook_messages(endpoint_id), message.id, _encoder.encode(message))
        pipe.zadd(self.keys.webhook_queue(endpoint_id), {message.id: due})
        await pipe.execute()

    async def dead_letter(self, endpoint_id: str, message: Delivery, now: int) -> None:
        k = self.keys
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(k.webhook_queue(endpoint_id), message.id)
        pipe.hdel(k.webhook_messages(endpoint_id), message.id)
        pipe.xadd(
            k.webhook_failed(endpoint_id),
            {"message": _encoder.encode(message), "at": now},
            maxlen=100_000,
            approximate=True,
        )
        await pipe.execute()

    async def failures(self, endpoint_id: str, limit: int = 100) -> list[tuple[str, Delivery, int]]:
        """``(failure id, message, dead-lettered at ms)``, oldest first."""
        await self.get(endpoint_id)
        rows: Any = await self.redis.xrange(
            self.keys.webhook_failed(endpoint_id), count=min(limit, MAX_FAILURES_PAGE)
        )
        out = []
        for entry_id, fields in rows:
            f = str_map(fields)
            out.append((as_str(entry_id), _delivery_decoder.decode(f["message"]), int(f["at"])))
        return out

    async def replay(self, endpoint_id: str, failure_ids: Sequence[str] | None = None) -> int:
        """Put failed messages (all, or those named) back in the queue, due now, with a fresh
        retry window. Returns how many were replayed."""
        await self.get(endpoint_id)
        k = self.keys
        rows = await self.failures(endpoint_id, MAX_FAILURES_PAGE)
        wanted = set(failure_ids) if failure_ids is not None else None
        now = now_ms()
        pipe = self.redis.pipeline(transaction=True)
        n = 0
        for failure_id, message, _ in rows:
            if wanted is not None and failure_id not in wanted:
                continue
            fresh = msgspec.structs.replace(message, first=0, attempts=0, error="")
            self.enqueue(pipe, endpoint_id, fresh, now)
            pipe.xdel(k.webhook_failed(endpoint_id), failure_id)
            n += 1
        if n:
            await pipe.execute()
        return n

    async def backlog(self, endpoint_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """``endpoint id -> (messages waiting, messages dead-lettered)``."""
        pipe = self.redis.pipeline(transaction=False)
        for endpoint_id in endpoint_ids:
            pipe.zcard(self.keys.webhook_queue(endpoint_id))
            pipe.xlen(self.keys.webhook_failed(endpoint_id))
        r = await pipe.execute()
        return {e: (int(r[2 * i]), int(r[2 * i + 1])) for i, e in enumerate(endpoint_ids)}


def check_sites(sites: Sequence[str]) -> list[str]:
    """The site ids an endpoint is limited to, each checked (422 naming ``sites``)."""
    return sorted({check_site_id(site, "sites") for site in sites})
