"""Threads: ``parent_id`` must name a comment of the same article; ``?thread=true`` lists
top-level comments with their approved replies nested; a hidden parent keeps its replies
reachable."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from moderation.keys import Keys
from tests.conftest import Api, comment
from tests.moderation_support import hold
from workers.scoring import ScoringWorker


async def _approved(api: Api, **kw: Any) -> str:
    r = await api.post_comment(comment(**kw), wait=5)
    assert r.status_code == 201 and r.json()["status"] == "approved", r.text
    return str(r.json()["id"])


async def test_parent_must_exist(api: Api) -> None:
    r = await api.post_comment(comment(parent_id="01KAXD6Y8V3N9TQ2J5ZB7W4H1C"))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "parent_id"
    made_up = await api.post_comment(comment(parent_id="not-an-id"))
    assert made_up.status_code == 422 and made_up.json()["error"]["field"] == "parent_id"


async def test_parent_must_be_on_the_same_article(api: Api, worker: ScoringWorker) -> None:
    other = await _approved(api, article="elsewhere")
    r = await api.post_comment(comment(article="here", parent_id=other))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "parent_id"
    assert "another article" in r.json()["error"]["message"]


async def test_threaded_list_nests_replies(api: Api, worker: ScoringWorker) -> None:
    a = await _approved(api, article="t1", text="First top-level comment.")
    b = await _approved(api, article="t1", text="Second top-level comment.")
    r1 = await _approved(api, article="t1", text="A reply to the first.", parent_id=a)
    r2 = await _approved(api, article="t1", text="A reply to that reply.", parent_id=r1)
    flat = (await api.client.get("/v1/articles/t1/comments")).json()["comments"]
    assert [c["id"] for c in flat] == [a, b, r1, r2]  # the flat list is unchanged

    page = await api.client.get("/v1/articles/t1/comments", params={"thread": "true"})
    assert page.status_code == 200
    roots = page.json()["comments"]
    assert [c["id"] for c in roots] == [a, b]
    assert [c["id"] for c in roots[0]["replies"]] == [r1, r2]  # one level: the whole thread
    assert roots[0]["reply_count"] == 2 and roots[1]["replies"] == []
    assert roots[0]["replies"][1]["parent_id"] == r1


async def test_threads_paginate(api: Api, worker: ScoringWorker) -> None:
    roots = [await _approved(api, article="t2", text=f"Top comment number {i}.") for i in range(3)]
    replies = [
        await _approved(api, article="t2", text=f"Reply number {i}.", parent_id=roots[0])
        for i in range(3)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"thread": "true", "limit": "2", "replies": "2"}
        if cursor:
            params["cursor"] = cursor
        body = (await api.client.get("/v1/articles/t2/comments", params=params)).json()
        seen += [c["id"] for c in body["comments"]]
        if body["comments"][0]["id"] == roots[0]:
            first = body["comments"][0]
            assert [c["id"] for c in first["replies"]] == replies[:2]
            assert first["reply_count"] == 3
            rest = await api.client.get(
                "/v1/articles/t2/comments",
                params={"replies_of": roots[0], "cursor": first["replies_next_cursor"]},
            )
            assert [c["id"] for c in rest.json()["comments"]] == replies[2:]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == roots


async def test_a_hidden_parent_keeps_its_replies_reachable(
    api: Api, worker: ScoringWorker, rds: Redis
) -> None:
    parent = await _approved(api, article="t3", text="A parent that will be removed.")
    reply = await _approved(api, article="t3", text="A reply that stays.", parent_id=parent)
    h = api.auth("moderator")
    removed = await api.client.post(
        f"/v1/moderation/comments/{parent}/decision",
        json={"action": "reject", "reason": "off-topic", "expected_status": "approved"},
        headers=h,
    )
    assert removed.status_code == 200, removed.text
    roots = (await api.client.get("/v1/articles/t3/comments", params={"thread": "true"})).json()[
        "comments"
    ]
    assert len(roots) == 1
    assert roots[0]["id"] == parent and roots[0]["status"] == "unavailable"
    assert roots[0]["text"] is None and roots[0]["author"] is None
    assert [c["id"] for c in roots[0]["replies"]] == [reply]
    # When the reply goes too, the empty thread leaves the list.
    await api.client.post(
        f"/v1/moderation/comments/{reply}/decision",
        json={"action": "reject", "reason": "other", "expected_status": "approved"},
        headers=h,
    )
    after = await api.client.get("/v1/articles/t3/comments", params={"thread": "true"})
    assert after.json()["comments"] == []
    assert await rds.zcard(Keys().thread_roots("t3")) == 0


async def test_a_reply_to_a_held_comment_is_accepted(api: Api, rds: Redis) -> None:
    first = await api.post_comment(comment(article="t4"))
    await hold(rds, first.json()["id"])
    r = await api.post_comment(comment(article="t4", parent_id=first.json()["id"]))
    assert r.status_code == 202


async def test_thread_parameter_is_checked(api: Api) -> None:
    r = await api.client.get("/v1/articles/x/comments", params={"thread": "maybe"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "thread"
    r = await api.client.get("/v1/articles/x/comments", params={"thread": "1", "replies": "101"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "replies"
