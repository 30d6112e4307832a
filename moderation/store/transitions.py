"""Status transitions of comments: the refs and results of ``lua/transition.lua`` and
``lua/transition_batch.lua``, and the :class:`Transitions` half of the store that calls them.

Every write that changes a comment's status goes through one of the two scripts, each a single
atomic step, so a crash between steps cannot leave the store half-written. The comment hash's
fields, the per-article sets, the held queues and their counters change only there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from moderation.ids import id_time_ms
from moderation.keys import DEFAULT_SITE, SCORING_GROUP, Keys
from moderation.messages import CommentRecord, Decision, Status
from moderation.store import decisions
from moderation.store.admission import MINUTE_TTL_S
from moderation.store.codec import as_str, execute_verified
from moderation.store.records import encode_record

#: Length bound of the events stream in ``transition.lua``: 0, none. The archiver trims the
#: stream, only past what every consumer group acknowledged (``store.trim``).
EVENTS_MAXLEN = 0


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


class Transitions:
    """The store's transitions (:class:`~moderation.store.comments.Store` is one): what they
    need of it is its client, key names, decision encoder and the two scripts."""

    redis: Redis
    keys: Keys
    decisions: decisions.Encoder
    _transition: AsyncScript
    _transition_batch: AsyncScript

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


def parse_transition(reply: Any) -> TransitionResult:
    kind, status = as_str(reply[0]), as_str(reply[1])
    if kind == "missing":
        return TransitionResult(False, None)
    return TransitionResult(kind == "ok", Status(status))
