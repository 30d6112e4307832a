"""Background tasks stop for sure, even when what they await swallows a cancellation."""

from __future__ import annotations

import asyncio
import time

from moderation.tasks import stop_task
from tests.conftest import Api


async def test_a_task_that_swallows_its_cancellation_is_stopped() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                # What a client library did: turn the cancellation into an error the loop
                # treats as one more failure, and go on.
                swallowed += 1
                if swallowed > 2:
                    raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(stop_task(task), 10)
    assert task.done() and swallowed == 3


async def test_stop_task_gives_up_on_a_task_that_will_not_end() -> None:
    released = asyncio.Event()

    async def obstinate() -> None:
        while not released.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(obstinate())
    await asyncio.sleep(0)
    await stop_task(task, timeout_s=0.3)  # returns (and logs) instead of hanging
    assert not task.done()
    released.set()
    await stop_task(task)
    assert task.done()


async def test_an_api_whose_loop_was_blocked_still_shuts_down(api: Api) -> None:
    """The metrics flusher's flush is due the moment the loop comes back, so teardown
    cancels it mid-flush; that used to hang the app's shutdown for ever."""
    r = await api.client.get("/healthz")
    time.sleep(3)  # noqa: ASYNC251 - blocking the loop is the point
    assert r.status_code == 200
