"""Webhooks: signed, retried, recorded when they fail; delivered to a real HTTP receiver."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation.keys import Keys
from moderation.settings import Settings
from tests.conftest import Api, comment, free_port, running_worker, wait_for
from workers.webhooks import SIGNATURE_HEADER, WebhookSender, sign, verify

SECRET = "whsec-test"


@dataclass
class Receiver:
    """A site's webhook endpoint: records what arrives, answers with scripted statuses."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)  # consumed first; then 200
    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    attempts: int = 0


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()

    async def hook(request: Request) -> Response:
        body = await request.body()
        rec.attempts += 1
        if not verify(SECRET, request.headers.get(SIGNATURE_HEADER, ""), body):
            rec.bad_signatures += 1
            return Response(status_code=401)
        status = rec.statuses.pop(0) if rec.statuses else 200
        if status == 200:
            rec.received.append(json.loads(body))
        return Response(status_code=status)

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/hook", hook, methods=["POST"])]),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: asyncio.sleep(0, result=server.started))
    rec.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield rec
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def sender(settings: Settings, url: str, **overrides: Any) -> AsyncIterator[WebhookSender]:
    options: dict[str, Any] = {"webhook_backoff_s": 0.05, "webhook_timeout_s": 2.0, **overrides}
    s = settings.with_overrides(webhook_url=url, webhook_secret=SECRET, **options)
    redis = Redis.from_url(s.resolved_redis_url())
    async with httpx.AsyncClient(timeout=s.webhook_timeout_s) as client:
        ws = WebhookSender(s, redis, name="hooks-1", client=client)
        await ws.ensure_group()
        task = asyncio.create_task(ws.run())
        try:
            yield ws
        finally:
            ws.request_stop()
            await asyncio.wait_for(task, 15)
            await redis.aclose()


def test_signatures_verify_and_reject_tampering() -> None:
    import time

    body = b'{"a": 1}'
    now = int(time.time())
    header = sign(SECRET, now, body)
    assert verify(SECRET, header, body)
    assert not verify(SECRET, header, b'{"a": 2}')
    assert not verify("other", header, body)
    assert not verify(SECRET, sign(SECRET, now - 3600, body), body)  # replayed later
    assert not verify(SECRET, "garbage", body)


async def test_decisions_are_delivered_signed(api: Api, settings: Settings) -> None:
    async with receiver() as rec, sender(settings, rec.url), running_worker(settings):
        ok = (await api.post_comment(comment(article="w1", text="lovely"), wait=5)).json()
        bad = (await api.post_comment(comment(text="shut the fuck up you idiot"), wait=5)).json()

        async def both() -> bool:
            return len(rec.received) >= 2

        await wait_for(both)
    by_id = {e["comment_id"]: e for e in rec.received}
    assert by_id[ok["id"]]["status"] == "approved"
    assert by_id[ok["id"]]["previous_status"] == "pending"
    assert by_id[ok["id"]]["article_id"] == "w1"
    assert by_id[ok["id"]]["by"] == "auto"
    assert by_id[bad["id"]]["status"] == "held"
    assert by_id[bad["id"]]["reason"] == "toxicity:toxicity"
    assert rec.bad_signatures == 0
    assert all(e["type"] == "comment.status_changed" and e["event_id"] for e in rec.received)


async def test_failures_are_retried_then_recorded(api: Api, settings: Settings, rds: Redis) -> None:
    async with receiver() as rec, sender(settings, rec.url, webhook_max_attempts=3) as ws:
        rec.statuses = [500, 503]  # two failures, then success
        async with running_worker(settings):
            first = (await api.post_comment(comment(text="first"), wait=5)).json()
            await wait_for(lambda: asyncio.sleep(0, result=len(rec.received) == 1))
            assert rec.received[0]["comment_id"] == first["id"]
            assert rec.attempts == 3

            rec.statuses = [500, 500, 500]  # every attempt fails
            second = (await api.post_comment(comment(text="second"), wait=5)).json()

            async def recorded() -> bool:
                return int(await rds.xlen(Keys().webhook_dead)) == 1

            await wait_for(recorded)
        assert ws.failed == 1 and ws.delivered == 1
    dead = await rds.xrange(Keys().webhook_dead)
    assert dead[0][1][b"comment"].decode() == second["id"]
    assert dead[0][1][b"error"] == b"HTTP 500"
    stats = (await api.client.get("/v1/stats", headers=api.auth("moderator"))).json()
    assert stats["webhooks"] == {"backlog": 0, "failures": 1}


async def test_backlog_is_visible_while_the_endpoint_is_down(api: Api, settings: Settings) -> None:
    async with receiver() as rec:
        url = rec.url
    # The receiver is gone: deliveries fail slowly, the events wait in the backlog.
    slow = {"webhook_max_attempts": 50, "webhook_backoff_s": 0.2}
    async with sender(settings, url, **slow), running_worker(settings):
        for i in range(3):
            await api.post_comment(comment(text=f"backlog {i}"), wait=5)

        async def backlog() -> int:
            r = await api.client.get("/v1/stats", headers=api.auth("moderator"))
            return int(r.json()["webhooks"]["backlog"])

        assert await wait_for(backlog) >= 1
