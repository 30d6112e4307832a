"""Appeals against decisions (DSA Art. 20 internal complaints) in Redis.

One appeal is a JSON string (``keys.appeal``) holding a snapshot of the decision appealed (with
its statement of reasons), the author's text, and once decided the outcome, who decided and
their reasoned answer. ``keys.comment_appeals`` indexes a comment's appeals: ``open`` names the
one open appeal (there is at most one), and each appealed decision (by its ``decided_at``)
names its appeal, so a decision is appealed once. ``keys.appeals_open`` is the Appeals queue
(oldest first), ``keys.appeals_decided`` the decided ones.

The writes here are *queued* on a caller's MULTI (:func:`queue_filing`, :func:`queue_decision`):
``moderation.review.appeals`` runs them under WATCH of the appeal, the comment's index and the
comment itself, so a filing or a decision and the state it was checked against cannot disagree
(a reversal's ``transition.lua`` call goes into the same MULTI).

Events on ``keys.events`` with a ``type`` field are not status changes. ``appeal.filed``
(queued with the filing, for the record: the transparency report counts appeals received)
carries ``id`` (comment), ``article``, ``appeal`` (its id) and ``at`` (the filing time), nothing
of the author's text. ``appeal.decided``
carries ``id`` (comment), ``article``, ``appeal`` (its id), ``outcome`` (``upheld`` |
``reversed``), ``answer``, ``status`` (the comment's status afterwards), ``by``, ``filed_at``
and ``at`` (epoch ms).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from moderation.ids import new_id
from moderation.keys import Keys
from moderation.messages import Decision, json_encoder
from moderation.store.codec import as_str

#: The field of ``keys.comment_appeals`` naming the open appeal.
OPEN = "open"
APPEAL_DECIDED = "appeal.decided"
APPEAL_FILED = "appeal.filed"
_APPEAL_ID = re.compile(r"^apl_[0-9A-HJKMNP-TV-Z]{26}$")


class AppealStatus(enum.StrEnum):
    OPEN = "open"
    #: The decision stands.
    UPHELD = "upheld"
    #: The decision was reversed: the comment is published again.
    REVERSED = "reversed"


class Appeal(msgspec.Struct, omit_defaults=True, kw_only=True):
    """One appeal, as stored."""

    id: str
    comment_id: str
    article_id: str
    author_id: str
    #: The name of the site key that filed it for its author.
    site: str
    #: The author's own words.
    text: str
    filed_at: int  # epoch ms
    #: The decision appealed, as it was when the appeal was filed (statement included).
    decision: Decision
    status: AppealStatus = AppealStatus.OPEN
    #: Who decided the appeal (``moderator:<name>`` | ``admin:<name>``), when, and why.
    decided_by: str | None = None
    decided_at: int | None = None
    answer: str | None = None


_decoder = msgspec.json.Decoder(Appeal)


def new_appeal_id(now_ms: int) -> str:
    return f"apl_{new_id(now_ms)}"


def is_appeal_id(value: str) -> bool:
    return bool(_APPEAL_ID.match(value))


def decode_appeal(raw: Any) -> Appeal:
    return _decoder.decode(raw)


async def load_appeals(redis: Redis, keys: Keys, ids: Sequence[str]) -> list[Appeal | None]:
    """The appeals named, in order (``None`` for one that does not exist)."""
    if not ids:
        return []
    rows = await redis.mget([keys.appeal(i) for i in ids])
    return [decode_appeal(r) if r is not None else None for r in rows]


async def comment_appeals(redis: Redis | Pipeline, keys: Keys, comment_id: str) -> dict[str, str]:
    """The comment's appeal index (``open`` and ``<decided_at>`` fields), read immediately
    (on a watching pipeline too)."""
    raw: Any = await redis.hgetall(keys.comment_appeals(comment_id))
    return {as_str(k): as_str(v) for k, v in raw.items()}


async def queue_ids(
    redis: Redis, keys: Keys, *, decided: bool, offset: int, limit: int
) -> tuple[list[str], int]:
    """A page of the Appeals queue (open: oldest first) or of decided appeals (newest first),
    and how many there are in all."""
    pipe = redis.pipeline(transaction=False)
    if decided:
        pipe.zrevrange(keys.appeals_decided, offset, offset + limit - 1)
        pipe.zcard(keys.appeals_decided)
    else:
        pipe.zrange(keys.appeals_open, offset, offset + limit - 1)
        pipe.zcard(keys.appeals_open)
    rows, total = await pipe.execute()
    return [as_str(r) for r in rows], int(total)


def queue_filing(pipe: Pipeline, keys: Keys, appeal: Appeal, comment_site: str) -> None:
    """Queue (after MULTI) the writes of a new appeal and its ``appeal.filed`` event, which
    names the comment's site."""
    pipe.set(keys.appeal(appeal.id), json_encoder.encode(appeal))
    pipe.hset(
        keys.comment_appeals(appeal.comment_id),
        mapping={OPEN: appeal.id, str(appeal.decision.decided_at): appeal.id},
    )
    pipe.zadd(keys.appeals_open, {appeal.id: appeal.filed_at})
    pipe.xadd(
        keys.events,
        {
            "type": APPEAL_FILED,
            "id": appeal.comment_id,
            "article": appeal.article_id,
            "site": comment_site,
            "appeal": appeal.id,
            "at": appeal.filed_at,
        },
    )


def queue_decision(
    pipe: Pipeline, keys: Keys, appeal: Appeal, comment_status: str, comment_site: str
) -> None:
    """Queue (after MULTI) the writes of a decided appeal and its ``appeal.decided`` event,
    which names the comment's site (webhook endpoints limited to some sites filter on it)."""
    assert appeal.decided_at is not None and appeal.decided_by is not None
    pipe.set(keys.appeal(appeal.id), json_encoder.encode(appeal))
    pipe.hdel(keys.comment_appeals(appeal.comment_id), OPEN)
    pipe.zrem(keys.appeals_open, appeal.id)
    pipe.zadd(keys.appeals_decided, {appeal.id: appeal.decided_at})
    pipe.xadd(
        keys.events,
        {
            "type": APPEAL_DECIDED,
            "id": appeal.comment_id,
            "article": appeal.article_id,
            "site": comment_site,
            "appeal": appeal.id,
            "outcome": appeal.status.value,
            "answer": appeal.answer or "",
            "status": comment_status,
            "by": appeal.decided_by,
            "filed_at": appeal.filed_at,
            "at": appeal.decided_at,
        },
    )
