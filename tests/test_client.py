"""The client library (``moderation.client``) against a running service (a real uvicorn and
a real worker), its retries against a real flaky ASGI app, and ``verify_webhook`` against
deliveries signed with the ``standardwebhooks`` package."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import standardwebhooks
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import moderation.client as client_module
from moderation.client import (
    AlreadyDecided,
    APIError,
    AsyncModerationClient,
    ModerationClient,
    ModerationClientError,
    NotFound,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
    ValidationFailed,
    WebhookVerificationError,
    verify_webhook,
)
from moderation.keys import Keys
from moderation.messages import Role
from moderation.settings import Settings
from moderation.store.apikeys import create_key
from tests.conftest import free_port, running_worker, served_api, wait_for

AUTHOR = {"id": "reader-17", "name": "Sam"}
ARTICLE = "2026/11/budget"


@pytest.fixture
async def service(settings: Settings, rds: Redis) -> AsyncIterator[tuple[str, str]]:
    key = await create_key(rds, Keys(settings.key_prefix), f"site-{os.urandom(3).hex()}", Role.SITE)
    with served_api(settings) as base:
        async with running_worker(settings):
            yield base, key


async def test_async_client_round_trip(service: tuple[str, str]) -> None:
    base, key = service
    async with AsyncModerationClient(base, key) as mod:
        art = await mod.put_article(ARTICLE, title="The budget", url="https://news.test/budget")
        assert art.id == ARTICLE and art.open and art.title == "The budget"
        c = await mod.submit(ARTICLE, "Clear explainer, thank you.", AUTHOR, wait=5)
        assert c.approved and c.text == "Clear explainer, thank you." and c.author is not None
        assert (await mod.get(c.id)).status == "approved"
        reply = await mod.submit(ARTICLE, "Agreed with this.", AUTHOR, parent_id=c.id, wait=5)
        flat = await mod.list(ARTICLE)
        assert [x.id for x in flat.comments] == [c.id, reply.id]
        threads = await mod.threads(ARTICLE)
        assert [t.id for t in threads.comments] == [c.id]
        assert [r.id for r in threads.comments[0].replies] == [reply.id]
        counts = await mod.counts([ARTICLE, "nothing-here"] + [f"x{i}" for i in range(150)])
        assert counts[ARTICLE] == 2 and counts["nothing-here"] == 0 and len(counts) == 152
        assert (await mod.get_article(ARTICLE)).count == 2

        edited = await mod.edit(reply.id, "Agreed, with one caveat.")
        assert edited.status == "pending" and edited.revision == 1

        async def redecided() -> bool:
            return (await mod.get(reply.id)).status == "approved"

        await wait_for(redecided)
        gone = await mod.delete(reply.id)
        assert gone.status == "deleted" and gone.text is None and gone.author is None
        assert (await mod.delete(reply.id)).status == "deleted"  # idempotent
        assert (await mod.counts([ARTICLE]))[ARTICLE] == 1
        with pytest.raises(AlreadyDecided) as conflict:
            await mod.edit(reply.id, "back again")
        assert conflict.value.status == 409 and conflict.value.code == "already_decided"


async def test_sync_client_and_errors(service: tuple[str, str]) -> None:
    base, key = service

    def scenario() -> None:
        with ModerationClient(base, key) as mod:
            first = mod.submit(ARTICLE, "Same request twice.", AUTHOR, idempotency_key="k-1")
            again = mod.submit(ARTICLE, "Same request twice.", AUTHOR, idempotency_key="k-1")
            assert first.id == again.id
            other = mod.submit(ARTICLE, "Same request twice.", AUTHOR)
            assert other.id != first.id  # a generated key: a new comment
            with pytest.raises(ValidationFailed) as bad:
                mod.submit(ARTICLE, "   ", AUTHOR)
            assert bad.value.field == "text" and bad.value.status == 422
            with pytest.raises(NotFound):
                mod.get("01KAXD6Y8V3N9TQ2J5ZB7W4H1C")
        with ModerationClient(base, "mk_site_wrong") as wrong, pytest.raises(Unauthorized):
            wrong.submit(ARTICLE, "No key.", AUTHOR)
        down = ModerationClient(f"http://127.0.0.1:{free_port()}", retries=1)
        with down, pytest.raises(TransportError):
            down.get_article(ARTICLE)

    await asyncio.to_thread(scenario)


def _flaky(status: int, failures: int, retry_after: str | None) -> tuple[Starlette, list[float]]:
    """A real ASGI app that answers ``status`` ``failures`` times, then an article."""
    seen: list[float] = []

    async def article(request: Request) -> JSONResponse:
        seen.append(time.monotonic())
        if len(seen) <= failures:
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            code = "rate_limited" if status == 429 else "store_unavailable"
            body = {"error": {"code": code, "message": "try later"}}
            return JSONResponse(body, status, headers=headers)
        return JSONResponse({"id": request.path_params["rest"], "open": True, "count": 3})

    return Starlette(routes=[Route("/v1/articles/{rest:path}", article)]), seen


@pytest.mark.parametrize("status", [503, 429])
async def test_retries_honour_retry_after(status: int) -> None:
    app, seen = _flaky(status, 2, "0.2")
    transport = httpx.ASGITransport(app=app)
    async with AsyncModerationClient("http://svc", transport=transport) as mod:
        art = await mod.get_article("a/b")
    assert art.count == 3 and art.id == "a/b" and len(seen) == 3
    assert seen[1] - seen[0] >= 0.19 and seen[2] - seen[1] >= 0.19


async def test_retries_are_bounded_and_capped() -> None:
    app, seen = _flaky(503, 10, "3600")
    transport = httpx.ASGITransport(app=app)
    async with AsyncModerationClient(
        "http://svc", transport=transport, retries=2, max_retry_wait=0.05
    ) as mod:
        with pytest.raises(ServiceUnavailable) as err:
            await mod.get_article("a1")
    assert len(seen) == 3 and err.value.retry_after == 3600
    assert isinstance(err.value, APIError) and err.value.code == "store_unavailable"
    assert seen[-1] - seen[0] < 5  # capped, not an hour


def _secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def _signed(secret: str, body: bytes, at: datetime) -> dict[str, str]:
    msg_id = "msg_" + os.urandom(6).hex()
    sig = standardwebhooks.Webhook(secret).sign(msg_id, at, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": sig}  # fmt: skip


def test_verify_webhook() -> None:
    old, new = _secret(), _secret()
    body = b'{"type":"comment.deleted","data":{"id":"c1"}}'
    now = datetime.now(tz=UTC)
    headers = _signed(new, body, now)
    assert verify_webhook(headers, body, new)["type"] == "comment.deleted"
    # A rotation: the site holds both secrets; either signature verifies.
    assert verify_webhook(headers, body, [old, new])["data"] == {"id": "c1"}
    assert verify_webhook(_signed(old, body, now), body, [old, new])["type"]
    with pytest.raises(WebhookVerificationError):
        verify_webhook(headers, body.replace(b"c1", b"c2"), new)  # tampered
    with pytest.raises(WebhookVerificationError):
        verify_webhook(_signed(new, body, now - timedelta(hours=1)), body, new)  # stale
    with pytest.raises(WebhookVerificationError):
        verify_webhook(headers, body, old)  # the wrong secret
    with pytest.raises(ModerationClientError):
        verify_webhook({}, body, new)  # no headers


def test_public_names() -> None:
    """``__all__`` is what the package exports: every public name, each defined in it."""
    public = {n for n in vars(client_module) if not n.startswith("_")}
    public -= {"annotations"}
    assert set(client_module.__all__) == public
    for name in client_module.__all__:
        assert getattr(client_module, name).__module__.startswith("moderation.client")
