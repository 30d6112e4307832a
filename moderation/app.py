"""The application: the HTTP API and the web UI in one Starlette app, its lifespan (Redis
clients, the decision listener) and its admission gates.

It sits above both faces it assembles (``moderation.api``, ``moderation.ui``); uvicorn starts it
through ``moderation.asgi``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Route

from moderation import ui
from moderation.api import articles, comments, health, ops
from moderation.api import moderation as review_api
from moderation.api.errors import exception_handlers
from moderation.api.gates import admission_gates
from moderation.api.instrument import InstrumentMiddleware
from moderation.keys import Keys
from moderation.ops.metrics import Recorder
from moderation.record import Reader, Record, record_url
from moderation.settings import Settings
from moderation.store.apikeys import KeyCache
from moderation.store.client import api_client, listener_client
from moderation.store.comments import Store
from moderation.store.queue import ensure_group
from moderation.store.waiters import DecisionWaiters

log = logging.getLogger("moderation.api")


def _public(settings: Settings) -> list[Middleware]:
    """CORS for the endpoints browsers call directly (counts, public comment lists)."""
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET"],
            allow_headers=["If-None-Match"],
            expose_headers=["ETag"],
            max_age=86_400,
        )
    ]


def routes(settings: Settings) -> list[BaseRoute]:
    public = _public(settings)
    return [
        # Moderation: the review API (/v1/moderation/…) and the web UI (/moderate/…).
        *review_api.routes(),
        *ui.routes(),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/v1/comments", comments.post_comment, methods=["POST"]),
        Route("/v1/comments/{comment_id}", comments.get_comment, methods=["GET"]),
        Route(
            "/v1/articles/{article_id}/comments",
            articles.list_article_comments,
            methods=["GET", "OPTIONS"],  # OPTIONS: CORS preflights, answered by the middleware
            middleware=public,
        ),
        Route("/v1/counts", articles.counts, methods=["GET", "OPTIONS"], middleware=public),
        Route("/v1/stats", ops.stats, methods=["GET"]),
        Route("/metrics", ops.metrics, methods=["GET"]),
    ]


def create_app(settings: Settings) -> Starlette:
    keys = Keys(settings.key_prefix)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        redis = api_client(settings)
        app.state.redis = redis
        app.state.store = Store(redis, keys)
        app.state.key_cache = KeyCache(redis, keys, ttl_s=settings.key_cache_ttl_s)
        waiters = DecisionWaiters(listener_client(settings), keys.decided_channel)
        app.state.waiters = waiters
        await waiters.start()
        # The record (SQL): reads of comments no longer (or not only) in Redis fall through.
        record = Record(record_url(settings))
        app.state.record = Reader(record, settings.retry_after_s)
        recorder = Recorder(redis, keys)
        app.state.recorder = recorder
        await recorder.start()
        try:
            # Comments accepted before any worker starts must still be scored: make sure the
            # group exists from id 0. Redis may be down at start-up; the API starts anyway
            # (503s until it is back) and the workers create the group too.
            await ensure_group(redis, keys)
        except (RedisError, OSError) as exc:
            log.warning("redis not reachable at start-up: %s", exc)
        try:
            yield
        finally:
            await recorder.stop()
            await record.close()
            await waiters.stop()
            await redis.aclose()

    app = Starlette(
        routes=routes(settings),
        exception_handlers=exception_handlers(settings.retry_after_s),
        lifespan=lifespan,
    )
    # Outermost, so it sees the final status of every request, errors included.
    app.add_middleware(InstrumentMiddleware, recorder_of=app.state)
    app.state.settings = settings
    app.state.keys = keys
    # Closed articles refuse new comments; flood control (see moderation.api.gates).
    app.state.gates = admission_gates(settings, keys)
    return app
