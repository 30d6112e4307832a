"""The whole path: POST → stream → worker → decision → GET, lists and counts."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from moderation.evaluation.corpus import prose
from moderation.keys import CommentField, Keys
from moderation.settings import Settings
from tests.conftest import Api, comment, running_worker, wait_for
from workers.scoring import ScoringWorker


async def test_comment_goes_in_decision_comes_out(api: Api, worker: ScoringWorker) -> None:
    r = await api.post_comment(comment(text="Thanks for the careful reporting on the council."))
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "pending"
    assert r.headers["location"] == f"/v1/comments/{body['id']}"

    async def decided() -> dict | None:
        got = await api.client.get(f"/v1/comments/{body['id']}", headers=api.auth())
        data = got.json()
        return data if data["status"] != "pending" else None

    data = await wait_for(decided)
    assert data["status"] == "approved"
    assert data["decided_by"] == "auto"
    assert set(data["scores"]) == {"toxicity"}
    assert data["scores"]["toxicity"] < 0.5
    assert data["thresholds"]["toxicity"] == 0.8
    assert data["model"]["name"] == "linear"
    assert data["reasons"] == []
    assert data["spam_score"] is not None
    assert data["text"] == "Thanks for the careful reporting on the council."
    assert data["created_at"].endswith("Z") and data["decided_at"].endswith("Z")


async def test_toxic_comment_is_held_with_reason(api: Api, worker: ScoringWorker) -> None:
    r = await api.post_comment(comment(text="you are a fucking idiot, shut the fuck up"), wait=5)
    assert r.status_code == 201, r.text
    data = r.json()
    assert data["status"] == "held"
    assert data["reasons"][0]["code"] == "toxicity"
    assert data["reasons"][0]["label"] == "toxicity"
    assert data["reasons"][0]["score"] >= data["reasons"][0]["threshold"]


async def test_text_is_stored_verbatim_but_scored_normalised(
    api: Api, worker: ScoringWorker
) -> None:
    evasive = "you are a f\u200bu\u200bc\u200bk\u200bi\u200bn\u200bg idiot, shut the ｆｕｃｋ up"
    r = await api.post_comment(comment(text=evasive), wait=5)
    data = r.json()
    assert data["text"] == evasive
    assert data["status"] == "held"


async def test_wait_returns_pending_at_deadline_without_worker(api: Api) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    r = await api.post_comment(comment(), wait=0.3)
    elapsed = loop.time() - started
    assert r.status_code == 202
    assert r.json()["status"] == "pending"
    assert 0.25 <= elapsed < 2.0


async def test_comments_accepted_before_any_worker_are_decided(
    api: Api, settings: Settings, rds: Redis
) -> None:
    ids = [
        (await api.post_comment(comment(text=prose(i), author=f"e{i}"))).json()["id"]
        for i in range(5)
    ]
    async with running_worker(settings):

        async def all_done() -> bool:
            statuses = [await rds.hget(Keys().comment(i), CommentField.STATUS) for i in ids]
            return all(s == b"approved" for s in statuses)

        await wait_for(all_done)
