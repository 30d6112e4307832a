"""The batch pipeline: stream entries in, stored decisions out.

One call of :meth:`BatchPipeline.process` is every step of deciding a batch, top to bottom:

1. **load** the comments: those the queue took with their entries (``take.lua``: a busy
   stream's) as they came, the rest through the store (``Store.load_pending``, one round
   trip); a comment already decided (a redelivery) or gone is acknowledged and skipped; an
   unreadable one is left unacked (retried, then dead-lettered);
2. **context**: per-article policy, author standing, word lists and grounds in one round trip
   (:func:`load_context`), sent at once and awaited only once the batch is scored (steps 3
   and 4 run meanwhile: one round trip off the batch's way to its decisions);
3. **normalise** the texts (the stored text is untouched);
4. **score** toxicity in the scoring thread while spam is scored on the loop; a batch the model
   fails on, or that overruns ``scoring_timeout_s`` (a model that hangs), is scored entry by
   entry so one poison text cannot sink its neighbours;
5. **decide** each comment (``policy.decide_comment``: rules, then thresholds);
6. **write** every decision with one ``transition_batch.lua`` call (the effects of
   ``transition.lua`` per comment, shared keys written once), which also ``XACK``s the
   entries it wrote (the rest of the batch's acknowledgements and the worker's tally travel in
   the same round trip); a batch the script refuses (a key of the wrong type) is written
   comment by comment with ``transition.lua``, so one poison entry cannot sink its neighbours.

The worker process (``workers/scoring.py``), the spam evaluation replay and the tests all call
this class; it owns no lifecycle (no signals, heartbeat or reclaim loop).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from moderation.errors import REDIS_UNAVAILABLE
from moderation.keys import Keys
from moderation.messages import CommentRecord, Status
from moderation.normalize import normalize_many
from moderation.ops.metrics import BATCH_DURATION, BATCH_SIZE, Recorder
from moderation.pipeline.policy import (
    AUTHOR_FIELDS,
    AuthorFacts,
    BatchContext,
    Policy,
    dead_letter_decision,
    decide_comment,
)
from moderation.pipeline.scoring_thread import ScoringThread
from moderation.scoring.base import Scorer
from moderation.settings import Settings
from moderation.spam import SpamInput, SpamScorer
from moderation.statements import by_id
from moderation.store.codec import execute_verified
from moderation.store.comment_reads import joined_rows, pending_of, queue_hmget_many
from moderation.store.comments import Store, now_ms
from moderation.store.grounds import decode as decode_grounds
from moderation.store.queue import CommentQueue, Entry
from moderation.store.transitions import AutoDecision, CommentRef
from moderation.store.wordlists import matcher_cache
from moderation.tasks import stop_task

log = logging.getLogger("moderation.pipeline")

#: Extra commands queued on the pipeline that writes a batch's decisions (the worker adds its
#: heartbeat tally there, so the count moves in the same round trip as the decisions).
AfterWrite = Callable[[Pipeline, int], None]
#: Called once a batch is decided, just before its writes go to Redis (the worker ends the
#: next batch's linger there, so that batch is read while this one's write is in flight).
OnWrite = Callable[[], None]


async def load_context(
    redis: Redis, keys: Keys, base: Policy, records: Sequence[CommentRecord]
) -> BatchContext:
    """Each site's overrides, per-article overrides, author facts (all per site: a site's
    articles and authors are its own) and the word lists' version, in one round trip (a
    pipeline whose last call, ``hmget_many.lua``, reads every author in one reply instead of
    one per author); the word lists themselves are reloaded only when their version
    changes."""
    sites = sorted({r.site for r in records})
    articles = sorted({(r.site, r.article_id) for r in records})
    authors = sorted({(r.site, r.author.id) for r in records})
    pipe = redis.pipeline(transaction=False)
    for site_id in sites:
        pipe.hgetall(keys.for_site(site_id).policy)
    for site_id, aid in articles:
        pipe.hgetall(keys.for_site(site_id).article_settings(aid))
    pipe.get(keys.words_version)
    pipe.get(keys.grounds)
    author_keys = [keys.for_site(site_id).author(a) for site_id, a in authors]
    calls = await queue_hmget_many(redis, pipe, author_keys, AUTHOR_FIELDS)
    # A server that lost its scripts fails the batch (NOSCRIPT), which is then decided entry
    # by entry, and the next pipeline loads them again (``execute_verified``).
    replies = await execute_verified(pipe)
    facts = joined_rows(replies[len(replies) - calls :])
    del replies[len(replies) - calls :]
    grounds_raw = replies.pop()
    site_policy = {
        site_id: base.overlay(raw, "site")
        for site_id, raw in zip(sites, replies[: len(sites)], strict=True)
    }
    ctx = BatchContext()
    for (site_id, aid), raw in zip(articles, replies[len(sites) : -1], strict=True):
        ctx.policies[site_id, aid] = site_policy[site_id].overlay(raw, "article")
    for author, row in zip(authors, facts, strict=True):
        ctx.authors[author] = AuthorFacts.from_row(row)
    ctx.words = await matcher_cache.matcher(redis, keys, replies[-1])
    ctx.grounds = by_id(decode_grounds(grounds_raw))
    return ctx


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one batch did: comments decided, entries acknowledged, entries left for retry."""

    decided: int
    acked: int
    retry: int


@dataclass(slots=True)
class _Loaded:
    entry: Entry
    record: CommentRecord


class BatchPipeline:
    """Decides batches of stream entries for one consumer of the scoring group.

    ``overlap``: score spam on the loop while the model runs in its thread (the worker's
    default); off, the two run one after the other. ``batch_writes`` off writes every decision
    with its own ``transition.lua`` call (the reference path the tests compare against).
    """

    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        scorer: Scorer,
        *,
        consumer: str,
        spam: SpamScorer | None = None,
        recorder: Recorder | None = None,
        overlap: bool = True,
        batch_writes: bool = True,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = Keys(settings.key_prefix)
        self.store = Store(redis, self.keys)
        self.queue = CommentQueue(redis, self.keys, consumer)
        self.scorer = scorer
        self.spam = spam or SpamScorer(redis, self.keys, settings)
        self.base_policy = Policy.from_settings(settings)
        self.recorder = recorder
        self.overlap = overlap
        self.batch_writes = batch_writes
        # One thread: batches are scored one after another (two at once would only fight over
        # the cores or the GPU), but off the loop, so Redis work overlaps with the model. Every
        # call has a deadline: a scorer that hangs costs a thread, never the worker.
        self.scoring_thread = ScoringThread(settings.scoring_timeout_s)

    def close(self) -> None:
        self.scoring_thread.close()

    async def process(
        self,
        entries: Sequence[Entry],
        *,
        after_write: AfterWrite | None = None,
        on_write: OnWrite | None = None,
    ) -> BatchResult:
        """Decide a batch. Entries that fail stay unacked (retried, then dead-lettered).

        A failure of the batch as a whole that is not Redis being unavailable (a poison comment
        that breaks a stage for everyone) is isolated: each entry is then decided on its own, so
        the culprit stays unacked and its neighbours are decided.
        """
        try:
            return await self._decide(entries, after_write, on_write)
        except REDIS_UNAVAILABLE:
            raise
        except Exception:
            if len(entries) == 1:
                log.exception("entry %s failed; left for retry", entries[0].entry_id)
                return BatchResult(0, 0, 1)
            log.exception("batch of %d failed; deciding its entries one by one", len(entries))
        decided = acked = retry = 0
        for entry in entries:
            one = await self.process([entry], after_write=after_write)
            decided, acked, retry = decided + one.decided, acked + one.acked, retry + one.retry
        return BatchResult(decided, acked, retry)

    async def _decide(
        self, entries: Sequence[Entry], after_write: AfterWrite | None, on_write: OnWrite | None
    ) -> BatchResult:
        acks: list[str] = []
        loaded: list[_Loaded] = []
        # Entries taken with their comments (``take.lua``) need no read here; only the rest
        # (a blocking read's, reclaimed ones) cost a round trip.
        unread = [e.comment_id for e in entries if e.row is None]
        read = iter(await self.store.load_pending(unread) if unread else ())
        states = [
            next(read) if e.row is None else pending_of(e.comment_id, *e.row) for e in entries
        ]
        for entry, state in zip(entries, states, strict=True):
            if state.status is None:
                log.warning(
                    "stream entry %s names unknown comment %r", entry.entry_id, entry.comment_id
                )
                acks.append(entry.entry_id)
            elif state.status is not Status.PENDING:
                acks.append(entry.entry_id)  # decided already: a redelivery, nothing to do
            elif state.record is None:
                log.error(
                    "comment %s is unreadable (%s); leaving it for retry",
                    entry.comment_id,
                    state.error,
                )
            else:
                loaded.append(_Loaded(entry, state.record))

        writes: list[AutoDecision] = []
        decided_entries: list[Entry] = []
        if loaded:
            records = [item.record for item in loaded]
            # Policies, word lists and author facts are needed only to decide: their round
            # trip runs while the texts are normalised and scored, not before (one round trip
            # off every batch's way to its decisions).
            context = asyncio.create_task(
                load_context(self.redis, self.keys, self.base_policy, records)
            )
            try:
                texts = normalize_many([r.text for r in records])
                spam_inputs = [SpamInput(r, t) for r, t in zip(records, texts, strict=True)]
                started = time.perf_counter()
                if self.overlap:
                    scoring = asyncio.create_task(self.score_isolated(texts))
                    try:
                        spam = await self.spam.score(spam_inputs)
                    finally:
                        toxicity = await scoring
                else:
                    toxicity = await self.score_isolated(texts)
                    spam = await self.spam.score(spam_inputs)
            except BaseException:
                await stop_task(context)
                raise
            ctx = await context
            if self.recorder is not None:
                model = (self.scorer.info.name,)
                self.recorder.observe(BATCH_DURATION, model, time.perf_counter() - started)
                self.recorder.observe(BATCH_SIZE, model, len(records))
            now = now_ms()
            for item, scores, spam_result in zip(loaded, toxicity, spam, strict=True):
                if scores is None:
                    continue  # this text made the scorer fail: not acked, retried later
                decided = decide_comment(
                    item.record, scores, spam_result, ctx, self.scorer.info, now
                )
                writes.append(
                    AutoDecision(
                        CommentRef.of(item.record),
                        decided.decision,
                        decided.risk,
                        decided.reason_code,
                        item.entry.entry_id,
                    )
                )
                decided_entries.append(item.entry)
        if on_write is not None:
            on_write()
        written = await self._write(writes, decided_entries, acks, after_write)
        if written is None:  # written, acknowledged and tallied in one round trip
            acked = len(acks) + len(writes)
            return BatchResult(len(writes), acked, len(entries) - acked)
        pipe = self.redis.pipeline(transaction=False)
        self.queue.ack(pipe, [*acks, *written])
        if after_write is not None:
            # The failed batch call's pipeline tallied every write already: correct it.
            after_write(pipe, len(written) - (len(writes) if self.batch_writes else 0))
        await pipe.execute()
        acked = len(acks) + len(written)
        return BatchResult(len(written), acked, len(entries) - acked)

    async def _write(
        self,
        writes: Sequence[AutoDecision],
        entries: Sequence[Entry],
        acks: Sequence[str],
        after_write: AfterWrite | None,
    ) -> list[str] | None:
        """Apply the transitions. ``None`` when the batch script wrote them all: it acknowledged
        their entries in the same calls, and ``acks`` (entries needing no write) and the
        ``after_write`` tally travelled in its round trip. Otherwise (the script refused, or
        batch writes are off) the entry ids whose transition ran one by one (applied, or stale:
        decided meanwhile), for the caller to acknowledge; one the script refused stays unacked:
        it is retried, then dead-lettered."""
        if self.batch_writes and writes:

            def also(pipe: Pipeline) -> None:
                self.queue.ack(pipe, acks)
                if after_write is not None:
                    after_write(pipe, len(writes))

            try:
                await self.store.transition_batch(writes, also=also)
                return None
            except ResponseError as exc:
                log.warning("batch write refused (%s); writing its comments one by one", exc)
        if not writes:
            return []
        calls = [
            self.store.transition_call(
                w.ref,
                [Status.PENDING],
                w.decision,
                actor="auto",
                risk=w.risk,
                reason_code=w.reason_code,
            )
            for w in writes
        ]
        done: list[str] = []
        results = await self.store.transition_each(calls)
        for entry, result in zip(entries, results, strict=True):
            if isinstance(result, Exception):
                log.error("comment %s could not be written (%s)", entry.comment_id, result)
            else:
                done.append(entry.entry_id)
        return done

    async def dead_letter(self, entries: Sequence[Entry]) -> None:
        """Move entries to the dead-letter stream and hold their comments (never approve)."""
        refs = await self.store.refs([e.comment_id for e in entries])
        now = now_ms()
        calls = []
        out = self.redis.pipeline(transaction=False)
        for entry, ref in zip(entries, refs, strict=True):
            decided = dead_letter_decision(entry.deliveries, self.scorer.info, now)
            self.queue.dead_letter(out, entry, decided.decision.reasons[0].message)
            if ref is None:
                continue
            calls.append(
                self.store.transition_call(
                    ref,
                    [Status.PENDING],
                    decided.decision,
                    actor="system",
                    risk=decided.risk,
                    reason_code=decided.reason_code,
                )
            )
        await out.execute()
        # Acknowledged even where the hold could not be written: the entry is in the
        # dead-letter stream, and retrying it forever would help nothing.
        for result in await self.store.transition_each(calls):
            if isinstance(result, Exception):
                log.error("a dead-lettered comment could not be held: %s", result)
        await self.queue.ack_now([e.entry_id for e in entries])
        log.error("dead-lettered %d entries: %s", len(entries), [e.comment_id for e in entries])

    async def score_isolated(self, texts: list[str]) -> list[dict[str, float] | None]:
        """Score a batch in the scoring thread (on the loop, for a scorer marked ``inline``);
        on failure or past ``scoring_timeout_s``, score one by one to isolate the culprit
        (``None`` in its place: its entry stays unacked, is retried, then dead-lettered and
        its comment held)."""

        inline = bool(getattr(self.scorer, "inline", False))

        async def score(batch: list[str]) -> list[dict[str, float]]:
            if inline:
                # A cheap scorer runs on the loop: a thread hop would cost more than the call,
                # and its thread holding the GIL stalls the loop's Redis work (up to the
                # interpreter's 5 ms switch interval) while it scores.
                return self.scorer.score(batch)
            return await self.scoring_thread.run(lambda: self.scorer.score(batch))

        try:
            return list(await score(texts))
        except Exception:
            log.exception("batch of %d failed to score; isolating", len(texts))
            if len(texts) == 1:
                return [None]  # alone already: scoring it again would only fail again
        out: list[dict[str, float] | None] = []
        for text in texts:
            try:
                out.append((await score([text]))[0])
            except Exception:
                log.exception("a comment failed to score on its own")
                out.append(None)
        return out


__all__ = ["AfterWrite", "BatchPipeline", "BatchResult"]
