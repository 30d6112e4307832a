"""Operations endpoints: ``GET /v1/stats`` (moderators, admins) and ``GET /metrics``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from moderation.api.access import require_principal
from moderation.api.auth import MODERATORS
from moderation.api.responses import JSON
from moderation.ops.metrics import render
from moderation.ops.stats import read_state, snapshot, summarize
from moderation.settings import Settings

#: Content type of the Prometheus text exposition format.
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


async def stats(request: Request) -> Response:
    await require_principal(request, MODERATORS)  # a key, or a moderator's signed-in session
    settings: Settings = request.app.state.settings
    state = await read_state(request.app.state.redis, request.app.state.keys, settings)
    return JSON(summarize(state, settings), headers={"Cache-Control": "no-store"})


async def metrics(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    state = await read_state(request.app.state.redis, request.app.state.keys, settings)
    return Response(render(snapshot(state, settings)), media_type=PROMETHEUS_TEXT)
