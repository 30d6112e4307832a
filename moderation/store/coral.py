"""What ties a comment Coral Talk sent us to Coral's own comment (the Coral write-back).

Coral's external moderation phase runs before Coral has stored the comment, so its request
carries no comment id (Coral 9.11.8, ``phases/external.ts``). When the phase endpoint
(``moderation.api.coral``) takes a comment it writes a **link**: the story, author and
:func:`fingerprint` of the body Coral sent, and then what the phase answered (``told``). The
write-back (``workers.coral``) looks Coral's comment and revision ids up by those facts the
first time it needs them and keeps them in the link.

``told`` is what Coral believes of the comment, in our terms: ``approved`` (we answered no
objection, or nothing and Coral went on), ``withheld`` (``SYSTEM_WITHHELD``) or, after a
write-back, ``approved`` / ``rejected``. An empty ``told`` means the phase has not answered
yet. Links expire after :data:`LINK_TTL_S`: a decision later than that is not written back.
"""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any

import msgspec
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.store.codec import str_map

#: How long a link is kept (90 days): moderators decide held comments well within that.
LINK_TTL_S = 90 * 86_400

APPROVED = "approved"
WITHHELD = "withheld"
REJECTED = "rejected"


_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def fingerprint(body: str) -> str:
    """SHA-256 (hex) of a comment body's text, tags stripped, entities decoded, whitespace
    removed: the same for the body the phase sends (HTML, or Coral's plain-text rendering of
    it, whichever the phase's format says) and the HTML body Coral's GraphQL API returns."""
    text = _SPACE.sub("", html.unescape(_TAG.sub("", body)))
    return hashlib.sha256(text.encode()).hexdigest()


class Link(msgspec.Struct):
    comment_id: str
    story_id: str
    author_id: str
    #: :func:`fingerprint` of the body Coral sent: how Coral's comment is recognised.
    text_digest: str
    told: str = ""
    coral_id: str = ""
    coral_revision_id: str = ""


async def save_link(redis: Redis, keys: Keys, link: Link) -> None:
    fields: dict[Any, Any] = {
        k: v for k, v in msgspec.structs.asdict(link).items() if k != "comment_id"
    }
    pipe = redis.pipeline(transaction=True)
    pipe.hset(keys.coral_link(link.comment_id), mapping=fields)
    pipe.expire(keys.coral_link(link.comment_id), LINK_TTL_S)
    await pipe.execute()


async def load_link(redis: Redis, keys: Keys, comment_id: str) -> Link | None:
    raw: Any = await redis.hgetall(keys.coral_link(comment_id))
    if not raw:
        return None
    f = str_map(raw)
    return Link(
        comment_id=comment_id,
        story_id=f.get("story_id", ""),
        author_id=f.get("author_id", ""),
        text_digest=f.get("text_digest", ""),
        told=f.get("told", ""),
        coral_id=f.get("coral_id", ""),
        coral_revision_id=f.get("coral_revision_id", ""),
    )


async def update_link(redis: Redis, keys: Keys, comment_id: str, **fields: str) -> None:
    """Change fields of an existing link (``XX``-like: a link that expired stays gone)."""
    key = keys.coral_link(comment_id)
    if await redis.exists(key):
        mapping: dict[Any, Any] = dict(fields)
        await redis.hset(key, mapping=mapping)


async def drop_link(redis: Redis, keys: Keys, comment_id: str) -> None:
    await redis.delete(keys.coral_link(comment_id))


async def linked(redis: Redis, keys: Keys, comment_ids: list[str]) -> set[str]:
    """Which of these comments came through Coral (and are still linked)."""
    if not comment_ids:
        return set()
    pipe = redis.pipeline(transaction=False)
    for comment_id in comment_ids:
        pipe.exists(keys.coral_link(comment_id))
    found = await pipe.execute()
    return {c for c, n in zip(comment_ids, found, strict=True) if n}
