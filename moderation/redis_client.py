"""Redis clients configured for each role: fast-failing for the API, patient for workers.

Each client names its connections (``CLIENT LIST`` shows ``moderation-api``,
``moderation-api-listener``, ``moderation-worker``), so operators can tell them apart.
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from moderation.settings import Settings


def api_client(settings: Settings) -> Redis:
    """A client whose every call fails within ``redis_timeout_s`` when Redis is gone.

    No retries: the API turns a failure into a 503 with ``Retry-After`` at once, and the
    site retries; a retry inside the request would only make it hang longer.

    The pool is bounded and *blocking*: a burst of requests queues for one of
    ``redis_connections`` connections (each Redis call takes well under a millisecond) instead
    of opening hundreds of sockets at once, which on a busy event loop would itself time out.
    """
    pool = BlockingConnectionPool.from_url(
        settings.resolved_redis_url(),
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
