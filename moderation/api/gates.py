"""Admission gates: checks run on ``POST /v1/comments`` before anything is stored. A gate
raises a :class:`~moderation.errors.ModerationError` to refuse the comment.
:func:`admission_gates` lists them in order (``app.state.gates``):

1. :func:`article_closed_gate`: a closed article (or a closed site, or one older than its
   "close after N days") takes no new comments (``409 article_closed``).
2. :func:`flood_gate`: flood control, limiting how fast one author or one IP address may post.

Flood control: each author may post a burst of ``flood_author_burst`` comments, then one every
``flood_author_interval_s`` seconds; each IP address likewise with its own (looser) limits,
since readers share addresses behind NATs and proxies (an IPv6 address counts as its /64). A
comment over either limit is refused with ``429 rate_limited`` and a ``Retry-After`` header
saying when it would be accepted; nothing is stored. Refusals are counted in the counters hash
(``rate_limited``, ``rate_limited:author``, ``rate_limited:ip``) and the minute counters
(``rate_limited``), for the stats.

The check-and-consume is one Lua script (``lua/flood.lua``) on Redis' clock, so every API
process shares the limits exactly. Trusted authors are not limited, and a request replaying an
``Idempotency-Key`` that was already accepted passes (it was counted the first time, and it
stores nothing new).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from starlette.requests import Request

from moderation.errors import ArticleClosed, RateLimited
from moderation.keys import ArticleField, Keys
from moderation.messages import CommentRecord
from moderation.pipeline.policy import CLOSE_AFTER_DAYS, CLOSED
from moderation.settings import Settings
from moderation.spam.velocity import ip_bucket
from moderation.store import articles
from moderation.store.articles import ArticleInfo
from moderation.store.codec import as_str, script
from moderation.store.comments import MINUTE_TTL_S

#: An admission check run before a comment is stored; raises a ModerationError to refuse.
Gate = Callable[[Request, CommentRecord], Awaitable[None]]


def admission_gates(settings: Settings, keys: Keys) -> list[Gate]:
    """The gates of a new app, in the order they run."""
    return [article_closed_gate, flood_gate(settings, keys)]


@dataclass(frozen=True, slots=True)
class ArticleState:
    """Whether an article takes comments, and why not."""

    info: ArticleInfo
    #: ``None`` (open), ``closed`` (a moderator closed it), ``site_closed`` (the whole site) or
    #: ``expired`` (older than its "close after N days").
    closed: str | None
    #: When it closes by itself (epoch ms), if it will.
    closes_at: int | None


async def article_state(
    redis: Redis, keys: Keys, settings: Settings, article_id: str, *, now: int, touch: bool
) -> ArticleState:
    """One round trip: the closed flags, the "close after N days" setting and the article's
    start. ``touch`` marks the article's ``first_seen`` (a comment is arriving)."""
    meta = keys.article(article_id)
    pipe = redis.pipeline(transaction=False)
    if touch:
        pipe.hsetnx(meta, ArticleField.FIRST_SEEN, now)
    pipe.hmget(keys.article_settings(article_id), CLOSED, CLOSE_AFTER_DAYS)
    pipe.hmget(keys.policy, CLOSED, CLOSE_AFTER_DAYS)
    pipe.hmget(meta, *articles.FIELDS)
    replies = await pipe.execute()
    (closed, days_raw), (site_closed, site_days_raw), row = replies[-3:]
    info = articles.decode(article_id, row)
    # The article's own setting, else the site-wide override, else the environment's.
    days = settings.close_after_days
    for raw in (site_days_raw, days_raw):
        if raw is not None and as_str(raw).isdigit():
            days = int(as_str(raw))
    opened = info.opened_at
    closes_at = opened + days * 86_400_000 if days > 0 and opened is not None else None
    reason = None
    if closed == b"1":
        reason = "closed"
    elif site_closed == b"1":
        reason = "site_closed"
    elif closes_at is not None and now >= closes_at:
        reason = "expired"
    return ArticleState(info, reason, closes_at)


async def article_closed_gate(request: Request, record: CommentRecord) -> None:
    """Refuse comments on a closed article (closed by a moderator, the site closed, or older
    than its "close after N days"); marks when an article's first comment arrived."""
    state = request.app.state
    found = await article_state(
        state.redis, state.keys, state.settings, record.article_id, now=record.created_at,
        touch=True,
    )  # fmt: skip
    if found.closed is not None:
        raise ArticleClosed(
            f"comments on article {record.article_id!r} are closed",
            field="article_id",
            extra={"article_id": record.article_id, "reason": found.closed},
        )


def flood_gate(settings: Settings, keys: Keys) -> Gate:
    """The gate for ``app.state.gates`` (a no-op when both limits are off)."""
    author_ms = int(settings.flood_author_interval_s * 1000)
    ip_ms = int(settings.flood_ip_interval_s * 1000)

    async def gate(request: Request, record: CommentRecord) -> None:
        if author_ms <= 0 and ip_ms <= 0:
            return
        ip = record.context.ip if record.context else None
        idem = (request.headers.get("idempotency-key") or "").strip()
        reply: Any = await script(request.app.state.redis, "flood.lua")(
            keys=[
                keys.flood("author", record.author.id),
                keys.flood("ip", ip_bucket(ip)) if ip else "",
                keys.author(record.author.id),
                keys.counters,
                keys.minute_counters(int(time.time()) // 60),
                keys.idempotency(record.site, idem) if idem else "",
            ],
            args=[
                author_ms,
                settings.flood_author_burst,
                ip_ms,
                settings.flood_ip_burst,
                MINUTE_TTL_S,
            ],
        )
        if int(reply[0]) == 0:
            return
        retry_s = max(1, math.ceil(int(reply[1]) / 1000))
        kind = reply[2].decode() if isinstance(reply[2], bytes) else str(reply[2])
        who = "this author" if kind == "author" else "this IP address"
        raise RateLimited(
            f"too many comments from {who}; retry in {retry_s} s",
            field="author.id" if kind == "author" else "context.ip",
            headers={"Retry-After": str(retry_s)},
            extra={"retry_after_s": retry_s, "limit": kind},
        )

    return gate
