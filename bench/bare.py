"""The ceiling ``bench/ingest.py`` compares the service with: bare Starlette endpoints that do
the least the real ones must (no auth, no validation beyond JSON, no admission checks).

- ``POST /v1/comments``: read the body, parse the JSON, one ``XADD``, answer 202 with an id.
- ``GET /v1/counts?article=…``: one pipelined ``ZCARD`` per article, answer the counts.

Served like the service (uvicorn, uvloop, httptools, no access log):
``MODERATION_REDIS_URL=redis://… uvicorn bench.bare:app --loop uvloop --http httptools``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import AsyncIterator

import msgspec
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation.keys import Keys

K = Keys()
_ids = itertools.count()


async def post_comment(request: Request) -> Response:
    body = await request.body()
    doc = msgspec.json.decode(body)
    comment_id = f"bare-{os.getpid()}-{next(_ids)}"
    await request.app.state.redis.xadd("bench:bare:stream", {"id": comment_id, "doc": body})
    out = {"id": comment_id, "status": "pending", "article_id": doc["article_id"]}
    return Response(msgspec.json.encode(out), 202, media_type="application/json")


async def counts(request: Request) -> Response:
    ids = request.query_params.getlist("article")
    pipe = request.app.state.redis.pipeline(transaction=False)
    for aid in ids:
        pipe.zcard(K.approved(aid))
    replies = await pipe.execute()
    body = msgspec.json.encode({"counts": dict(zip(ids, replies, strict=True))})
    return Response(body, media_type="application/json")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.redis = Redis.from_url(os.environ["MODERATION_REDIS_URL"])
    yield
    await app.state.redis.aclose()


app = Starlette(
    routes=[
        Route("/v1/comments", post_comment, methods=["POST"]),
        Route("/v1/counts", counts, methods=["GET"]),
    ],
    lifespan=lifespan,
)
