"""Redis clients configured for each role: fast-failing for the API, patient for workers."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from moderation.settings import Settings


def api_client(settings: Settings) -> Redis:
    """A client whose every call fails within ``redis_timeout_s`` when Redis is gone.

    No retries: the API turns a failure into a 503 with ``Retry-After`` at once, and the
    site retries; a retry inside the request would only make it hang longer.
    """
    return Redis.from_url(
        settings.resolved_redis_url(),
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
        retry=Retry(NoBackoff(), 0),
        max_connections=256,
        health_check_interval=30,
    )


def listener_client(settings: Settings) -> Redis:
    """A client for pub/sub subscriptions: reads block for as long as nothing is published."""
    return Redis.from_url(
        settings.resolved_redis_url(),
        socket_timeout=None,
        socket_connect_timeout=settings.redis_timeout_s,
        retry=Retry(NoBackoff(), 0),
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
    )
