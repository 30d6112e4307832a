"""Coral Talk's external moderation phase: signed payloads answered with our decision."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.settings import Settings
from tests.conftest import running_api, running_worker

SECRET = "ssc_coral-phase-secret"


def payload(text: str, **over: Any) -> bytes:
    doc = {
        "action": "NEW",
        "comment": {"body": text, "parentID": None},
        "author": {"id": "coral-user-1", "role": "COMMENTER"},
        "story": {"id": "story-1", "url": "https://news.example/story-1"},
        "site": {"id": "site-1"},
        "tenantID": "tenant-1",
        "tenantDomain": "news.example",
        **over,
    }
    return json.dumps(doc, indent=2).encode()  # Coral pretty-prints


def signed(body: bytes, *secrets: str) -> dict[str, str]:
    sigs = [hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets]
    return {"X-Coral-Signature": ",".join(f"sha256={x}" for x in sigs),
            "Content-Type": "application/json"}  # fmt: skip


async def test_decisions_are_answered_in_corals_terms(settings: Settings, rds: Redis) -> None:
    s = settings.with_overrides(coral_secrets=(SECRET,), coral_budget_ms=5000)
    async with running_api(s) as api, running_worker(s):
        body = payload("What a thoughtful piece, thank you.")
        r = await api.client.post("/v1/coral/moderate", content=body,
                                  headers=signed(body, "old-secret", SECRET))  # fmt: skip
        assert r.status_code == 200 and r.json() == {}  # approved: no opinion
        body = payload("shut the fuck up you idiot")
        r = await api.client.post("/v1/coral/moderate", content=body, headers=signed(body, SECRET))
        assert r.json() == {
            "status": "SYSTEM_WITHHELD",
            "actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}],
        }
        stats = (await api.client.get("/v1/stats", headers=api.auth("moderator"))).json()
        assert {k: stats["coral"][k] for k in ("answered", "missed")} == {
            "answered": 2,
            "missed": 0,
        }
    assert await rds.zcard(Keys().approved("story-1")) == 1


async def test_a_bad_signature_is_refused_with_no_side_effects(
    settings: Settings, rds: Redis
) -> None:
    s = settings.with_overrides(coral_secrets=(SECRET,))
    async with running_api(s) as api:
        before = await rds.dbsize()
        body = payload("hello")
        for headers in (signed(body, "wrong"), {"Content-Type": "application/json"},
                        signed(body + b" ", SECRET)):  # fmt: skip
            r = await api.client.post("/v1/coral/moderate", content=body, headers=headers)
            assert r.status_code == 401 and r.json()["error"]["field"] == "X-Coral-Signature"
        # Nothing stored: no comment, no replay marker (auth-failure counters aside).
        assert not await rds.keys("mod:comment:*") and not await rds.keys("mod:coral:*")
        assert await rds.dbsize() - before <= 1


async def test_a_replay_is_refused(settings: Settings, rds: Redis) -> None:
    s = settings.with_overrides(coral_secrets=(SECRET,), coral_budget_ms=100)
    async with running_api(s) as api:
        body = payload("only once")
        first = await api.client.post(
            "/v1/coral/moderate", content=body, headers=signed(body, SECRET)
        )
        assert first.status_code == 200
        again = await api.client.post(
            "/v1/coral/moderate", content=body, headers=signed(body, SECRET)
        )
        assert again.status_code == 409
        assert len(await rds.keys("mod:comment:*")) == 1


async def test_no_decision_in_time_holds_or_says_nothing(settings: Settings, rds: Redis) -> None:
    # No worker runs: the queue cannot decide within the budget.
    s = settings.with_overrides(coral_secrets=(SECRET,), coral_budget_ms=150)
    async with running_api(s) as api:
        body = payload("nobody is scoring this")
        r = await api.client.post("/v1/coral/moderate", content=body, headers=signed(body, SECRET))
        assert r.status_code == 200 and r.json() == {"status": "SYSTEM_WITHHELD", "actions": []}
        stats = (await api.client.get("/v1/stats", headers=api.auth("moderator"))).json()
        assert stats["coral"]["missed"] == 1
    async with running_api(s.with_overrides(coral_on_timeout="none")) as api:
        body = payload("nobody is scoring this either")
        r = await api.client.post("/v1/coral/moderate", content=body, headers=signed(body, SECRET))
        assert r.status_code == 200 and r.json() == {}
    # The comments are queued all the same: scored once a worker runs.
    assert len(await rds.keys("mod:comment:*")) == 2
