"""Stopping a background task for sure.

A cancellation can be swallowed by what the task awaits: a Redis client that turns the
``CancelledError`` of an interrupted read into a connection error, which the task's loop then
catches as one more failure and carries on (seen with the metrics flusher when its flush was
under way at the moment of shutdown: the process, or a test's teardown, then waited for ever).
:func:`stop_task` cancels again until the task ends, within a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

log = logging.getLogger("moderation.tasks")

#: Seconds between two cancellations of a task that did not end.
_RETRY_S = 0.5


async def stop_task(task: asyncio.Task[Any] | None, *, timeout_s: float = 10.0) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling again every half second if a
    cancellation was swallowed; give up (logged) after ``timeout_s``. Its own exceptions are
    not raised here: it was being stopped."""
    if task is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not task.done():
        task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.warning("task %s did not stop within %.0f s", task.get_name(), timeout_s)
            return
        await asyncio.wait({task}, timeout=min(_RETRY_S, remaining))
    if not task.cancelled():
        with contextlib.suppress(Exception):
            task.result()  # retrieved, so asyncio does not log it as never retrieved
