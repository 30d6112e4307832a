"""The scoring worker process: the lifecycle around the batch pipeline.

Lifecycle (one process, one asyncio loop), top to bottom in :meth:`ScoringWorker.run`:

1. **start**: ensure the consumer group exists, announce the worker (heartbeat) before it takes
   any entry, start the heartbeat task.
2. **loop** until asked to stop: every ``reclaim_interval_s`` reclaim orphaned entries
   (``XAUTOCLAIM``; past ``max_deliveries`` they are dead-lettered and their comments held);
   read a batch (``XREADGROUP``, block, then, while the previous batch is still being decided,
   linger to fill; up to ``batch_size_backlog``
   entries while the previous read came back full) and hand it to
   :class:`moderation.pipeline.batch.BatchPipeline`, which decides and writes it.
3. **stop** on ``SIGTERM``/``SIGINT``: the batches in hand are finished and acked, the heartbeat
   removed, exit 0.

While the loop runs, the objects that existed when it started (modules, settings, the model:
hundreds of thousands, none of them garbage) are exempt from the cyclic garbage collector
(``gc.freeze``; back under it, ``gc.unfreeze``, when the loop stops): otherwise every full
collection walks them all again, and in a worker those collections cost more per comment than
the policy does. Objects created by the loop are collected as usual, the youngest generation
once :data:`GC_YOUNG_THRESHOLD` containers outlive their batch rather than every 700: a batch
holds large sets and lists of feature indices that each young collection walks again whole
(the thresholds in force before are restored on stop).

With overlap on (``MODERATION_WORKER_OVERLAP``, the default) two batches are in flight: while
the model scores batch *n* in the (single) scoring thread, the loop scores spam, writes the
decisions of batch *n − 1* and reads and loads batch *n + 1*, so the model is not left idle
during Redis round trips and Python work (on a GPU above all; on 2 CPU cores with ONNX Runtime it
took end-to-end throughput from 0.90 to 0.93 of the raw model's).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from moderation.errors import REDIS_UNAVAILABLE
from moderation.keys import Keys
from moderation.ops.heartbeat import PROCESSED, WorkerFacts
from moderation.ops.metrics import Recorder
from moderation.pipeline.batch import BatchPipeline
from moderation.scoring.base import Scorer
from moderation.settings import Settings
from moderation.spam import SpamScorer
from moderation.store.queue import Entry
from moderation.tasks import stop_task

log = logging.getLogger("moderation.worker")

#: Net container allocations between two collections of the youngest generation while the loop
#: runs (Python's default is 700; see the module's docstring).
GC_YOUNG_THRESHOLD = 10_000


class _GcTuning:
    """The collector's settings while at least one worker loop of this process runs (see the
    module's docstring); several loops in one process (tests) share one tuning, undone when
    the last stops."""

    def __init__(self) -> None:
        self.loops = 0
        self.saved: tuple[int, int, int] = gc.get_threshold()

    def enter(self) -> None:
        gc.freeze()
        if self.loops == 0:
            self.saved = gc.get_threshold()
            young, *older = self.saved
            gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), *older)
        self.loops += 1

    def exit(self) -> None:
        self.loops -= 1
        if self.loops == 0:
            gc.set_threshold(*self.saved)
            gc.unfreeze()


_gc_tuning = _GcTuning()


def default_worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class ScoringWorker:
    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        scorer: Scorer,
        *,
        spam: SpamScorer | None = None,
        name: str | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = Keys(settings.key_prefix)
        self.name = name or settings.worker_name or default_worker_name()
        self.scorer = scorer
        self.recorder = Recorder(redis, self.keys)
        self.overlap = settings.worker_overlap == "on"
        self.pipeline = BatchPipeline(
            settings,
            redis,
            scorer,
            consumer=self.name,
            spam=spam,
            recorder=self.recorder,
            overlap=self.overlap,
        )
        self.queue = self.pipeline.queue
        self.processed = 0
        self.dead_lettered = 0
        self.last_batch_size = 0
        self.started_at = time.time()
        self._stop = asyncio.Event()

    # --- lifecycle --------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the loop to exit after the batch in hand (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> None:
        s = self.settings
        await self._until_redis(self.queue.ensure_group)
        # Announce the worker before it takes any entry, so nothing it holds is anonymous.
        await self._until_redis(self.beat)
        heartbeat = asyncio.create_task(self._heartbeat_loop(), name="heartbeat")
        await self.recorder.start()
        _gc_tuning.enter()
        next_reclaim = 0.0
        backoff = 0.1
        info = self.scorer.info
        log.info(
            "worker %s started (model %s %s on %s%s)",
            self.name,
            info.name,
            info.runtime or "",
            info.device,
            ", DEGRADED fallback" if info.degraded else "",
        )
        in_flight: asyncio.Task[None] | None = None
        #: Done once the batch in flight is decided and its write is on its way to Redis.
        sent: asyncio.Future[None] | None = None
        count, backlog = s.batch_size, max(s.batch_size, s.batch_size_backlog)
        try:
            while not self._stop.is_set():
                try:
                    if time.monotonic() >= next_reclaim:
                        # Reclaim only once the batch in hand is written, so it sees only what
                        # is truly unacknowledged.
                        previous, in_flight = in_flight, None
                        if previous is not None:
                            await previous
                        await self.reclaim()
                        next_reclaim = time.monotonic() + s.reclaim_interval_s
                    busy = in_flight is not None and not in_flight.done()
                    linger = s.batch_linger_ms if busy or not s.batch_linger_auto else 0
                    # Auto: fill the batch only while the previous one is being decided; once
                    # it is decided, waiting longer would only add latency. Its write's round
                    # trip is not waited for: this batch's read travels beside it (at
                    # appendfsync always each reply waits for a disk flush, so one round trip
                    # fewer on a comment's way to its decision is worth a flush's time).
                    until = sent if busy and s.batch_linger_auto else None
                    entries = await self.queue.read(count, s.block_ms, linger, until)
                    # A full batch means a backlog: take bigger ones until it is worked off,
                    # doubling per full read (a burst of a few batches' worth is worked off in
                    # medium batches, each comment waiting less for the one in flight; a lasting
                    # backlog reaches the largest within a few reads).
                    count = min(count * 2, backlog) if len(entries) >= count else s.batch_size
                    # The slot is cleared before awaiting: a batch whose writes failed (Redis
                    # gone) is left unacked for redelivery, never awaited twice. Without
                    # overlap the new batch is awaited at once, as the previous one.
                    batch: asyncio.Task[None] | None = None
                    if entries:
                        sent = asyncio.get_running_loop().create_future()
                        batch = asyncio.create_task(self.process(entries, sent))
                        batch.add_done_callback(functools.partial(_resolve, sent))
                    previous, in_flight = (in_flight, batch) if self.overlap else (batch, None)
                    if previous is not None:
                        await previous
                    backoff = 0.1
                except REDIS_UNAVAILABLE as exc:
                    log.warning("redis unavailable (%s); retrying in %.1fs", exc, backoff)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                except Exception:
                    # Anything else is a bug or a poison entry the pipeline could not isolate:
                    # the worker lives, the entries in hand stay unacked (retried, then
                    # dead-lettered) and the loop goes on after a pause.
                    log.exception("batch failed; its entries will be retried")
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            if in_flight is not None:
                # Finish (and acknowledge) the batch in hand before leaving.
                with contextlib.suppress(*REDIS_UNAVAILABLE):
                    await in_flight
            await stop_task(heartbeat)
            _gc_tuning.exit()
            await self.recorder.stop()
            self.pipeline.close()
            await self._unregister()
            log.info("worker %s stopped after %d comments", self.name, self.processed)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    async def _until_redis(self, action: Callable[[], Awaitable[Any]]) -> None:
        delay = 0.1
        while not self._stop.is_set():
            try:
                await action()
                return
            except REDIS_UNAVAILABLE as exc:
                log.warning("waiting for redis (%s)", exc)
                await self._sleep(delay)
                delay = min(delay * 2, 5.0)

    # --- heartbeat --------------------------------------------------------------------------
    def facts(self) -> WorkerFacts:
        info = self.scorer.info
        return WorkerFacts(
            name=self.name,
            host=socket.gethostname(),
            pid=os.getpid(),
            model=info.name,
            model_version=info.version,
            device=info.device,
            runtime=info.runtime or "",
            degraded=info.degraded,
            batch_size=self.settings.batch_size,
            last_batch=self.last_batch_size,
            processed=self.processed,
            dead_lettered=self.dead_lettered,
            started_at=round(self.started_at, 3),
            last_beat=round(time.time(), 3),
        )

    @property
    def _heartbeat_expiry_s(self) -> int:
        """The heartbeat hash outlives three missed beats' worth of staleness, then goes."""
        return max(int(self.settings.heartbeat_ttl_s * 3), 1)

    async def beat(self) -> None:
        now = time.time()
        key = self.keys.worker(self.name)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, mapping=cast(dict[Any, Any], self.facts().to_hash()))
        pipe.expire(key, self._heartbeat_expiry_s)
        pipe.zadd(self.keys.workers, {self.name: now})
        # Forget workers silent for a day so the set stays small.
        pipe.zremrangebyscore(self.keys.workers, "-inf", now - 86_400)
        await pipe.execute()

    async def _heartbeat_loop(self) -> None:
        beat_file = Path(self.settings.heartbeat_file) if self.settings.heartbeat_file else None
        while True:
            try:
                await self.beat()
                if beat_file is not None:
                    # Only after Redis accepted the beat: a worker cut off from Redis must look
                    # unhealthy to its container runtime too.
                    beat_file.touch()
            except REDIS_UNAVAILABLE as exc:
                log.debug("heartbeat failed: %s", exc)
            await asyncio.sleep(self.settings.heartbeat_interval_s)

    async def _unregister(self) -> None:
        with contextlib.suppress(*REDIS_UNAVAILABLE):
            pipe = self.redis.pipeline(transaction=False)
            pipe.delete(self.keys.worker(self.name))
            pipe.zrem(self.keys.workers, self.name)
            await pipe.execute()

    # --- recovery ---------------------------------------------------------------------------
    async def reclaim(self) -> int:
        """Take over entries other (dead) workers left unacked; returns how many were handled."""
        s = self.settings
        claimed, deleted = await self.queue.reclaim(s.reclaim_idle_ms, s.batch_size)
        await self.queue.ack_now(deleted)
        if not claimed:
            return 0
        dead = [e for e in claimed if e.deliveries > s.max_deliveries]
        live = [e for e in claimed if e.deliveries <= s.max_deliveries]
        if dead:
            await self.pipeline.dead_letter(dead)
            self.dead_lettered += len(dead)
        if live:
            log.info("reclaimed %d orphaned entries", len(live))
            await self.process(live)
        return len(claimed)

    # --- the batch --------------------------------------------------------------------------
    async def process(
        self, entries: Sequence[Entry], sent: asyncio.Future[None] | None = None
    ) -> None:
        """Decide a batch through the pipeline, counting it in this worker's heartbeat;
        ``sent`` is resolved once its decisions are made, as their write is sent."""
        key = self.keys.worker(self.name)
        expiry = self._heartbeat_expiry_s

        def tally(pipe: Pipeline, decided: int) -> None:
            # Same round trip as the decisions: an increment, so two batches in flight cannot
            # overwrite each other's count; and the hash may have expired while a slow batch
            # ran, so never leave one without a TTL.
            pipe.hincrby(key, PROCESSED, decided)
            pipe.expire(key, expiry)

        on_write = None if sent is None else functools.partial(_resolve, sent)
        result = await self.pipeline.process(entries, after_write=tally, on_write=on_write)
        self.processed += result.decided
        self.last_batch_size = len(entries)


def _resolve(future: asyncio.Future[None], *_: object) -> None:
    """Resolve a batch's ``sent`` future, once: as its write is sent, or as its task ends
    however it ended (a done callback's task argument is ignored)."""
    if not future.done():
        future.set_result(None)


async def serve_worker(settings: Settings, scorer: Scorer, redis: Redis) -> ScoringWorker:
    """Run a worker until SIGTERM/SIGINT; returns it (for its counters) once stopped."""
    worker = ScoringWorker(settings, redis, scorer)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.request_stop)
    try:
        await worker.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return worker
