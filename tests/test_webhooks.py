"""Webhooks: Standard Webhooks signatures (verified by the ``standardwebhooks`` package),
endpoints managed through the admin API and CLI, retries against a real receiver that fails
then recovers, dead letters and replay."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from redis.asyncio import Redis
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation.settings import Settings
from moderation.store.webhooks import new_secret
from tests.conftest import Api, comment, free_port, running_worker, wait_for
from tests.test_cli import cli
from workers.webhooks import WebhookSender, messages_of, signature_headers

SECRET = new_secret()


@dataclass
class Receiver:
    """A site's webhook endpoint: verifies with ``standardwebhooks``, answers with scripted
    statuses (consumed first; then 200), records what it accepted."""

    secrets: list[str]
    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    bad_signatures: int = 0
    attempts: int = 0


@contextlib.asynccontextmanager
async def receiver(*secrets: str) -> AsyncIterator[Receiver]:
    rec = Receiver(list(secrets or (SECRET,)))

    async def hook(request: Request) -> Response:
        body = await request.body()
        rec.attempts += 1
        headers = dict(request.headers)
        try:
            payload = [Webhook(s).verify(body, headers) for s in rec.secrets]
        except WebhookVerificationError:
            rec.bad_signatures += 1
            return Response(status_code=401)
        status = rec.statuses.pop(0) if rec.statuses else 200
        if status == 200:
            rec.received.append(payload[0])
            rec.ids.append(headers["webhook-id"])
            rec.signatures.append(headers["webhook-signature"])
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
async def sender(
    settings: Settings, url: str = "", **overrides: Any
) -> AsyncIterator[WebhookSender]:
    options: dict[str, Any] = {"webhook_backoff_s": 0.05, "webhook_timeout_s": 2.0, **overrides}
    if url:
        options.update(webhook_url=url, webhook_secret=SECRET)
    s = settings.with_overrides(**options)
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


# --- signatures -----------------------------------------------------------------------------


def test_signatures_verify_with_the_standardwebhooks_package() -> None:
    body = b'{"type": "comment.decided", "data": {}}'
    now = datetime.now(UTC)
    headers = signature_headers("msg_1-0_comment.decided", body, [SECRET], now)
    assert Webhook(SECRET).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):  # tampered body
        Webhook(SECRET).verify(body.replace(b"decided", b"deleted"), headers)
    with pytest.raises(WebhookVerificationError):  # tampered id
        Webhook(SECRET).verify(body, {**headers, "webhook-id": "msg_other"})
    with pytest.raises(WebhookVerificationError):  # another endpoint's secret
        Webhook(new_secret()).verify(body, headers)
    stale = signature_headers("msg_1", body, [SECRET], now - timedelta(hours=1))
    with pytest.raises(WebhookVerificationError):  # replayed an hour later
        Webhook(SECRET).verify(body, stale)
    # During a rotation both secrets sign: a receiver holding either one verifies.
    new = new_secret()
    both = signature_headers("msg_2", body, [new, SECRET], now)
    assert len(both["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(body, both)
    Webhook(SECRET).verify(body, both)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, both)


def _event(**f: str) -> dict[str, str]:
    return {"id": "c1", "article": "a1", "at": "1700000000000", "reason": "", **f}


@pytest.mark.parametrize(
    ("fields", "types"),
    [
        (_event(**{"from": "pending", "to": "approved", "by": "auto"}),
         ["comment.decided", "article.count_changed"]),
        (_event(**{"from": "pending", "to": "held", "by": "auto"}), ["comment.decided"]),
        (_event(**{"from": "pending", "to": "held", "by": "system"}), ["comment.decided"]),
        (_event(**{"from": "held", "to": "rejected", "by": "moderator:ann"}),
         ["comment.moderated"]),
        (_event(**{"from": "held", "to": "approved", "by": "admin:bo"}),
         ["comment.moderated", "article.count_changed"]),
        (_event(**{"from": "approved", "to": "deleted", "by": "site:www"}),
         ["comment.deleted", "article.count_changed"]),
        (_event(**{"from": "held", "to": "deleted", "by": "site:www"}), ["comment.deleted"]),
        (_event(**{"from": "approved", "to": "pending", "by": "site:www"}),
         ["article.count_changed"]),
        (_event(type="report.decided", outcome="removed", automated="0",
                report='{"receipt": "r-1", "reason": "spam"}'), ["report.decided"]),
    ],
)  # fmt: skip
def test_event_types(fields: dict[str, str], types: list[str]) -> None:
    out = messages_of("1-0", fields, count=4)
    assert [t for t, _ in out] == types
    for t, payload in out:
        assert payload["type"] == t and payload["timestamp"] == "2023-11-14T22:13:20.000Z"
        if t == "article.count_changed":
            assert payload["data"] == {
                "article_id": "a1", "site": "default", "count": 4, "at": payload["timestamp"]
            }  # fmt: skip
        elif t == "report.decided":
            assert payload["data"]["receipt"] == "r-1" and payload["data"]["outcome"] == "removed"
            assert payload["data"]["automated"] is False
        else:
            assert payload["data"]["comment_id"] == "c1"
            assert payload["data"]["status"] == fields["to"]


def test_a_hiding_decision_carries_its_statement_of_reasons() -> None:
    statement = {"restriction": "hidden", "ground": "rules:general"}
    decision = (
        '{"status": "held", "statement": {"restriction": "hidden", "ground": "rules:general"}}'
    )
    fields = _event(**{"from": "pending", "to": "held", "by": "auto", "decision": decision})
    ((_, payload),) = messages_of("1-0", fields)
    assert payload["data"]["statement"] == statement


# --- delivery -------------------------------------------------------------------------------


async def test_the_environment_endpoint_gets_signed_decisions(api: Api, settings: Settings) -> None:
    async with receiver() as rec, sender(settings, rec.url), running_worker(settings):
        ok = (await api.post_comment(comment(article="w1", text="lovely"), wait=5)).json()
        bad = (await api.post_comment(comment(text="shut the fuck up you idiot"), wait=5)).json()

        async def decided() -> bool:
            return sum(e["type"] == "comment.decided" for e in rec.received) >= 2

        await wait_for(decided)
    by_id = {e["data"]["comment_id"]: e for e in rec.received if e["type"] == "comment.decided"}
    assert by_id[ok["id"]]["data"]["status"] == "approved"
    assert by_id[ok["id"]]["data"]["previous_status"] == "pending"
    assert by_id[ok["id"]]["data"]["by"] == "auto"
    assert by_id[bad["id"]]["data"]["status"] == "held"
    assert by_id[bad["id"]]["data"]["reason"] == "toxicity:toxicity"
    counts = [e for e in rec.received if e["type"] == "article.count_changed"]
    assert {k: counts[0]["data"][k] for k in ("article_id", "count")} == {
        "article_id": "w1",
        "count": 1,
    }
    assert rec.bad_signatures == 0
    assert len(set(rec.ids)) == len(rec.ids)


async def test_a_failing_receiver_recovers_and_nothing_is_lost(
    api: Api, settings: Settings
) -> None:
    async with (
        receiver() as rec,
        sender(settings, rec.url, webhook_events=("comment.decided",)) as ws,
    ):
        rec.statuses = [503] * 12 + [500] * 6  # down for a while, then back
        async with running_worker(settings):
            posted = [
                (await api.post_comment(comment(text=f"comment number {i}"))).json()["id"]
                for i in range(8)
            ]

            async def all_in() -> bool:
                return len(rec.received) >= 8

            await wait_for(all_in, timeout=30)
            await asyncio.sleep(0.3)  # no late duplicate either
    assert sorted(e["data"]["comment_id"] for e in rec.received) == sorted(posted)
    assert len(set(rec.ids)) == len(rec.ids) == 8
    assert rec.attempts >= 8 + 18 and ws.retried >= 18 and ws.failed == 0
    assert rec.bad_signatures == 0


async def _register(api: Api, url: str, events: list[str]) -> tuple[str, str]:
    r = await api.client.post(
        "/v1/moderation/webhooks", json={"url": url, "events": events}, headers=api.auth("admin")
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["secret"]


async def test_dead_letter_then_replay(api: Api, settings: Settings) -> None:
    async with receiver() as rec:
        endpoint, secret = await _register(api, rec.url, ["comment.decided"])
        rec.secrets = [secret]
        rec.statuses = [500] * 1000  # down for longer than the retry window
        async with sender(settings, webhook_retry_for_s=0.4), running_worker(settings):
            cid = (await api.post_comment(comment(text="will fail"))).json()["id"]

            async def failures() -> list[dict[str, Any]]:
                r = await api.client.get(
                    f"/v1/moderation/webhooks/{endpoint}/failures", headers=api.auth("admin")
                )
                return list(r.json()["failures"])

            dead = await wait_for(failures)
            assert dead[0]["payload"]["data"]["comment_id"] == cid
            assert dead[0]["error"] == "HTTP 500" and dead[0]["attempts"] >= 2
            stats = (await api.client.get("/v1/stats", headers=api.auth("moderator"))).json()
            assert stats["webhooks"]["endpoints"][endpoint] == {"backlog": 0, "failures": 1}
            assert rec.received == []

            rec.statuses = []  # the receiver is back: replay
            r = await api.client.post(
                f"/v1/moderation/webhooks/{endpoint}/replay", json={}, headers=api.auth("admin")
            )
            assert r.json() == {"replayed": 1}
            await wait_for(lambda: asyncio.sleep(0, result=len(rec.received) == 1))
    assert rec.ids == [dead[0]["message_id"]]  # the same webhook-id as the failed attempts
    assert rec.received[0]["data"]["comment_id"] == cid
    assert await failures() == []


async def test_endpoints_through_the_admin_api(api: Api, settings: Settings) -> None:
    admin = api.auth("admin")
    async with receiver() as rec:
        endpoint, secret = await _register(api, rec.url, ["comment.decided", "comment.moderated"])
        assert secret.startswith("whsec_")
        listed = (await api.client.get("/v1/moderation/webhooks", headers=admin)).json()
        assert [e["id"] for e in listed["endpoints"]] == [endpoint]
        assert secret not in json.dumps(listed)  # shown once, at creation
        assert listed["endpoints"][0]["secret_hint"] == secret[:10] + "…"
        assert (
            await api.client.get("/v1/moderation/webhooks", headers=api.auth("moderator"))
        ).status_code == 403

        bad = await api.client.post(
            "/v1/moderation/webhooks", json={"url": rec.url, "events": ["comment.eaten"]},
            headers=admin,
        )  # fmt: skip
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "events"
        bad = await api.client.post(
            "/v1/moderation/webhooks", json={"url": "ftp://x", "events": ["comment.decided"]},
            headers=admin,
        )  # fmt: skip
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "url"

        r = await api.client.patch(
            f"/v1/moderation/webhooks/{endpoint}", json={"events": ["comment.decided"]},
            headers=admin,
        )  # fmt: skip
        assert r.json()["events"] == ["comment.decided"]

        r = await api.client.post(f"/v1/moderation/webhooks/{endpoint}/rotate", headers=admin)
        new = r.json()["secret"]
        assert new.startswith("whsec_") and new != secret
        assert r.json()["previous_secret_expires_at"] is not None
        # During the grace period a receiver with the old secret and one with the new verify.
        rec.secrets = [secret, new]
        async with sender(settings), running_worker(settings):
            await api.post_comment(comment(text="after the rotation"))
            await wait_for(lambda: asyncio.sleep(0, result=len(rec.received) == 1))
        assert len(rec.signatures[0].split(" ")) == 2 and rec.bad_signatures == 0

        r = await api.client.delete(f"/v1/moderation/webhooks/{endpoint}", headers=admin)
        assert r.status_code == 204
        r = await api.client.get(f"/v1/moderation/webhooks/{endpoint}", headers=admin)
        assert r.status_code == 404
    audit = (await api.client.get("/v1/moderation/audit", headers=admin)).json()
    actions = [e["action"] for e in audit["entries"] if e["target_type"] == "webhook"]
    assert {"webhook.create", "webhook.update", "webhook.rotate", "webhook.delete"} <= set(actions)


async def test_the_environment_endpoint_is_changed_only_through_settings(
    settings: Settings,
) -> None:
    from tests.conftest import running_api

    s = settings.with_overrides(webhook_url="http://127.0.0.1:9/hook", webhook_secret=SECRET)
    async with running_api(s) as api:
        listed = (await api.client.get("/v1/moderation/webhooks", headers=api.auth("admin"))).json()
        assert listed["endpoints"][0]["id"] == "env"
        assert listed["endpoints"][0]["source"] == "environment"
        r = await api.client.post("/v1/moderation/webhooks/env/rotate", headers=api.auth("admin"))
        assert r.status_code == 409


def test_a_secret_must_be_in_the_standard_form() -> None:
    from moderation.errors import ConfigError

    with pytest.raises(ConfigError, match="whsec_"):
        Settings.from_env(
            {"MODERATION_WEBHOOK_URL": "http://x", "MODERATION_WEBHOOK_SECRET": "plain"}
        )
    with pytest.raises(ConfigError, match="unknown event"):
        Settings.from_env({"MODERATION_WEBHOOK_EVENTS": "comment.decided,comment.eaten"})


async def test_the_cli_manages_endpoints(settings: Settings, rds: Redis) -> None:
    env = {"MODERATION_REDIS_URL": settings.resolved_redis_url()}
    made = cli("webhooks", "add", "http://127.0.0.1:9/hook", "--events", "comment.decided", env=env)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("whsec_")
    endpoint = made.stderr.split()[2]
    listed = cli("webhooks", "list", env=env)
    assert f"{endpoint}\thttp://127.0.0.1:9/hook\tcomment.decided\t0\t0" in listed.stdout
    assert secret not in listed.stdout
    rotated = cli("webhooks", "rotate", endpoint, env=env)
    assert rotated.returncode == 0 and rotated.stdout.strip() not in ("", secret)
    assert cli("webhooks", "failures", endpoint, env=env).stdout == ""
    replay = cli("webhooks", "replay", endpoint, env=env)
    assert replay.returncode == 0 and "replayed 0" in replay.stderr
    missing = cli("webhooks", "remove", "ep_nothing", env=env)
    assert missing.returncode != 0 and "no webhook endpoint" in missing.stderr
    assert cli("webhooks", "remove", endpoint, env=env).returncode == 0
    assert endpoint not in cli("webhooks", "list", env=env).stdout
    assert cli("webhooks", "secret", env=os.environ.copy()).stdout.startswith("whsec_")
