"""Defect 4 of the attack report: disconnects mid-body, slow bodies, invisible ids, key guessing,
MIME sniffing. Real Redis, the ASGI app, and a real uvicorn with raw sockets where the server's
own behaviour is what is tested."""

from __future__ import annotations

import asyncio
import logging
import os
import select
import socket
import time
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from moderation.app import create_app
from moderation.keys import Keys
from moderation.messages import Role
from moderation.settings import Settings
from moderation.store.apikeys import create_key
from tests.conftest import METRICS_AUTH, Api, comment, running_api, served_api

# --- a client that disconnects mid-body ---------------------------------------------------------


@pytest.mark.fault
async def test_a_client_disconnecting_mid_body_is_499_not_an_error(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        site = await create_key(app.state.redis, Keys(), "site-gone", Role.SITE)
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/comments",
            "raw_path": b"/v1/comments",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"testserver"),
                (b"authorization", f"Bearer {site}".encode()),
                (b"content-type", b"application/json"),
                (b"content-length", b"200"),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        incoming = [
            {"type": "http.request", "body": b'{"article_id": "a1", "te', "more_body": True},
            {"type": "http.disconnect"},
        ]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        with caplog.at_level(logging.ERROR, logger="moderation"):
            await app(scope, receive, send)
        assert sent[0]["status"] == 499
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        await app.state.recorder.flush()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            metrics = (await client.get("/metrics", headers=METRICS_AUTH)).text
        posts = [
            line
            for line in metrics.splitlines()
            if line.startswith("moderation_http_requests_total") and "/v1/comments" in line
        ]
        assert any('status="499"' in line for line in posts), posts
        assert not any('status="500"' in line for line in posts), posts


# --- slow bodies on a real uvicorn ------------------------------------------------------------


def _trickle(port: int, request_head: bytes, connections: int, seconds: float) -> list[bytes]:
    """Open ``connections`` sockets, send ``request_head`` on each, then one body byte per
    socket every 0.1 s for at most ``seconds``; returns what each socket got back."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=2) for _ in range(connections)]
    replies = [b""] * connections
    done = [False] * connections
    try:
        for s in socks:
            s.sendall(request_head)
            s.setblocking(False)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not all(done):
            for i, s in enumerate(socks):
                if done[i]:
                    continue
                try:
                    s.send(b" ")
                except OSError:
                    done[i] = True
            readable, _, _ = select.select(
                [s for i, s in enumerate(socks) if not done[i]], [], [], 0.1
            )
            for s in readable:
                i = socks.index(s)
                try:
                    chunk = s.recv(4096)
                except OSError:
                    chunk = b""
                replies[i] += chunk
                if not chunk:
                    done[i] = True
    finally:
        for s in socks:
            s.close()
    return replies


@pytest.mark.fault
async def test_a_trickled_body_is_cut_off_with_408(settings: Settings, rds: Redis) -> None:
    site = await create_key(rds, Keys(), "site-slow", Role.SITE)
    slow = settings.with_overrides(body_timeout_s=1.0)
    head = (
        "POST /v1/comments HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {site}\r\nContent-Type: application/json\r\n"
        "Content-Length: 5000\r\n\r\n"
    ).encode()
    with served_api(slow) as base:
        port = int(base.rsplit(":", 1)[1])
        started = time.monotonic()
        replies = await asyncio.to_thread(_trickle, port, head, 8, 8.0)
        took = time.monotonic() - started
    print(f"8 trickling bodies answered 408 and closed after {took:.2f} s (deadline 1 s)")
    for reply in replies:
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert b"request_timeout" in reply


# --- invisible and direction-changing characters in ids --------------------------------------

INVISIBLE = ["\u200b", "\u200d", "\u200e", "\u200f", "\u202a", "\u202e", "\u2060", "\u2064",
             "\u2066", "\u2069", "\ufeff", "\u00ad"]  # fmt: skip


@pytest.mark.parametrize("char", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("field", ["article_id", "author.id", "parent_id"])
async def test_invisible_characters_in_ids_are_refused(api: Api, field: str, char: str) -> None:
    body = comment()
    if field == "article_id":
        body["article_id"] = f"news{char}-1"
    elif field == "author.id":
        body["author"]["id"] = f"h-{char}author"
    else:
        body["parent_id"] = f"p{char}1"
    r = await api.post_comment(body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == field
    assert f"U+{ord(char):04X}" in error["message"]


async def test_invisible_characters_in_moderation_path_ids_are_refused(api: Api) -> None:
    r = await api.client.post(
        "/v1/moderation/authors/h-\u200bauthor/state",
        json={"state": "banned"},
        headers=api.auth("moderator"),
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "author_id"


async def test_ordinary_ids_in_any_script_still_pass(api: Api) -> None:
    body = comment(article="новости/2026/бюджет", author="読者-17")
    assert (await api.post_comment(body)).status_code == 202


# --- guessing keys ----------------------------------------------------------------------------


async def test_bad_keys_are_rate_limited_per_address_and_valid_keys_are_not(
    settings: Settings,
) -> None:
    limited = settings.with_overrides(
        auth_failures_max=3, auth_failures_window_s=30, key_cache_ttl_s=30.0
    )
    async with running_api(limited) as api:
        ok = await api.client.get("/v1/counts", params={"article": "a"})  # warms nothing
        assert ok.status_code == 200
        valid = await api.client.get("/v1/stats", headers=api.auth("moderator"))
        assert valid.status_code == 200
        codes = []
        for i in range(5):
            r = await api.client.get(
                "/v1/stats", headers={"Authorization": f"Bearer mk_guess_{i}{os.urandom(4).hex()}"}
            )
            codes.append(r.status_code)
        assert codes == [401, 401, 401, 429, 429]
        assert 1 <= int(r.headers["retry-after"]) <= 30
        assert r.json()["error"]["code"] == "rate_limited"
        # The key this process verified before keeps working from the same address.
        again = await api.client.get("/v1/stats", headers=api.auth("moderator"))
        assert again.status_code == 200
        # Sign-in from the same address is refused too, before the key is looked at.
        page = await api.client.post(
            "/moderate/login", data={"key": "mk_nope", "next": "/moderate/queue"}
        )
        assert page.status_code == 429 and page.headers["retry-after"]


async def test_failed_sign_ins_are_rate_limited(settings: Settings) -> None:
    limited = settings.with_overrides(auth_failures_max=2, auth_failures_window_s=30)
    async with running_api(limited) as api:
        codes = []
        for _ in range(4):
            r = await api.client.post(
                "/moderate/login", data={"key": "mk_wrong", "next": "/moderate/queue"}
            )
            codes.append(r.status_code)
        assert codes == [401, 401, 429, 429]


# --- nosniff ----------------------------------------------------------------------------------


async def test_json_error_static_and_metrics_responses_say_nosniff(api: Api) -> None:
    responses = [
        await api.client.get("/v1/counts", params={"article": "a"}),
        await api.client.get("/v1/nothing-here"),
        await api.client.post("/v1/comments", json={}, headers=api.auth()),
        await api.client.get("/moderate/static/app.js"),
        await api.client.get("/moderate/static/app.css"),
        await api.client.get("/metrics", headers=METRICS_AUTH),
        await api.client.get("/healthz"),
    ]
    for r in responses:
        assert r.headers.get("x-content-type-options") == "nosniff", (r.url, r.status_code)
