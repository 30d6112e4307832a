"""Routing for ids that may contain ``/`` and CORS for the routes browsers call directly.

Article and author ids are the site's own and often look like paths (``2026/11/budget``). A
route that takes one (:class:`IdRoute`, declared ``/v1/articles/{article_id:path}/comments``)
accepts the id two ways:

* **percent-encoded as one path segment** (``/v1/articles/2026%2F11%2Fbudget/comments``):
  always, whatever the id contains, even ``x/comments``. When the raw request path holds an
  encoded slash, the route matches the *raw* path segment by segment and decodes each
  parameter, so an encoded id can never be split or mistaken for a longer route.
* **with raw slashes** (``/v1/articles/2026/11/budget/comments``): Starlette's ``path``
  converter on the decoded path, which is unambiguous unless the id itself ends with a route's
  suffix (an id ``x/comments`` must then be encoded).

:class:`PublicCORS` adds the CORS headers to every response under the public prefixes —
errors included (404, 400, 429, 503 and the 500 of a bug), which route-level middleware
cannot do because Starlette renders exceptions outside it: a browser that gets an error must be
able to read it instead of reporting "blocked by CORS policy".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote

from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from moderation.api.errors import answer_error

_PARAM = re.compile(r"{(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)(?::[a-zA-Z_]+)?}")
_ENCODED_SLASH = re.compile(r"%2f", re.IGNORECASE)


def _raw_path(scope: Scope) -> str | None:
    """The request path as sent (query excluded, root path removed), or ``None``."""
    raw = scope.get("raw_path")
    if not isinstance(raw, bytes) or not raw:
        return None
    path = raw.decode("latin-1").split("?", 1)[0]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path


class IdRoute(Route):
    """A :class:`Route` whose ``{name:path}`` parameters also match one percent-encoded
    segment of the raw path (see the module docstring)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        pattern = ""
        last = 0
        for m in _PARAM.finditer(path):
            pattern += re.escape(path[last : m.start()]) + f"(?P<{m.group('name')}>[^/]+)"
            last = m.end()
        pattern += re.escape(path[last:])
        self.segment_regex = re.compile(f"^{pattern}$")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        raw = _raw_path(scope) if scope["type"] == "http" else None
        if raw is None or not _ENCODED_SLASH.search(raw):
            return super().matches(scope)
        m = self.segment_regex.match(raw)
        if m is None:
            # The client encoded its slashes: a decoded-path match would split the id.
            return Match.NONE, {}
        params = {k: unquote(v) for k, v in m.groupdict().items()}
        child: Scope = {
            "endpoint": self.endpoint,
            "path_params": {**scope.get("path_params", {}), **params},
        }
        if self.methods and scope["method"] not in self.methods:
            return Match.PARTIAL, child
        return Match.FULL, child


class PublicCORS:
    """CORS (Starlette's ``CORSMiddleware``) on the paths under ``prefixes`` only, placed
    outside the exception handlers so error responses carry the headers too. An exception
    that reaches it (a bug: a 500) is answered here, by the one error mapping, for the same
    reason."""

    def __init__(
        self,
        app: ASGIApp,
        prefixes: Sequence[str],
        origins: Sequence[str],
        retry_after_s: int,
        *,
        pattern: str | None = None,
        methods: Sequence[str] = ("GET",),
        headers: Sequence[str] = ("If-None-Match",),
    ) -> None:
        self.app = app
        self.prefixes = tuple(prefixes)
        #: Further paths matched by a regular expression (``/v1/comments/{id}/reports``).
        self.pattern = re.compile(pattern) if pattern else None
        self.retry_after_s = retry_after_s
        self.cors = CORSMiddleware(
            self._guarded,
            allow_origins=list(origins),
            allow_methods=list(methods),
            allow_headers=list(headers),
            expose_headers=["ETag"],
            max_age=86_400,
        )

    def applies(self, path: str) -> bool:
        """Whether requests for ``path`` get CORS (then hand them to :attr:`cors`)."""
        return bool(self.prefixes and path.startswith(self.prefixes)) or (
            self.pattern is not None and self.pattern.match(path) is not None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.applies(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            response = answer_error(Request(scope, receive), exc, self.retry_after_s)
            await response(scope, receive, send)
