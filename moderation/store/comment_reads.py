"""Reading comment hashes: the fields a stored comment is decoded from, batched ``HMGET``
through one script call, and the decoders the store and its readers share (the pipeline's
:class:`Pending`, the API's :class:`~moderation.messages.StoredComment`, list cursors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from moderation.errors import BadRequest
from moderation.ids import is_comment_id
from moderation.keys import CommentField, Keys
from moderation.messages import CommentRecord, Status, StoredComment
from moderation.store import decisions
from moderation.store.codec import as_str, decode_cursor, script
from moderation.store.records import decode_record


@dataclass(frozen=True, slots=True)
class Pending:
    """A comment as the pipeline loads it: ``status`` ``None`` when it does not exist; ``record``
    only while it is pending and readable (else ``error`` says why it is not)."""

    status: Status | None
    record: CommentRecord | None
    error: str = ""


#: The fields :func:`decode_stored` reads, in its order (the decision last).
STORED_FIELDS = (
    CommentField.DOC,
    CommentField.STATUS,
    CommentField.UPDATED,
    CommentField.DECISION,
)

#: Hashes read per ``hmget_many.lua`` call (bounds the time one call holds Redis).
_HMGET_CHUNK = 500


async def hmget_many(redis: Redis, keys: Sequence[str], fields: Sequence[str]) -> list[Any]:
    """``HMGET`` of ``fields`` on every hash of ``keys``, in as few round trips as possible.

    One script call returns all rows in a single reply: for a page of 500 comments that is
    several times cheaper for the client than a pipeline of 500 replies.
    """
    rows: list[Any] = []
    for i in range(0, len(keys), _HMGET_CHUNK):
        chunk = list(keys[i : i + _HMGET_CHUNK])
        rows.extend(await script(redis, "hmget_many.lua")(keys=chunk, args=list(fields)))
    return rows


async def queue_hmget_many(
    redis: Redis, pipe: Pipeline, keys: Sequence[str], fields: Sequence[str]
) -> int:
    """Queue :func:`hmget_many`'s script calls on ``pipe`` (of ``redis``), to travel with other
    reads in one round trip; returns how many replies they take (:func:`joined_rows` joins
    them)."""
    bound = script(redis, "hmget_many.lua")
    calls = 0
    for i in range(0, len(keys), _HMGET_CHUNK):
        await bound(keys=list(keys[i : i + _HMGET_CHUNK]), args=list(fields), client=pipe)
        calls += 1
    return calls


def joined_rows(replies: Sequence[Any]) -> list[Any]:
    """The rows of :func:`queue_hmget_many`'s replies, in key order."""
    return [row for reply in replies for row in reply]


def pending_of(comment_id: str, doc: Any, status: Any) -> Pending:
    """What the pipeline needs of a comment from its stored document and status (as
    :meth:`Store.load_pending` reads them, or ``take.lua`` with its stream entry)."""
    if doc is None or status is None:
        return Pending(None, None)
    if as_str(status) != Status.PENDING.value:
        return Pending(Status(as_str(status)), None)
    try:
        return Pending(Status.PENDING, decode_record(doc, comment_id))
    except (msgspec.DecodeError, TypeError) as exc:
        return Pending(Status.PENDING, None, error=str(exc))


async def announced(
    redis: Redis,
    keys: Keys,
    record: CommentRecord,
    status: Status,
    updated_at: int,
    decision: bytes,
) -> StoredComment:
    """The stored comment a transition announced (``store.waiters.Published``) for a caller
    holding its submission ``record`` (the request that stored it): what :func:`decode_rows`
    would read back, without reading the comment (its decision's facts are read only if this
    process has not seen them)."""
    await decisions.load_facts(redis, keys, [decision])
    return StoredComment(
        record=record, status=status, updated_at=updated_at, decision=decisions.decode(decision)
    )


async def decode_rows(
    redis: Redis, keys: Keys, rows: Sequence[Any], comment_ids: Sequence[str]
) -> list[StoredComment | None]:
    """:func:`decode_stored` of each row (of the comment of the same place in ``comment_ids``),
    the facts of their decisions read first."""
    await decisions.load_facts(redis, keys, (row[3] for row in rows if row))
    return [decode_stored(row, cid) for row, cid in zip(rows, comment_ids, strict=True)]


def decode_stored(row: Sequence[Any], comment_id: str) -> StoredComment | None:
    """Decode an ``HMGET`` row of :data:`STORED_FIELDS` of the comment ``comment_id``; ``None``
    if the comment is absent.
    The decision's facts must be cached (:func:`decode_rows` reads them).

    Raises ``msgspec.DecodeError`` when the stored document is corrupt (the worker treats that as
    a poison message).
    """
    doc, status, updated, decision = row
    if doc is None or status is None:
        return None
    return StoredComment(
        record=decode_record(doc, comment_id),
        status=Status(as_str(status)),
        updated_at=int(updated or 0),
        decision=decisions.decode(decision) if decision else None,
    )


def decode_comment_cursor(cursor: str) -> str:
    """The comment id inside a list cursor (a cursor of :func:`codec.encode_cursor`)."""
    raw = decode_cursor(cursor, str)
    if not is_comment_id(raw):
        raise BadRequest("cursor is not one this service issued", field="cursor")
    return raw
