"""The batch pipeline: stream entries in, stored decisions out.

One call of :meth:`BatchPipeline.process` is every step of deciding a batch, top to bottom:

1. **load** the comments through the store (``Store.load_pending``): a comment already decided
   (a redelivery) or gone is acknowledged and skipped; an unreadable one is left unacked
   (retried, then dead-lettered);
2. **context**: per-article policy, author standing and word lists in one round trip
   (``rules.load_context``);
3. **normalise** the texts (the stored text is untouched);
4. **score** toxicity in the scoring thread while spam is scored on the loop; a batch the model
   fails on is scored entry by entry so one poison text cannot sink its neighbours;
5. **decide** each comment (``decision.decide_comment``: rules, then policy);
6. **write** every decision with ``transition.lua`` and ``XACK`` the batch in the same pipeline.

The worker process (``workers/scoring.py``), the spam evaluation replay and the tests all call
this class; it owns no lifecycle (no signals, heartbeat or reclaim loop).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from moderation.keys import Keys
from moderation.messages import CommentRecord, Status
from moderation.normalize import normalize
from moderation.ops.metrics import BATCH_DURATION, BATCH_SIZE, Recorder
from moderation.pipeline.decision import dead_letter_decision, decide_comment
from moderation.pipeline.policy import Policy
from moderation.pipeline.rules import load_context
from moderation.scoring.base import Scorer
from moderation.settings import Settings
from moderation.spam import SpamInput, SpamScorer
from moderation.store.comments import CommentRef, Store, now_ms
from moderation.store.queue import CommentQueue, Entry

log = logging.getLogger("moderation.pipeline")

#: Extra commands queued on the pipeline that writes a batch's decisions (the worker adds its
#: heartbeat tally there, so the count moves in the same round trip as the decisions).
AfterWrite = Callable[[Pipeline, int], None]


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
    default); off, the two run one after the other.
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
        # One thread: batches are scored one after another (two at once would only fight over
        # the cores or the GPU), but off the loop, so Redis work overlaps with the model.
        self._scoring_thread = ThreadPoolExecutor(1, thread_name_prefix="scoring")

    def close(self) -> None:
        self._scoring_thread.shutdown(wait=False)

    async def process(
        self, entries: Sequence[Entry], *, after_write: AfterWrite | None = None
    ) -> BatchResult:
        """Decide a batch. Entries that fail stay unacked (retried, then dead-lettered)."""
        acks: list[str] = []
        loaded: list[_Loaded] = []
        states = await self.store.load_pending([e.comment_id for e in entries])
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

        calls = []
        if loaded:
            records = [item.record for item in loaded]
            ctx = await load_context(self.redis, self.keys, self.base_policy, records)
            texts = [normalize(r.text) for r in records]
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
                calls.append(
                    self.store.transition_call(
                        CommentRef.of(item.record),
                        [Status.PENDING],
                        decided.decision,
                        actor="auto",
                        risk=decided.risk,
                        reason_code=decided.reason_code,
                    )
                )
                acks.append(item.entry.entry_id)
        decided_count = len(calls)

        def ack(pipe: Pipeline) -> None:
            self.queue.ack(pipe, acks)
            if after_write is not None:
                after_write(pipe, decided_count)

        await self.store.transition_many(calls, then=ack)
        return BatchResult(decided_count, len(acks), len(entries) - len(acks))

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
        await self.store.transition_many(
            calls, then=lambda p: self.queue.ack(p, [e.entry_id for e in entries])
        )
        log.error("dead-lettered %d entries: %s", len(entries), [e.comment_id for e in entries])

    async def score_isolated(self, texts: list[str]) -> list[dict[str, float] | None]:
        """Score a batch in the scoring thread; on failure, score one by one to isolate the
        culprit (``None`` in its place)."""
        loop = asyncio.get_running_loop()

        async def score(batch: list[str]) -> list[dict[str, float]]:
            return await loop.run_in_executor(self._scoring_thread, self.scorer.score, batch)

        try:
            return list(await score(texts))
        except Exception:
            log.exception("batch of %d failed to score; isolating", len(texts))
        out: list[dict[str, float] | None] = []
        for text in texts:
            try:
                out.append((await score([text]))[0])
            except Exception:
                log.exception("a comment failed to score on its own")
                out.append(None)
        return out


__all__ = ["AfterWrite", "BatchPipeline", "BatchResult"]
