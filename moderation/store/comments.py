"""The comment store: accepting, reading, listing and counting comments in Redis.

Every write that changes a comment's status goes through :meth:`Store.transition`, i.e. through
``lua/transition.lua``; accepting a comment goes through ``lua/submit.lua``. Both are single
atomic scripts, so a crash between steps cannot leave the store half-written.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from moderation.errors import BadRequest, IdempotencyConflict, ValidationFailed
from moderation.ids import id_time_ms, is_comment_id
from moderation.keys import DEFAULT_SITE, SCORING_GROUP, CommentField, Keys
from moderation.messages import CommentRecord, Decision, Status, StoredComment
from moderation.store import decisions, idempotency
from moderation.store.admission import (
    MINUTE_TTL_S,
    Admission,
    Refusal,
    RefusalKind,
    lua_table,
    submit_constants,
)
from moderation.store.batching import MergedScriptBatcher
from moderation.store.codec import (
    as_str,
    decode_cursor,
    encode_cursor,
    execute_verified,
    lua_source,
    script,
)
from moderation.store.pseudonyms import Pseudonyms
from moderation.store.records import decode_record, encode_record

#: Length bound of the events stream in ``transition.lua``: 0, none. The archiver trims the
#: stream, only past what every consumer group acknowledged (``store.trim``).
EVENTS_MAXLEN = 0
#: Distinct submit configurations kept loaded per store (a process uses one).
_MAX_SUBMITTERS = 16

#: Admission that checks nothing (imports, benchmarks, tests of the store alone).
NO_CHECKS = Admission()


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class CommentRef:
    """What a transition needs to know of a comment to find every key it touches."""

    id: str
    article_id: str
    author_id: str
    #: The thread's top-level comment ("" for a top-level comment itself).
    root_id: str = ""
    #: The revision the caller read (``None``: any): a transition applies only while the
    #: comment still holds it, so a decision is never written over a newer text.
    revision: int | None = None
    #: The comment's site: its article, author and held counts are that site's keys.
    site: str = DEFAULT_SITE
    #: When the comment was created (epoch ms; 0: the time its id encodes): the held queue's
    #: order and the decision latency. The hash does not repeat it (nor the article): the
    #: scripts take both from here, read from the submission.
    created_at: int = 0

    @classmethod
    def of(cls, record: CommentRecord) -> CommentRef:
        root = record.root_id or record.parent_id or ""
        return cls(
            record.id, record.article_id, record.author.id, root, record.revision, record.site,
            record.created_at,
        )  # fmt: skip

    @property
    def created(self) -> int:
        """``created_at``, else the creation time the comment id encodes."""
        if self.created_at:
            return self.created_at
        try:
            return id_time_ms(self.id)
        except ValueError:
            return 0


@dataclass(frozen=True, slots=True)
class AutoDecision:
    """One automatic decision of a batch written by :meth:`Store.transition_batch`."""

    ref: CommentRef
    decision: Decision
    risk: float = 0.0
    reason_code: str = ""
    #: The scoring group's stream entry to acknowledge in the same script call, once the
    #: transition ran (applied or stale); "" for none.
    entry_id: str = ""


@dataclass(frozen=True, slots=True)
class TransitionResult:
    """Outcome of one transition: ``applied`` or not, and the status before the call."""

    applied: bool
    previous: Status | None  # None: the comment does not exist


@dataclass(frozen=True, slots=True)
class AuditAppend:
    """An audit entry that ``transition.lua`` appends only if the transition applies.

    ``doc`` is the encoded entry; the script adds the ``from``/``to`` statuses it observed, and
    pushes the new stream id onto each of ``indexes`` (lists capped at ``index_cap``).
    """

    stream: str
    doc: bytes
    indexes: tuple[str, ...]
    maxlen: int
    index_cap: int


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


#: Keys of one comment in a ``submit.lua`` call (its ``KEYS``, comment after comment).
SUBMIT_KEYS = 13


@dataclass(frozen=True, slots=True)
class SubmitResult:
    comment_id: str  # "" when refused
    created: bool  # False: an idempotent replay of an earlier request, or refused
    refusal: Refusal | None = None  # set when an admission check refused the comment


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


class Store:
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
            [record.id, encode_record(record), record.created_at, body, field],
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

    # --- transitions ------------------------------------------------------------------------
    def transition_call(
        self,
        ref: CommentRef,
        expected: Iterable[Status],
        decision: Decision,
        *,
        actor: str,
        risk: float = 0.0,
        reason_code: str = "",
        audit: AuditAppend | None = None,
        replace: CommentRecord | None = None,
    ) -> tuple[list[str], list[Any]]:
        """Keys and args of one ``transition.lua`` call (for batching in a pipeline).

        ``replace``: a new submission document stored in the same step (an edit's new revision,
        a deletion's erased document); its ``revision`` becomes the comment's.
        """
        keys = self.keys.for_site(ref.site)
        now = decision.decided_at
        comment_id = ref.id
        call: tuple[list[str], list[Any]] = (
            [
                keys.comment(comment_id),
                keys.approved(ref.article_id),
                keys.held,
                keys.held_risk,
                keys.pending,
                keys.events,
                keys.counters,
                keys.minute_counters(now // 60_000),
                keys.auto_latency,
                keys.article_held(ref.article_id),
                keys.author(ref.author_id),
                keys.human_latency,
                keys.thread_roots(ref.article_id),
                keys.thread_replies(ref.article_id, ref.root_id or ref.id),
                keys.held_counts,
                keys.stream,
                keys.held_articles,
            ],
            [
                comment_id,
                ",".join(s.value for s in expected),
                decision.status.value,
                self.decisions.encode(decision),
                now,
                risk,
                keys.decided_channel,
                actor,
                EVENTS_MAXLEN,
                MINUTE_TTL_S,
                reason_code,
            ],
        )
        if audit is not None:
            first = len(call[0]) + 1  # Lua counts from 1
            call[0].extend([audit.stream, *audit.indexes])
            call[1].extend([audit.doc, audit.maxlen, audit.index_cap, first])
        else:
            call[1].extend(["", 0, 0, 0])
        call[1].append(ref.root_id)
        call[1].extend(
            [
                encode_record(replace) if replace is not None else "",
                "" if ref.revision is None else ref.revision,
                replace.revision if replace is not None else "",
                ref.site,
                ref.article_id,
                ref.created,
            ]
        )
        return call

    async def transition(
        self,
        ref: CommentRef,
        expected: Iterable[Status],
        decision: Decision,
        *,
        actor: str,
        risk: float = 0.0,
        reason_code: str = "",
        audit: AuditAppend | None = None,
        replace: CommentRecord | None = None,
    ) -> TransitionResult:
        keys, args = self.transition_call(
            ref, expected, decision, actor=actor, risk=risk, reason_code=reason_code,
            audit=audit, replace=replace,
        )  # fmt: skip
        await self.decisions.save(self.redis, self.keys)
        return parse_transition(await self._transition(keys=keys, args=args))

    async def transition_many(
        self, calls: Sequence[tuple[list[str], list[Any]]]
    ) -> list[TransitionResult]:
        """Run several transitions in one round trip (each one atomic on its own); a refused
        script raises its error."""
        results = await self.transition_each(calls)
        for result in results:
            if isinstance(result, ResponseError):
                raise result
        return cast(list[TransitionResult], results)

    async def queue_transition(self, pipe: Any, call: tuple[list[str], list[Any]]) -> None:
        """Queue one ``transition.lua`` call on a caller's MULTI (a redis-py transaction
        pipeline of this store's client), so the transition commits with the caller's other
        writes or not at all; its reply is in ``pipe.execute()``'s (``parse_transition``)."""
        keys, args = call
        # The decision's shared facts first, on this store's own connection: they are
        # immutable, so writing them ahead of a MULTI that is then discarded harms nothing.
        await self.decisions.save(self.redis, self.keys)
        await self._transition(keys=keys, args=args, client=pipe)

    async def transition_each(
        self, calls: Sequence[tuple[list[str], list[Any]]]
    ) -> list[TransitionResult | ResponseError]:
        """Run several transitions in one round trip and report each one's outcome: a script
        that refused (a key of the wrong type, caught before its first write) is returned as its
        error, so the caller can leave that one comment for retry and go on with the others."""
        if not calls:
            return []
        await self.decisions.save(self.redis, self.keys)
        pipe = self.redis.pipeline(transaction=False)
        for keys, args in calls:
            await self._transition(keys=keys, args=args, client=pipe)
        replies = await pipe.execute(raise_on_error=False)
        out: list[TransitionResult | ResponseError] = []
        for reply in replies:
            if isinstance(reply, ResponseError):
                out.append(reply)
            elif isinstance(reply, Exception):
                raise reply  # the connection failed: nothing to isolate
            else:
                out.append(parse_transition(reply))
        return out

    async def transition_batch(
        self,
        items: Sequence[AutoDecision],
        *,
        actor: str = "auto",
        also: Callable[[Pipeline], None] | None = None,
    ) -> list[TransitionResult]:
        """Write a batch of automatic decisions out of ``pending`` with ``transition_batch.lua``
        (one script call per minute of ``decided_at``, all in one round trip): the effects of
        :meth:`transition` for each, at a fraction of the Redis work. The script checks every
        key first and refuses the whole call if one is of the wrong type (``ResponseError``
        raised, nothing written): the caller then falls back to :meth:`transition_each`.

        Each item's ``entry_id`` is acknowledged (``SCORING_GROUP`` on ``Keys.stream``) by the
        call that writes it, so a refused call leaves its entries pending. ``also`` queues more
        commands on the same pipeline, after the calls: they run even when a call is refused
        (a worker's heartbeat tally, acknowledgements that need no write)."""
        if not items:
            return []
        # One call per minute and site (held counts are the site's); answers in ``items`` order.
        order = sorted(
            range(len(items)),
            key=lambda i: (items[i].decision.decided_at // 60_000, items[i].ref.site),
        )
        ordered = [items[i] for i in order]
        pipe = self.redis.pipeline(transaction=False)
        start = 0
        while start < len(ordered):
            minute = ordered[start].decision.decided_at // 60_000
            keys = self.keys.for_site(ordered[start].ref.site)
            end = start
            while (
                end < len(ordered)
                and ordered[end].decision.decided_at // 60_000 == minute
                and ordered[end].ref.site == keys.site
            ):
                end += 1
            call_keys = [
                keys.held,
                keys.held_risk,
                keys.pending,
                keys.events,
                keys.counters,
                keys.minute_counters(minute),
                keys.auto_latency,
                keys.held_counts,
                keys.held_articles,
                self.keys.stream,
            ]
            acking = any(item.entry_id for item in ordered[start:end])
            args: list[Any] = [
                keys.decided_channel, EVENTS_MAXLEN, MINUTE_TTL_S, actor, keys.site,
                SCORING_GROUP if acking else "",
            ]  # fmt: skip
            for item in ordered[start:end]:
                ref, decision = item.ref, item.decision
                call_keys += [
                    keys.comment(ref.id),
                    keys.approved(ref.article_id),
                    keys.article_held(ref.article_id),
                    keys.author(ref.author_id),
                    keys.thread_roots(ref.article_id),
                    keys.thread_replies(ref.article_id, ref.root_id or ref.id),
                ]
                args += [
                    ref.id,
                    decision.status.value,
                    self.decisions.encode(decision),
                    decision.decided_at,
                    item.risk,
                    item.reason_code,
                    ref.root_id or "",
                    "" if ref.revision is None else ref.revision,
                    ref.article_id,
                    ref.created,
                    item.entry_id,
                ]
            await self._transition_batch(keys=call_keys, args=args, client=pipe)
            start = end
        calls = len(pipe.command_stack)
        if also is not None:
            also(pipe)
        await self.decisions.save(self.redis, self.keys)
        results: list[TransitionResult] = []
        for reply in (await execute_verified(pipe))[:calls]:
            results.extend(parse_transition(r) for r in reply)
        out: list[TransitionResult] = [results[0]] * len(items)
        for position, index in enumerate(order):
            out[index] = results[position]
        return out

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


def parse_transition(reply: Any) -> TransitionResult:
    kind, status = as_str(reply[0]), as_str(reply[1])
    if kind == "missing":
        return TransitionResult(False, None)
    return TransitionResult(kind == "ok", Status(status))


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
