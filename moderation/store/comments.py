"""The comment store: accepting, reading, listing and counting comments in Redis.

Accepting a comment goes through ``lua/submit.lua``; every write that changes a comment's
status through :meth:`Store.transition` or :meth:`Store.transition_batch`
(``store.transitions``). All are single atomic scripts, so a crash between steps cannot leave
the store half-written. The decoders the readers share are in ``store.comment_reads``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from moderation.errors import IdempotencyConflict, ValidationFailed
from moderation.ids import is_comment_id
from moderation.keys import DEFAULT_SITE, CommentField, Keys
from moderation.messages import CommentRecord, Decision, Status, StoredComment
from moderation.store import decisions, idempotency
from moderation.store.admission import (
    Admission,
    Refusal,
    RefusalKind,
    lua_table,
    submit_constants,
)
from moderation.store.batching import MergedScriptBatcher
from moderation.store.codec import (
    as_str,
    encode_cursor,
    lua_source,
    script,
)
from moderation.store.comment_reads import (
    STORED_FIELDS,
    Pending,
    decode_comment_cursor,
    decode_rows,
    hmget_many,
    pending_of,
)
from moderation.store.pseudonyms import Pseudonyms
from moderation.store.records import decode_record, encode_record
from moderation.store.transitions import CommentRef, Transitions

#: Distinct submit configurations kept loaded per store (a process uses one).
_MAX_SUBMITTERS = 16

#: Admission that checks nothing (imports, benchmarks, tests of the store alone).
NO_CHECKS = Admission()


def now_ms() -> int:
    return int(time.time() * 1000)


#: Keys of one comment in a ``submit.lua`` call (its ``KEYS``, comment after comment).
SUBMIT_KEYS = 13


@dataclass(frozen=True, slots=True)
class SubmitResult:
    comment_id: str  # "" when refused
    created: bool  # False: an idempotent replay of an earlier request, or refused
    refusal: Refusal | None = None  # set when an admission check refused the comment


class Store(Transitions):
    """Async access to comments. Callers own the Redis client and its lifecycle."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        #: ``submit.lua`` with one set of constants baked in, per (admission, idempotency TTL):
        #: a process uses one, so each call sends only the comment's own values.
        self._submitters: dict[tuple[Admission, int], MergedScriptBatcher] = {}
        self._transition: AsyncScript = script(redis, "transition.lua")
        self._transition_batch: AsyncScript = script(redis, "transition_batch.lua")
        self._zcard_many: AsyncScript = script(redis, "zcard_many.lua")
        #: Decisions are stored as ``store.decisions`` blobs; their shared facts once each.
        self.decisions = decisions.Encoder()
        self.pseudonyms = Pseudonyms(redis, keys)

    # --- accepting --------------------------------------------------------------------------
    async def submit(
        self,
        record: CommentRecord,
        digest: str,
        idem_key: str | None,
        idem_ttl_s: int,
        admission: Admission = NO_CHECKS,
        ip_bucket: str | None = None,
    ) -> SubmitResult:
        """Check ``admission``, then store and enqueue a comment, in one atomic step and one
        round trip (``submit.lua``). A refused comment stores nothing (``result.refusal``).

        With ``idem_key``: a second call with the same key returns the first comment's id when
        ``digest`` matches and raises :class:`IdempotencyConflict` otherwise (before any check:
        the first call was admitted). ``ip_bucket``: the unit the IP limit counts in.
        """
        keys = self.keys.for_site(record.site)
        author_id = record.author.id
        closed = admission.closed_field
        # The key as a bucket and a field of the site's idempotency hashes (store.idempotency).
        bucket, field = idempotency.slot(idem_key) if idem_key else (0, b"")
        body = idempotency.body_digest(digest) if idem_key else b""
        # The IP's key names its keyed hash, never the address (store.pseudonyms).
        ip_limited = bool(ip_bucket) and admission.ip_limited
        ip_key = keys.flood("ip", await self.pseudonyms.of(ip_bucket or "")) if ip_limited else ""
        article_id = record.article_id
        result = await self._submitter(admission, idem_ttl_s)(
            [
                keys.comment(record.id),
                keys.stream,
                keys.idempotency(bucket) if idem_key else "",
                keys.pending,
                keys.counters,
                keys.minute_counters(int(time.time()) // 60),
                keys.author_comments(author_id),
                keys.author(author_id),
                keys.article_settings(article_id) if closed else "",
                keys.policy if closed else "",
                keys.flood("author", author_id) if admission.author_limited else "",
                ip_key,
                keys.article(article_id),
            ],
            [
                record.id,
                encode_record(record),
                record.created_at,
                idempotency.stored(body, record.id) if idem_key else b"",
                field,
            ],
        )
        kind = as_str(result[0])
        if kind == "new":
            return SubmitResult(record.id, created=True)
        if kind == "closed":
            return SubmitResult("", False, Refusal(RefusalKind.CLOSED, reason=as_str(result[1])))
        if kind == "limited":
            refusal = Refusal(RefusalKind.LIMITED, int(result[1]), as_str(result[2]))
            return SubmitResult("", False, refusal)
        seen_body, seen_id = idempotency.split(result[1])
        if seen_body != body:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used with a different request body",
                field="Idempotency-Key",
                extra={"comment_id": seen_id},
            )
        return SubmitResult(seen_id, created=False)

    def _submitter(self, admission: Admission, idem_ttl_s: int) -> MergedScriptBatcher:
        batcher = self._submitters.get((admission, idem_ttl_s))
        if batcher is None:
            # A TTL under a second would make no generation (store.idempotency).
            constants = submit_constants(admission, max(idem_ttl_s, 1))
            head = "\n-- Accept comments"  # submit.lua's first line, after the prelude
            source = lua_source("submit.lua").replace(
                head, f"\nlocal C = {lua_table(constants)}{head}", 1
            )
            batcher = MergedScriptBatcher(
                self.redis, self.redis.register_script(source), SUBMIT_KEYS
            )
            if len(self._submitters) >= _MAX_SUBMITTERS:  # configurations churn only in tests
                self._submitters.clear()
            self._submitters[(admission, idem_ttl_s)] = batcher
        return batcher

    # --- reading ----------------------------------------------------------------------------
    async def status(self, comment_id: str) -> Status | None:
        raw = await self.redis.hget(self.keys.comment(comment_id), CommentField.STATUS)
        return Status(as_str(raw)) if raw is not None else None

    async def get(self, comment_id: str) -> StoredComment | None:
        return (await self.get_many([comment_id]))[0]

    async def get_many(self, comment_ids: Sequence[str]) -> list[StoredComment | None]:
        if not comment_ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for cid in comment_ids:
            pipe.hmget(self.keys.comment(cid), *STORED_FIELDS)
        return await decode_rows(self.redis, self.keys, await pipe.execute(), comment_ids)

    async def load_pending(self, comment_ids: Sequence[str]) -> list[Pending]:
        """What the pipeline needs of each comment, in one round trip (one script call): its
        record if it is still ``pending``. A corrupt document is reported (``error``), not
        raised, so one bad comment cannot sink its batch."""
        rows = await hmget_many(
            self.redis,
            [self.keys.comment(cid) for cid in comment_ids],
            (CommentField.DOC, CommentField.STATUS),
        )
        return [
            pending_of(cid, doc, status)
            for cid, (doc, status) in zip(comment_ids, rows, strict=True)
        ]

    async def refs(self, comment_ids: Sequence[str]) -> list[CommentRef | None]:
        """The transition refs of comments (``None`` for a comment that does not exist); a
        corrupt document still yields a ref (no article nor author: they were in it), so the
        comment can still be held."""
        pipe = self.redis.pipeline(transaction=False)
        for cid in comment_ids:
            pipe.hmget(self.keys.comment(cid), CommentField.DOC, CommentField.STATUS)
        out: list[CommentRef | None] = []
        for cid, (doc, status) in zip(comment_ids, await pipe.execute(), strict=True):
            if doc is None and status is None:
                out.append(None)
                continue
            try:
                out.append(CommentRef.of(decode_record(doc, cid)))
            except (msgspec.DecodeError, TypeError):
                out.append(CommentRef(cid, "", ""))
        return out

    async def auto_decisions(self, comment_ids: Sequence[str]) -> list[Decision | None]:
        """The automatic decision of each comment (kept when a moderator's replaces it)."""
        rows = await hmget_many(
            self.redis,
            [self.keys.comment(c) for c in comment_ids],
            (CommentField.AUTO_DECISION, CommentField.DECISION),
        )
        # One copy: ``DECISION`` is the automatic one until a moderator's replaces it, which
        # moves it to ``AUTO_DECISION`` ("" there: none was made). A corrupt one shows none.
        blobs = [auto if auto is not None else current for auto, current in rows]
        return await decisions.decode_many(self.redis, self.keys, blobs)

    async def submissions(self, comment_ids: Sequence[str]) -> dict[str, CommentRecord]:
        """The submission documents of those among ``comment_ids`` still in Redis."""
        rows = await hmget_many(
            self.redis, [self.keys.comment(c) for c in comment_ids], (CommentField.DOC,)
        )
        out: dict[str, CommentRecord] = {}
        for cid, row in zip(comment_ids, rows, strict=True):
            if row and row[0]:
                with contextlib.suppress(msgspec.DecodeError):
                    out[cid] = decode_record(row[0], cid)
        return out

    async def replace_doc(self, record: CommentRecord) -> bool:
        """Overwrite a comment's submission (erasure only: the submission is otherwise
        immutable); ``False`` when the hash left Redis meanwhile (it is not recreated)."""
        replaced = await script(self.redis, "erase_doc.lua")(
            keys=[self.keys.comment(record.id)],
            args=[CommentField.DOC, encode_record(record)],
        )
        return bool(replaced)

    async def thread_root(self, parent_id: str, article_id: str, site: str = DEFAULT_SITE) -> str:
        """The top-level comment of the thread a reply to ``parent_id`` joins.

        Raises :class:`ValidationFailed` (``parent_id``) unless the parent is a comment of the
        same article of the same ``site``, whatever its status: a reply to a held or removed
        comment is still a reply, listed under its thread.
        """
        doc = (
            await self.redis.hget(self.keys.comment(parent_id), CommentField.DOC)
            if is_comment_id(parent_id)
            else None
        )
        parent = decode_record(doc, parent_id) if doc is not None else None
        if parent is None or parent.site != site:
            raise ValidationFailed(f"no comment with id {parent_id!r}", field="parent_id")
        if parent.article_id != article_id:
            raise ValidationFailed(
                f"comment {parent_id!r} belongs to another article", field="parent_id"
            )
        return parent.root_id or parent.parent_id or parent.id

    async def list_approved(
        self,
        article_id: str,
        *,
        limit: int,
        cursor: str | None,
        newest_first: bool,
        site: str = DEFAULT_SITE,
    ) -> tuple[list[StoredComment], str | None]:
        """One page of an article's approved comments and the cursor of the next page."""
        return await self.page_of(
            self.keys.for_site(site).approved(article_id),
            limit=limit,
            cursor=cursor,
            newest_first=newest_first,
        )

    async def page_of(
        self, key: str, *, limit: int, cursor: str | None, newest_first: bool
    ) -> tuple[list[StoredComment], str | None]:
        """One page of the comments of an id-ordered set (approved, thread roots, a thread's
        replies) and the cursor of the next page; a listed id with no comment is skipped."""
        ids, next_cursor = await self.page_ids(
            key, limit=limit, cursor=cursor, newest_first=newest_first
        )
        stored = await self.get_many(ids)
        return [s for s in stored if s is not None], next_cursor

    async def page_ids(
        self, key: str, *, limit: int, cursor: str | None, newest_first: bool
    ) -> tuple[list[str], str | None]:
        after = decode_comment_cursor(cursor) if cursor else None
        if newest_first:
            start = f"({after}" if after else "+"
            ids = await self.redis.zrange(
                key, start, "-", bylex=True, desc=True, offset=0, num=limit + 1
            )
        else:
            start = f"({after}" if after else "-"
            ids = await self.redis.zrange(key, start, "+", bylex=True, offset=0, num=limit + 1)
        page = [as_str(i) for i in ids[:limit]]
        return page, encode_cursor(page[-1]) if len(ids) > limit and page else None

    async def counts(self, article_ids: Sequence[str], site: str = DEFAULT_SITE) -> dict[str, int]:
        """Each article's count on ``site`` (``ZCARD`` of its approved set, in one script call:
        one reply to parse, several times cheaper for the client than a pipeline of one per
        article; plus its archived count), in one round trip."""
        if not article_ids:
            return {}
        keys = self.keys.for_site(site)
        pipe = self.redis.pipeline(transaction=False)
        await self._zcard_many(keys=[keys.approved(aid) for aid in article_ids], client=pipe)
        # Plus the approved comments retention moved out of Redis (sweep.lua), exact.
        pipe.hmget(keys.archived_counts, list(article_ids))
        sizes, archived = await pipe.execute()
        return {
            aid: int(size) + int(moved or 0)
            for aid, size, moved in zip(article_ids, sizes, archived, strict=True)
        }

    async def sweep(self, items: Sequence[tuple[str, str, int]]) -> int:
        """Move decided comments out of Redis (``sweep.lua``, one atomic script each, all in one
        round trip): ``items`` are ``(comment id, article id, updated ms)`` as the record holds
        them; a comment changed since, or not decided, stays. Returns how many left. Each
        comment's approved set, archived count and author are its site's."""
        if not items:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        sweep = script(self.redis, "sweep.lua")
        refs = await self.refs([cid for cid, _, _ in items])
        for (cid, article, updated), ref in zip(items, refs, strict=True):
            if ref is None:
                continue
            keys = self.keys.for_site(ref.site)
            await sweep(
                keys=[
                    keys.comment(cid),
                    keys.approved(article),
                    keys.archived_counts,
                    keys.author_comments(ref.author_id),
                ],
                args=[cid, updated, article],
                client=pipe,
            )
        return sum(int(r) for r in await pipe.execute())
