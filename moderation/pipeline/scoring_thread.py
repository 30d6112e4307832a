"""The thread a worker scores in, with a deadline on every call.

A Python thread cannot be stopped. When a call overruns its deadline (a model that hangs on
one text), the thread is *abandoned*: the call's caller gets :class:`ScoringTimeout`, the next
call runs on a fresh thread, and the old one finishes, or blocks forever, on its own. The
threads are daemons, so an abandoned one never holds up the process's exit (a
``ThreadPoolExecutor`` joins its threads at exit, and a worker asked to stop would hang).

Contract: one call at a time per :class:`ScoringThread` (the worker awaits each batch's
scoring before the next); an abandoned call may still be running beside the next one.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

log = logging.getLogger("moderation.pipeline")

T = TypeVar("T")

_Job = tuple[Callable[[], Any], "Future[Any]"] | None


class ScoringTimeout(Exception):
    """A scoring call overran ``scoring_timeout_s``; its thread was abandoned."""


class _Thread:
    def __init__(self, name: str) -> None:
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while (job := self.jobs.get()) is not None:
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the awaiting caller, never lost
                future.set_exception(exc)

    def stop(self) -> None:
        self.jobs.put(None)


class ScoringThread:
    """Runs blocking calls off the loop, one at a time, each within ``timeout_s`` (0 = none)."""

    def __init__(self, timeout_s: float, name: str = "scoring") -> None:
        self.timeout_s = timeout_s
        self.name = name
        #: Threads given up on because a call overran its deadline.
        self.abandoned = 0
        self._thread = _Thread(name)

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` in the scoring thread; :class:`ScoringTimeout` past the deadline."""
        thread = self._thread
        future: Future[T] = Future()
        thread.jobs.put((fn, future))
        waiting = asyncio.wrap_future(future)
        try:
            # shield: a timeout must not cancel the concurrent future (it cannot stop the
            # thread anyway); the thread's eventual result is simply dropped.
            return await asyncio.wait_for(asyncio.shield(waiting), self.timeout_s or None)
        except TimeoutError:
            if thread is self._thread:
                thread.stop()  # it exits after the call it is stuck in, if that ever returns
                self._thread = _Thread(self.name)
                self.abandoned += 1
            log.error(
                "scoring overran %.1fs; thread abandoned (%d so far), a fresh one takes over",
                self.timeout_s,
                self.abandoned,
            )
            raise ScoringTimeout(f"scoring took longer than {self.timeout_s}s") from None

    def close(self) -> None:
        self._thread.stop()


__all__ = ["ScoringThread", "ScoringTimeout"]
