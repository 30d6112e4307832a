"""ASGI middleware counting requests and timing them, by route template (never by raw path)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moderation.ops.metrics import HTTP_DURATION, HTTP_REQUESTS, Recorder


class InstrumentMiddleware:
    def __init__(self, app: ASGIApp, recorder_of: object) -> None:
        self.app = app
        # The recorder is created in the lifespan; look it up on the app state at call time.
        self._state = recorder_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            recorder: Recorder | None = getattr(self._state, "recorder", None)
            if recorder is not None:
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                method = scope.get("method", "")
                recorder.inc(HTTP_REQUESTS, (template, method, str(status)))
                recorder.observe(HTTP_DURATION, (template, method), time.perf_counter() - started)
