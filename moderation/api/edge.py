"""The one middleware every HTTP request passes through, outside Starlette's exception handlers:

* **instrumentation**: counts and times each request by route template (never by raw path),
  with its final status, errors included (``moderation.ops.metrics``);
* **headers every response carries**, whatever produced it (a route, an error handler, the
  static files): ``X-Content-Type-Options: nosniff`` (:data:`ALWAYS`), unless the response
  set it itself;
* **CORS** on the paths browsers call directly: each :class:`CorsRule` becomes a
  :class:`~moderation.api.routing.PublicCORS` the request is handed to when its path matches.

One pure ASGI layer with one ``send`` wrapper instead of four stacked middlewares: each layer
costs every request a coroutine and each ``send`` wrapper a call per message, which on the
comment endpoint is a measurable share of the whole request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moderation.api.routing import PublicCORS
from moderation.ops.metrics import HTTP_DURATION, HTTP_REQUESTS, Recorder

#: Added to every HTTP response that does not set them itself (names in lower case).
ALWAYS: tuple[tuple[bytes, bytes], ...] = ((b"x-content-type-options", b"nosniff"),)


@dataclass(frozen=True, slots=True)
class CorsRule:
    """Paths that get CORS (``prefixes``, and ``pattern``, a regular expression), with what
    browsers may send them (see :class:`~moderation.api.routing.PublicCORS`)."""

    prefixes: Sequence[str] = ()
    pattern: str | None = None
    methods: Sequence[str] = ("GET",)
    headers: Sequence[str] = ("If-None-Match",)


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        recorder_of: object,
        origins: Sequence[str] = (),
        retry_after_s: int = 1,
        cors: Sequence[CorsRule] = (),
    ) -> None:
        self.app = app
        # The recorder is created in the lifespan; look it up on the app state at call time.
        self._state = recorder_of
        self._cors = [
            PublicCORS(
                app,
                rule.prefixes,
                origins,
                retry_after_s,
                pattern=rule.pattern,
                methods=rule.methods,
                headers=rule.headers,
            )
            for rule in cors
        ]

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
                _add_always(message)
            await send(message)

        target = self.app
        path = scope["path"]
        for cors in self._cors:
            if cors.applies(path):
                target = cors.cors
                break
        try:
            await target(scope, receive, send_wrapper)
        finally:
            recorder: Recorder | None = getattr(self._state, "recorder", None)
            if recorder is not None:
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                method = scope.get("method", "")
                recorder.inc(HTTP_REQUESTS, (template, method, str(status)))
                recorder.observe(HTTP_DURATION, (template, method), time.perf_counter() - started)


def _add_always(message: Message) -> None:
    headers = message.get("headers") or []
    present = {name.lower() for name, _ in headers}
    missing = [(name, value) for name, value in ALWAYS if name not in present]
    if missing:
        if isinstance(headers, list):
            headers.extend(missing)
        else:
            headers = [*headers, *missing]
        message["headers"] = headers
