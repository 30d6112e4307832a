"""The operations dashboard: ``/moderate/dashboard`` and its live feed.

The page is rendered with the current figures (so it is useful before any script runs); the
feed, ``/moderate/dashboard/stream``, pushes the ``/v1/stats`` document plus the last hour's
per-minute history every ``MODERATION_DASHBOARD_INTERVAL_S`` as Server-Sent Events
(``event: stats``). Each push costs one bounded stats read (``moderation.ops.stats``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from moderation.api.access import Principal, require_principal
from moderation.api.auth import MODERATORS
from moderation.messages import json_encoder
from moderation.ops.stats import history, read_state, summarize
from moderation.settings import Settings
from moderation.ui.render import BASE, NAV_LINKS, NavLink, render, ui_page

NAV_LINKS.insert(1, NavLink("Dashboard", f"{BASE}/dashboard", MODERATORS))


async def _document(request: Request) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    state = await read_state(request.app.state.redis, request.app.state.keys, settings)
    doc = summarize(state, settings)
    doc["history"] = history(state)
    doc["stuck_queue_s"] = settings.stuck_queue_s
    return doc


@ui_page(MODERATORS)
async def dashboard(request: Request, principal: Principal) -> Response:
    doc = await _document(request)
    return render(
        request,
        principal,
        "dashboard.html",
        {
            "title": "Dashboard",
            "stats": doc,
            "initial": json_encoder.encode(doc).decode(),
            "interval_s": request.app.state.settings.dashboard_interval_s,
        },
    )


async def dashboard_stream(request: Request) -> Response:
    await require_principal(request, MODERATORS)
    interval = request.app.state.settings.dashboard_interval_s

    async def stream() -> AsyncIterator[str]:
        yield f"retry: {int(interval * 1000)}\n\n"
        while True:
            try:
                payload = json_encoder.encode(await _document(request)).decode()
                yield f"event: stats\ndata: {payload}\n\n"
            except (RedisError, OSError) as exc:
                # Keep the stream open and say why the figures stopped moving.
                yield f"event: unavailable\ndata: {json_encoder.encode(str(exc)).decode()}\n\n"
            await asyncio.sleep(interval)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
