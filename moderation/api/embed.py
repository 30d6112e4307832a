"""``GET /count.js``: the comment-count embed script (``moderation/static/count.js``).

One small dependency-free script a site includes once per page; it fills every
``[data-comment-count]`` element from one batched ``/v1/counts`` request. Read once, served
with a short public cache lifetime so a new release reaches readers within minutes.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response


@cache
def script() -> bytes:
    return resources.files("moderation").joinpath("static/count.js").read_bytes()


async def count_js(request: Request) -> Response:
    return Response(
        script(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )
