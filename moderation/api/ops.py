"""Operations endpoints: ``GET /v1/stats`` (moderators, admins) and ``GET /metrics``."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response

from moderation.api.access import require_principal
from moderation.api.auth import MODERATORS, bearer_token
from moderation.api.responses import JSON
from moderation.api.schemas import typed
from moderation.api.schemas_admin import Stats
from moderation.errors import NotFound, Unauthorized
from moderation.ops.metrics import render
from moderation.ops.stats import read_state, snapshot, summarize
from moderation.settings import Settings

#: Content type of the Prometheus text exposition format.
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


async def stats(request: Request) -> Response:
    await require_principal(request, MODERATORS)  # a key, or a moderator's signed-in session
    settings: Settings = request.app.state.settings
    state = await read_state(request.app.state.redis, request.app.state.keys, settings)
    answer = typed(Stats, summarize(state, settings))
    return JSON(answer, headers={"Cache-Control": "no-store"})


async def metrics(request: Request) -> Response:
    """The Prometheus exposition. Open on the localhost listener (``create_metrics_app``); on
    the API's port only with ``metrics_token`` configured, and then only for that bearer."""
    settings: Settings = request.app.state.settings
    if not request.app.state.metrics_open:
        if not settings.metrics_token:
            where = (
                f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"
                if settings.metrics_port
                else "no address (MODERATION_METRICS_PORT is 0)"
            )
            raise NotFound(
                f"/metrics is not served on this port: it is at {where}; set "
                "MODERATION_METRICS_TOKEN to serve it here behind a bearer token"
            )
        token = bearer_token(request)
        if token is None or not hmac.compare_digest(token, settings.metrics_token):
            raise Unauthorized(
                "/metrics needs the metrics token: Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
    state = await read_state(request.app.state.redis, request.app.state.keys, settings)
    return Response(render(snapshot(state, settings)), media_type=PROMETHEUS_TEXT)
