"""The one middleware every HTTP request passes through, outside Starlette's exception handlers:

* **instrumentation**: counts and times each request by route template (never by raw path),
  with its final status, errors included (``moderation.ops.metrics``);
* **headers every response carries**, whatever produced it (a route, an error handler, the
  static files): ``X-Content-Type-Options: nosniff`` (:data:`ALWAYS`), unless the response
  set it itself;
* **CORS** on the paths browsers call directly: each :class:`CorsRule` becomes a
  :class:`~moderation.api.routing.PublicCORS` the request is handed to when its path matches;
* **direct routes**: the hottest endpoint (``POST /v1/comments``) is called from here when the
  method and path match exactly, skipping the router's scan and Starlette's two exception
  wrappers (each wraps ``send`` again). Its errors get the same answer the exception handlers
  would give (``moderation.api.errors.answer_error``); anything else (a bug) goes on up to
  Starlette's outermost handler as before, which answers 500 and re-raises it to the server.

One pure ASGI layer with one ``send`` wrapper instead of four stacked middlewares: each layer
costs every request a coroutine and each ``send`` wrapper a call per message, which on the
comment endpoint is a measurable share of the whole request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moderation.api.errors import answer_error
from moderation.api.routing import PublicCORS
from moderation.errors import REDIS_UNAVAILABLE, ModerationError
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
        direct: Sequence[Route] = (),
    ) -> None:
        self.app = app
        self.retry_after_s = retry_after_s
        #: (method, path) -> the route called directly (see the module docstring).
        self._direct = {
            (method, route.path): route for route in direct for method in route.methods or ()
        }
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

        path = scope["path"]
        route = self._direct.get((scope["method"], path))
        if route is not None and not scope.get("root_path"):
            scope["route"] = route
            scope["endpoint"] = route.endpoint
            target: ASGIApp = self._call_direct
        else:
            target = self.app
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

    async def _call_direct(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: Route = scope["route"]
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except _ANSWERED as exc:
            response = answer_error(request, exc, self.retry_after_s)
        await response(scope, receive, send)


#: What the exception handlers answer (``moderation.api.errors.exception_handlers``) without
#: it being a bug: ours, and Redis being unreachable.
_ANSWERED: tuple[type[Exception], ...] = (ModerationError, *REDIS_UNAVAILABLE)


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
