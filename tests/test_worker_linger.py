"""Automatic linger: an idle worker takes a lone comment at once, and lingers for a fuller batch
only while the previous batch is still being decided (``batch_linger_auto``)."""

from __future__ import annotations

from moderation.settings import Settings
from tests.conftest import Api, comment, running_worker


async def _post_and_wait(api: Api, author: str) -> int:
    reply = await api.post_comment(comment(author=author), wait=1.5)
    assert reply.status_code in (201, 202), reply.text
    return reply.status_code


async def test_an_idle_worker_does_not_linger(api: Api, settings: Settings) -> None:
    # A linger far past the wait: only a worker that skips it decides within the wait.
    tuned = settings.with_overrides(batch_size=32, batch_linger_ms=4000, batch_linger_auto=True)
    async with running_worker(tuned, name="eager"):
        assert await _post_and_wait(api, "u-eager") == 201


async def test_a_fixed_linger_holds_a_lone_comment(api: Api, settings: Settings) -> None:
    tuned = settings.with_overrides(batch_size=32, batch_linger_ms=4000, batch_linger_auto=False)
    async with running_worker(tuned, name="patient"):
        assert await _post_and_wait(api, "u-patient") == 202
