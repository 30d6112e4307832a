"""Redis clients configured for each role: fast-failing for the API, patient for workers.

Each client names its connections (``CLIENT LIST`` shows ``moderation-api``,
``moderation-api-listener``, ``moderation-worker``), so operators can tell them apart, and packs
its commands with hiredis in one C call (:func:`fast_packing`).
"""

from __future__ import annotations

import time
from typing import Any

from hiredis import pack_command
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# "Redis is unavailable" is defined once, in moderation.errors (the error mapping needs it and
# sits below the store); re-exported here for callers that import it with the clients.
from moderation.errors import REDIS_UNAVAILABLE
from moderation.settings import Settings


class PoolExhausted(RedisConnectionError):
    """No pooled connection came free in time: the API is busy, Redis not necessarily down."""


class CoolingDown(RedisConnectionError):
    """Refused without trying: Redis failed moments ago (see :class:`FailFastPool`)."""


class FailFastPool(BlockingConnectionPool):
    """A bounded, blocking pool that stops trying for a moment once Redis has failed, and
    throws away every connection it holds once one of them turns out dead.

    **Pause.** When a connection of this pool fails to connect, or a reply does not come in
    time, every call fails at once for ``cool_down_s``, including calls that were queued for a
    connection meanwhile: behind a hung Redis each connection is stuck for the socket timeout,
    and without this the requests queued behind them would each wait for their own timeout in
    turn (hundreds of requests: several seconds). After the pause the next call tries Redis
    again, so recovery needs nothing. A request cancelled mid-command (a client that went away)
    is no failure and pauses nothing.

    **Generations.** A pooled connection whose socket breaks (reset, closed) on a read or a
    write is no sign that Redis is down *now*: Redis may have restarted, and every connection
    opened before the restart is as dead as this one, whether or not its socket has heard so
    (a restart behind a container network or a failover sends no FIN to the old ones). Such a
    failure pauses nothing; it ends the pool's *generation*: every connection connected before
    it is closed before its next use, and the command that failed is sent once more on a
    fresh connection (``api_client``'s retry policy). If Redis is really down, that fresh
    connect fails and pauses the pool. A timeout is never retried: a hung Redis still answers
    503 within ``redis_timeout_s``.
    """

    def __init__(self, *args: Any, cool_down_s: float = 0.5, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cool_down_s = cool_down_s
        self._down_until = 0.0
        #: Bumped by the first broken connection of a generation; connections remember the
        #: generation they were connected in.
        self.generation = 0
        self.connection_class = _watched(fast_packing(self.connection_class), self)

    def mark_down(self) -> None:
        self._down_until = time.monotonic() + self.cool_down_s

    @property
    def marked_down(self) -> bool:
        return time.monotonic() < self._down_until

    def end_generation(self, of: int) -> None:
        """A connection of generation ``of`` broke: retire that generation (once)."""
        if of == self.generation:
            self.generation += 1

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

    async def ensure_connection(self, connection: Any) -> None:
        # A connection of a retired generation is closed unused: it would most likely fail.
        if connection.is_connected and connection.generation != self.generation:
            await connection.disconnect()
        await super().ensure_connection(connection)

    def _refuse_if_down(self) -> None:
        if self.marked_down:
            raise CoolingDown("Redis failed moments ago; not retrying yet")


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, RedisTimeoutError | TimeoutError)


def _watched(base: type[Any], pool: FailFastPool) -> type[Any]:
    """``base`` (the pool's connection class) reporting failures to ``pool`` the moment they
    happen, before the connection goes back to a queued request: a failed connect or a timeout
    pauses the pool; a broken socket ends the pool's generation."""

    class Watched(base):  # type: ignore[misc]
        generation = -1

        async def connect_check_health(self, *args: Any, **kwargs: Any) -> Any:
            # Every connect goes through here: the pool's and the one a retry makes.
            fresh = not self.is_connected
            try:
                result = await super().connect_check_health(*args, **kwargs)
            except REDIS_UNAVAILABLE:
                pool.mark_down()
                pool.end_generation(self.generation)
                raise
            if fresh:
                self.generation = pool.generation
            return result

        async def read_response(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return await super().read_response(*args, **kwargs)
            except REDIS_UNAVAILABLE as exc:
                self._failed(exc)
                raise

        async def send_packed_command(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return await super().send_packed_command(*args, **kwargs)
            except REDIS_UNAVAILABLE as exc:
                self._failed(exc)
                raise

        def _failed(self, exc: BaseException) -> None:
            if _is_timeout(exc):
                pool.mark_down()
            else:
                pool.end_generation(self.generation)

    Watched.__name__ = f"Watched{base.__name__}"
    return Watched


def fast_packing(base: type[Any]) -> type[Any]:
    """``base`` (a connection class) packing each command with one call of hiredis'
    ``pack_command``, which takes ``str``, ``bytes``, ``int`` and ``float`` arguments as they are.

    redis-py's own path first runs every argument through its encoder in Python (a type check
    and an ``encode`` each) and only then hands the tuple to the same hiredis call: for the
    worker's batch scripts and ``HMGET``s, hundreds of arguments a round trip, that per-argument
    step was most of the cost of packing. The bytes sent are the same. A command whose name
    holds a space (``CONFIG GET``: redis-py splits it) and any argument hiredis does not take
    (``bool``, ``None``, a ``memoryview``) go the usual way, which splits, converts or raises
    redis-py's own ``DataError``.
    """

    class FastPacking(base):  # type: ignore[misc]
        def pack_command(self, *args: Any) -> list[bytes]:
            head = args[0] if args else None
            plain = (isinstance(head, str) and " " not in head) or (
                isinstance(head, bytes) and b" " not in head
            )
            if plain:
                try:
                    return [pack_command(args)]
                except TypeError:
                    pass
            return list(super().pack_command(*args))

    FastPacking.__name__ = f"FastPacking{base.__name__}"
    return FastPacking


def _with_fast_packing(client: Redis) -> Redis:
    """``client``, its pool making connections that pack with :func:`fast_packing`."""
    pool = client.connection_pool
    pool.connection_class = fast_packing(pool.connection_class)
    return client


def api_client(settings: Settings) -> Redis:
    """A client whose every call fails within ``redis_timeout_s`` when Redis is gone.

    One retry, and only of a broken connection (reset or closed, never a timeout), on a fresh
    connection: that is what a connection opened before a Redis restart looks like, and the
    retry is what makes the restart invisible (see :class:`FailFastPool`). Anything else turns
    into a 503 with ``Retry-After`` at once, and the site retries; a retry of a timeout inside
    the request would only make it hang longer. A retried write may have been applied before
    its connection broke (the reply lost, not the command): hence idempotency keys on every
    retry a client makes, and scripts that tolerate running twice.

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
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        health_check_interval=settings.redis_health_check_s,
        client_name="moderation-api",
    )
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes it too


def listener_client(settings: Settings) -> Redis:
    """A client for pub/sub subscriptions: reads block for as long as nothing is published."""
    return _with_fast_packing(
        Redis.from_url(
            settings.resolved_redis_url(),
            socket_timeout=None,
            socket_connect_timeout=settings.redis_timeout_s,
            retry=Retry(NoBackoff(), 0),
            client_name="moderation-api-listener",
        )
    )


def worker_client(settings: Settings) -> Redis:
    """A client for workers: reads may block ``block_ms``; connection errors surface to the
    worker loop, which backs off and tries again."""
    return _with_fast_packing(
        Redis.from_url(
            settings.resolved_redis_url(),
            socket_timeout=settings.block_ms / 1000 + 10,
            socket_connect_timeout=2.0,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=30,
            client_name="moderation-worker",
        )
    )
