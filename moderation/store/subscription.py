"""One pub/sub subscription per process, shared by everything that listens, and surviving
Redis restarts.

A :class:`Subscription` holds one connection subscribed to every channel registered with
:meth:`Subscription.add` (the decision waiters' channel, the API key revocations), hands each
message to its channel's handler, and when the connection drops, backs off (50 ms doubling to
2 s) and subscribes again. Pub/sub delivers nothing that was published while nobody listened,
so every ``on_gap`` runs whenever messages may have been missed (the subscription was lost, or
has just been made): each listener turns that into "re-read what you cached" (the waiters
re-read statuses, the key cache forgets its entries). :attr:`Subscription.connected` is set
exactly while the subscription stands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("moderation.store.subscription")


#: The longest a stop waits for the listener and the connection to close.
_CLOSE_TIMEOUT_S = 2.0


class Subscription:
    """Channels and their handlers on one connection of ``redis`` (a client for
    subscriptions, whose reads block; :meth:`stop` closes it)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._handlers: dict[str, Callable[[bytes], None]] = {}
        self._gaps: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def add(
        self, channel: str, on_message: Callable[[bytes], None], on_gap: Callable[[], None]
    ) -> None:
        """Listen on ``channel``; call before :meth:`start`."""
        self._handlers[channel] = on_message
        self._gaps.append(on_gap)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="subscription")

    async def stop(self) -> None:
        """Cancel the listener and close the connection, each within a bound: closing a pub/sub
        connection whose read was cancelled can wait on that connection for ever, and a
        process shutting down (or a test ending) must not wait with it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), _CLOSE_TIMEOUT_S)
            self._task = None
        self.connected.clear()
        self._gap()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._redis.aclose(), _CLOSE_TIMEOUT_S)

    def _gap(self) -> None:
        for on_gap in self._gaps:
            on_gap()

    async def _listen(self) -> None:
        delay = 0.05
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*self._handlers)
                self.connected.set()
                delay = 0.05
                self._gap()  # anything published while we were away was missed
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is not None:
                        channel = message["channel"]
                        name = channel.decode() if isinstance(channel, bytes) else channel
                        handler = self._handlers.get(name)
                        if handler is not None:
                            handler(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.connected.is_set():
                    log.warning("pub/sub subscription lost: %s", exc)
                self.connected.clear()
                self._gap()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), _CLOSE_TIMEOUT_S)
