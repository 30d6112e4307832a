"""The Coral write-back: later decisions on comments Coral sent us are applied in Coral through
its GraphQL mutations, against a real local HTTP server standing in for Coral's GraphQL
endpoint (it checks the Bearer token, answers the comment lookup from the comments "Coral"
stored, records the mutations), including one that is down for a while, then recovers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from moderation.keys import CORAL_GROUP, Keys
from moderation.settings import Settings
from moderation.store import coral as links
from tests.conftest import (
    Api,
    free_port,
    running_api,
    running_worker,
    settings_env,
    wait_for,
)
from tests.test_coral import SECRET, payload, signed
from workers.coral import CoralSync, remove_group

TOKEN = "coral-api-token-1"
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class FakeCoral:
    """Coral's ``/api/graphql``, as far as the write-back uses it."""

    url: str = ""
    #: Comments Coral stored: ``{id, body, author: {id}, revision: {id}}``.
    comments: list[dict[str, Any]] = field(default_factory=list)
    #: Scripted failure statuses, consumed first.
    statuses: list[int] = field(default_factory=list)
    #: ``(mutation name, input)`` of every mutation answered 200.
    mutations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    requests: int = 0
    unauthorized: int = 0

    def store(self, text: str, n: int) -> None:
        # Coral keeps bodies as HTML; the phase was sent the text.
        html = "<p>" + text.replace("&", "&amp;").replace("'", "&#39;") + "</p>"
        self.comments.insert(0, {"id": f"coral-c{n}", "body": html,
                                 "author": {"id": "coral-user-1"},
                                 "revision": {"id": f"coral-r{n}"}})  # fmt: skip


@contextlib.asynccontextmanager
async def fake_coral() -> AsyncIterator[FakeCoral]:
    coral = FakeCoral()

    async def graphql(request: Request) -> Response:
        coral.requests += 1
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            coral.unauthorized += 1
            return JSONResponse({"errors": [{"message": "UNAUTHORIZED"}]}, 401)
        if coral.statuses:
            return Response(status_code=coral.statuses.pop(0))
        doc = await request.json()
        query, variables = doc["query"], doc["variables"]
        if "comments(storyID:" in query:
            return JSONResponse({"data": {"comments": {"nodes": coral.comments}}})
        for name in ("approveComment", "rejectComment"):
            if f"{name}(input:" in query:
                data = variables["input"]
                known = {c["id"]: c["revision"]["id"] for c in coral.comments}
                if known.get(data["commentID"]) != data["commentRevisionID"]:
                    return JSONResponse({"errors": [{"message": "COMMENT_NOT_FOUND"}]})
                coral.mutations.append((name, data))
                status = "APPROVED" if name == "approveComment" else "REJECTED"
                return JSONResponse(
                    {"data": {name: {"comment": {"id": data["commentID"], "status": status}}}}
                )
        return JSONResponse({"errors": [{"message": "unknown operation"}]})

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/api/graphql", graphql, methods=["POST"])]),
            host="127.0.0.1", port=port, log_level="warning", lifespan="off",
        )
    )  # fmt: skip
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: asyncio.sleep(0, result=server.started))
    coral.url = f"http://127.0.0.1:{port}/api/graphql"
    try:
        yield coral
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def write_back(settings: Settings) -> AsyncIterator[CoralSync]:
    redis = Redis.from_url(settings.resolved_redis_url())
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_s) as client:
        sync = CoralSync(settings, redis, name="coral-1", client=client)
        await sync.ensure_group()
        task = asyncio.create_task(sync.run())
        try:
            yield sync
        finally:
            sync.request_stop()
            await asyncio.wait_for(task, 15)
            await redis.aclose()


def _settings(settings: Settings, url: str, **over: Any) -> Settings:
    return settings.with_overrides(
        coral_secrets=(SECRET,), coral_api_url=url, coral_api_token=TOKEN,
        webhook_backoff_s=0.05, webhook_backoff_max_s=0.2, webhook_timeout_s=2.0, **over,
    )  # fmt: skip


async def _phase(api: Api, coral: FakeCoral, text: str, n: int) -> dict[str, Any]:
    """Coral's phase call, then Coral storing the comment under its own ids."""
    body = payload(text)
    r = await api.client.post("/v1/coral/moderate", content=body, headers=signed(body, SECRET))
    assert r.status_code == 200, r.text
    coral.store(text, n)
    answer: dict[str, Any] = r.json()
    return answer


async def _our_id(rds: Redis, text: str) -> str:
    digest = links.fingerprint(text)
    for key in await rds.keys("mod:coral:link:*"):
        if (await rds.hget(key, "text_digest")) == digest.encode():
            return str(key.decode().rsplit(":", 1)[1])
    raise AssertionError(f"no link for {text!r}")


async def test_a_decision_after_the_budget_reaches_a_coral_that_was_down(
    settings: Settings, rds: Redis
) -> None:
    async with fake_coral() as coral:
        s = _settings(settings, coral.url, coral_budget_ms=100)
        async with running_api(s) as api, write_back(s) as sync:
            # No worker: the phase cannot decide in time and answers hold.
            text = "A kind and thoughtful comment about the budget."
            answer = await _phase(api, coral, text, 1)
            assert answer == {"status": "SYSTEM_WITHHELD", "actions": []}
            link = await links.load_link(rds, Keys(), await _our_id(rds, text))
            assert link is not None and link.told == links.WITHHELD and not link.coral_id
            coral.statuses = [503, 503, 500, 502]  # Coral is down for a while
            async with running_worker(s):  # the late decision: approved

                async def applied() -> bool:
                    return len(coral.mutations) >= 1

                await wait_for(applied, timeout=20)
            await asyncio.sleep(0.3)  # no duplicate follows
            stats = (await api.client.get("/v1/stats", headers=api.auth("moderator"))).json()
        assert coral.mutations == [("approveComment", {
            "commentID": "coral-c1", "commentRevisionID": "coral-r1",
            "clientMutationId": f"moderation-{link.comment_id}-approved"})]  # fmt: skip
        assert sync.retried >= 4 and sync.failed == 0 and coral.unauthorized == 0
        assert stats["coral"]["write_back"] == {"backlog": 0, "failures": 0}
        after = await links.load_link(rds, Keys(), link.comment_id)
        assert after is not None and after.told == links.APPROVED
        assert (after.coral_id, after.coral_revision_id) == ("coral-c1", "coral-r1")


async def test_moderators_decisions_are_written_back_and_in_time_answers_are_not(
    settings: Settings, rds: Redis
) -> None:
    async with fake_coral() as coral:
        s = _settings(settings, coral.url, coral_budget_ms=5000)
        async with running_api(s) as api, write_back(s), running_worker(s):
            toxic = await _phase(api, coral, "shut the fuck up you idiot", 1)
            assert toxic["status"] == "SYSTEM_WITHHELD"  # held in time: told
            fine = await _phase(api, coral, "Thank you for this clear explainer, it's good.", 2)
            assert fine == {}  # approved in time: told
            await asyncio.sleep(0.5)
            assert coral.mutations == []  # nothing later to say yet
            held_id = await _our_id(rds, "shut the fuck up you idiot")
            r = await api.client.post(
                f"/v1/moderation/comments/{held_id}/decision",
                json={"action": "reject", "reason": "toxic"}, headers=api.auth("moderator"),
            )  # fmt: skip
            assert r.status_code == 200, r.text
            fine_id = await _our_id(rds, "Thank you for this clear explainer, it's good.")
            r = await api.client.post(
                f"/v1/moderation/comments/{fine_id}/decision",
                json={"action": "reject", "reason": "off-topic", "expected_status": "approved"},
                headers=api.auth("moderator"),
            )  # fmt: skip
            assert r.status_code == 200, r.text

            async def both() -> bool:
                return len(coral.mutations) >= 2

            await wait_for(both, timeout=15)
            await asyncio.sleep(0.3)
        assert sorted((name, data["commentID"]) for name, data in coral.mutations) == [
            ("rejectComment", "coral-c1"), ("rejectComment", "coral-c2")]  # fmt: skip


async def test_a_coral_that_never_recovers_dead_letters_visibly(
    settings: Settings, rds: Redis
) -> None:
    async with fake_coral() as coral:
        s = _settings(settings, coral.url, coral_budget_ms=100, webhook_retry_for_s=0.5)
        async with running_api(s) as api, write_back(s) as sync:
            await _phase(api, coral, "Nobody scores this in time.", 1)
            link_id = await _our_id(rds, "Nobody scores this in time.")
            coral.statuses = [503] * 1000
            async with running_worker(s):

                async def dead() -> bool:
                    return sync.failed >= 1

                await wait_for(dead, timeout=20)
            stats = (await api.client.get("/v1/stats", headers=api.auth("moderator"))).json()
            assert stats["coral"]["write_back"] == {"backlog": 0, "failures": 1}
            assert coral.mutations == []
            # Admins see the failure like a webhook endpoint's, and replay it once Coral is back.
            admin = api.auth("admin")
            hooks = "/v1/moderation/webhooks/coral"
            listed = (await api.client.get(f"{hooks}/failures", headers=admin)).json()
            assert [f["payload"] for f in listed["failures"]] == [{"comment_id": link_id}]
            assert listed["failures"][0]["error"] == "HTTP 503"
            assert (await api.client.delete(hooks, headers=admin)).status_code == 409
            coral.statuses = []
            r = await api.client.post(f"{hooks}/replay", json={}, headers=admin)
            assert r.json() == {"replayed": 1}

            async def applied() -> bool:
                return len(coral.mutations) == 1

            await wait_for(applied, timeout=10)
        assert coral.mutations[0][0] == "approveComment"


def test_the_phase_text_and_corals_html_body_have_one_fingerprint() -> None:
    html = "<p>Rates &amp; fares: it&#39;s <b>up</b>.</p><p>Second line<br>third</p>"
    text = "Rates & fares: it's up.\nSecond line\nthird"  # Coral's plain-text phase body
    assert links.fingerprint(html) == links.fingerprint(text) == links.fingerprint(html + "\n")
    assert links.fingerprint(text) != links.fingerprint("Rates & fares: it's down.")


async def test_with_the_write_back_off_its_group_never_holds_trimming(
    settings: Settings, rds: Redis
) -> None:
    keys = Keys()
    await remove_group(rds, keys)  # no stream yet: nothing to do, no error
    await rds.xadd(keys.events, {"id": "x"})
    await rds.xgroup_create(keys.events, CORAL_GROUP, id="0")
    await remove_group(rds, keys)
    assert CORAL_GROUP not in [g["name"].decode() for g in await rds.xinfo_groups(keys.events)]


async def test_moderation_webhooks_runs_the_write_back_beside_the_sender(
    settings: Settings, rds: Redis
) -> None:
    async with fake_coral() as coral:
        s = _settings(settings, coral.url, coral_budget_ms=100)
        env = {**os.environ, **settings_env(s), "PYTHONUNBUFFERED": "1"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "moderation", "webhooks", env=env,
            cwd=ROOT, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:

            async def grouped() -> bool:
                if not await rds.exists(Keys().events):
                    return False
                groups = await rds.xinfo_groups(Keys().events)
                return CORAL_GROUP in [g["name"].decode() for g in groups]

            await wait_for(grouped, timeout=20)
            async with running_api(s) as api:
                await _phase(api, coral, "Decided after the budget, by a worker.", 1)
                async with running_worker(s):

                    async def applied() -> bool:
                        return len(coral.mutations) == 1

                    await wait_for(applied, timeout=20)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 15) == 0
        assert coral.mutations[0][0] == "approveComment"
