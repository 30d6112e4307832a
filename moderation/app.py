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
from starlette.routing import BaseRoute, Route

from moderation import ui
from moderation.api import (
    accounts,
    articles,
    comments,
    coral,
    dsa,
    embed,
    health,
    openapi,
    ops,
    transparency,
    webhooks,
)
from moderation.api import appeals as appeal_api
from moderation.api import moderation as review_api
from moderation.api import tools as moderator_tools
from moderation.api.edge import CorsRule, EdgeMiddleware
from moderation.api.errors import exception_handlers
from moderation.api.events import stop_hub
from moderation.api.gates import admission, admission_gates
from moderation.api.routing import IdRoute
from moderation.keys import Keys
from moderation.ops.metrics import Recorder
from moderation.ops.samples import Sampler
from moderation.record import Reader, Record, record_url
from moderation.settings import Settings
from moderation.store.apikeys import KeyCache
from moderation.store.auth_failures import AuthFailures
from moderation.store.client import api_client, listener_client
from moderation.store.comments import Store
from moderation.store.queue import ensure_group
from moderation.store.sites import SiteDirectory
from moderation.store.subscription import Subscription
from moderation.store.waiters import DecisionWaiters

log = logging.getLogger("moderation.api")


#: Paths browsers call directly (counts, articles, public comment lists, count.js): CORS.
PUBLIC_PREFIXES = ("/v1/articles/", "/v1/counts", "/count.js", "/report.js")


#: ``POST /v1/comments``: routed like any other, and called directly by the edge middleware
#: when the path matches exactly (``moderation.api.edge``).
POST_COMMENT = Route("/v1/comments", comments.post_comment, methods=["POST"])


def routes(settings: Settings) -> list[BaseRoute]:
    # Starlette tries routes in order: the site's hot paths first (a POST would otherwise be
    # matched against every moderation and UI route before its own).
    return [
        POST_COMMENT,
        Route("/v1/counts", articles.counts, methods=["GET"]),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/v1/comments/{comment_id}", comments.get_comment, methods=["GET"]),
        Route("/v1/comments/{comment_id}", comments.patch_comment, methods=["PATCH"]),
        Route("/v1/comments/{comment_id}", comments.delete_comment, methods=["DELETE"]),
        # Article ids may hold "/": IdRoute takes them encoded or raw (moderation.api.routing).
        IdRoute(
            "/v1/articles/{article_id:path}/comments",
            articles.list_article_comments,
            methods=["GET"],
        ),
        IdRoute("/v1/articles/{article_id:path}", articles.get_article, methods=["GET"]),
        IdRoute("/v1/articles/{article_id:path}", articles.put_article, methods=["PUT"]),
        Route("/v1/stats", ops.stats, methods=["GET"]),
        # Coral Talk's external moderation phase, signed by Coral (moderation.api.coral).
        Route("/v1/coral/moderate", coral.coral_moderate, methods=["POST"]),
        # What this is and how to call it (moderation.api.openapi).
        Route("/", openapi.home, methods=["GET"]),
        Route("/docs", openapi.docs, methods=["GET"]),
        Route("/openapi.json", openapi.openapi_json, methods=["GET"]),
        Route("/count.js", embed.count_js, methods=["GET"]),
        Route("/metrics", ops.metrics, methods=["GET"]),
        # Reader reports, statements of reasons, the Reported queue, grounds (DSA).
        *dsa.routes(),
        *appeal_api.routes(),  # authors' appeals and the Appeals queue (DSA Art. 20)
        Route("/v1/moderation/transparency", transparency.get_transparency, methods=["GET"]),
        # Moderation: the review API (/v1/moderation/…) and the web UI (/moderate/…).
        *review_api.routes(),
        *moderator_tools.routes(),  # published lists, copies, escalation, spam domains
        *webhooks.routes(),  # admins manage webhook endpoints (moderation.api.webhooks)
        *accounts.routes(),  # admins manage moderators' accounts (moderation.api.accounts)
        *ui.routes(),
    ]


def create_app(settings: Settings) -> Starlette:
    keys = Keys(settings.key_prefix)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        redis = api_client(settings)
        app.state.redis = redis
        app.state.store = Store(redis, keys)
        app.state.sites = SiteDirectory(redis, keys)
        app.state.auth_failures = AuthFailures(
            redis, keys, settings.auth_failures_max, settings.auth_failures_window_s
        )
        # One pub/sub connection per process: decisions for ?wait, and API key revocations,
        # pushed so the key cache can live long and still drop a revoked key at once.
        subscription = Subscription(listener_client(settings))
        key_cache = KeyCache(redis, keys, ttl_s=settings.key_cache_ttl_s)
        key_cache.follow(subscription)
        app.state.key_cache = key_cache
        app.state.waiters = DecisionWaiters(subscription, keys.decided_channel)
        await subscription.start()
        # The record (SQL): reads of comments no longer (or not only) in Redis fall through.
        record = Record(record_url(settings))
        app.state.record = Reader(record, settings.retry_after_s)
        recorder = Recorder(redis, keys)
        app.state.recorder = recorder
        await recorder.start()
        sampler = Sampler(redis, keys, settings)  # the dashboard's history (ops.samples)
        await sampler.start()
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
            await stop_hub(app.state)
            await sampler.stop()
            await recorder.stop()
            await record.close()
            await subscription.stop()  # wakes every waiter
            await redis.aclose()

    app = Starlette(
        routes=routes(settings),
        exception_handlers=exception_handlers(settings.retry_after_s),
        lifespan=lifespan,
    )
    # One pure ASGI layer outside the exception handlers (moderation.api.edge): it sees the
    # final status of every request, errors included, adds the headers every response carries
    # (nosniff on JSON, static files, errors) and CORS on the public paths, so public errors
    # carry the CORS headers too. Readers' browsers POST reports (JSON) directly.
    app.add_middleware(
        EdgeMiddleware,
        recorder_of=app.state,
        origins=settings.cors_origins,
        retry_after_s=settings.retry_after_s,
        cors=(
            CorsRule(prefixes=PUBLIC_PREFIXES),
            CorsRule(pattern=dsa.REPORTS_PATH, methods=("POST",), headers=("Content-Type",)),
        ),
        direct=(POST_COMMENT,),
    )
    app.state.settings = settings
    app.state.keys = keys
    app.state.metrics_open = False  # /metrics here only with the metrics token
    # Closed articles refuse new comments; flood control (see moderation.api.gates): checked
    # inside the submit script; Python gates, if any, before it.
    app.state.admission = admission(settings)
    app.state.gates = admission_gates(settings, keys)
    return app


def create_metrics_app(settings: Settings) -> Starlette:
    """``/metrics`` alone, without credentials: for the listener on ``metrics_host`` and
    ``metrics_port`` (localhost by default) that ``serve`` and ``run`` start beside the API."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.redis = api_client(settings)
        try:
            yield
        finally:
            await app.state.redis.aclose()

    app = Starlette(
        routes=[Route("/metrics", ops.metrics, methods=["GET"])],
        exception_handlers=exception_handlers(settings.retry_after_s),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.keys = Keys(settings.key_prefix)
    app.state.metrics_open = True
    return app
