"""Redis clients configured for each role: fast-failing for the API, patient for workers.

Each client names its connections (``CLIENT LIST`` shows ``moderation-api``,
``moderation-api-listener``, ``moderation-worker``), so operators can tell them apart.
"""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

# "Redis is unavailable" is defined once, in moderation.errors (the error mapping needs it and
# sits below the store); re-exported here for callers that import it with the clients.
from moderation.errors import REDIS_UNAVAILABLE
from moderation.settings import Settings


class PoolExhausted(RedisConnectionError):
    """No pooled connection came free in time: the API is busy, Redis not necessarily down."""


class CoolingDown(RedisConnectionError):
    """Refused without trying: Redis failed moments ago (see :class:`FailFastPool`)."""


class FailFastPool(BlockingConnectionPool):
    """A bounded, blocking pool that stops trying for a moment once Redis has failed.

    When a connection of this pool fails to connect, or a reply does not come (a timeout or a
    broken socket), every call fails at once for ``cool_down_s``, including calls that were
    queued for a connection meanwhile: behind a hung Redis each connection is stuck for the
    socket timeout, and without this the requests queued behind them would each wait for
    their own timeout in turn (hundreds of requests: several seconds). After the pause the next
    call tries Redis again, so recovery needs nothing. A request cancelled mid-command (a
    client that went away) is no failure and pauses nothing.
    """

    def __init__(self, *args: Any, cool_down_s: float = 0.5, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cool_down_s = cool_down_s
        self._down_until = 0.0
        self.connection_class = _watched(self.connection_class, self)

    def mark_down(self) -> None:
        self._down_until = time.monotonic() + self.cool_down_s

    @property
    def marked_down(self) -> bool:
        return time.monotonic() < self._down_until

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        self._refuse_if_down()
        try:
            connection = await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except RedisConnectionError as exc:
            if "No connection available" in str(exc):
                raise PoolExhausted(str(exc)) from exc
            raise
        if self.marked_down:  # Redis failed while this call queued for the connection
            await self.release(connection)
            self._refuse_if_down()
        return connection

    def _refuse_if_down(self) -> None:
        if self.marked_down:
            raise CoolingDown("Redis failed moments ago; not retrying yet")


def _watched(base: type[Any], pool: FailFastPool) -> type[Any]:
    """``base`` (the pool's connection class) reporting connect and read failures to ``pool``
    the moment they happen, before the connection goes back to a queued request."""

    class Watched(base):  # type: ignore[misc]
        async def connect(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return await super().connect(*args, **kwargs)
            except REDIS_UNAVAILABLE:
                pool.mark_down()
                raise

        async def read_response(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return await super().read_response(*args, **kwargs)
            except REDIS_UNAVAILABLE:
                pool.mark_down()
                raise

    Watched.__name__ = f"Watched{base.__name__}"
    return Watched


def api_client(settings: Settings) -> Redis:
    """A client whose every call fails within ``redis_timeout_s`` when Redis is gone.

    No retries: the API turns a failure into a 503 with ``Retry-After`` at once, and the
    site retries; a retry inside the request would only make it hang longer.

    The pool is bounded and *blocking*: a burst of requests queues for one of
    ``redis_connections`` connections (each Redis call takes well under a millisecond) instead
    of opening hundreds of sockets at once, which on a busy event loop would itself time out.
    """
    pool = FailFastPool.from_url(
        settings.resolved_redis_url(),
        cool_down_s=settings.redis_timeout_s,
        max_connections=settings.redis_connections,
        timeout=settings.redis_pool_timeout_s,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
        client_name="moderation-api",
    )
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes it too


def listener_client(settings: Settings) -> Redis:
    """A client for pub/sub subscriptions: reads block for as long as nothing is published."""
    return Redis.from_url(
        settings.resolved_redis_url(),
        socket_timeout=None,
        socket_connect_timeout=settings.redis_timeout_s,
        retry=Retry(NoBackoff(), 0),
        client_name="moderation-api-listener",
    )


def worker_client(settings: Settings) -> Redis:
    """A client for workers: reads may block ``block_ms``; connection errors surface to the
    worker loop, which backs off and tries again."""
    return Redis.from_url(
        settings.resolved_redis_url(),
        socket_timeout=settings.block_ms / 1000 + 10,
        socket_connect_timeout=2.0,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
        client_name="moderation-worker",
    )
