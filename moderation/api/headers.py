"""Headers every response carries, whatever produced it (a route, an error handler, the static
files, the metrics endpoint).

``X-Content-Type-Options: nosniff``: a browser must take a JSON or static response for the type
it says, never sniff it into HTML or script (a comment's text inside a JSON document must not
become a page). HTML pages add their own stricter set (``moderation.ui.render.SECURITY_HEADERS``).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Added to every HTTP response that does not set them itself.
ALWAYS = {"X-Content-Type-Options": "nosniff"}


class AlwaysHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
