"""Idempotency, article listings with cursors, counts with caching headers, CORS."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import Role
from moderation.store.apikeys import create_key
from tests.conftest import Api, comment
from workers.scoring import ScoringWorker

# --- idempotency ------------------------------------------------------------------------------


async def test_same_key_same_body_returns_the_original(api: Api, rds: Redis) -> None:
    h = {"Idempotency-Key": "req-1"}
    first = await api.post_comment(comment(text="once only"), headers=h)
    again = await api.post_comment(comment(text="once only"), headers=h)
    assert first.status_code == 202
    assert again.status_code == 202  # still pending: same answer
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await rds.xlen(Keys().stream) == 1


async def test_key_order_and_whitespace_do_not_matter(api: Api) -> None:
    h = {**api.auth(), "Idempotency-Key": "req-2", "Content-Type": "application/json"}
    a = b'{"article_id":"a1","text":"hi","author":{"id":"u","name":"n"}}'
    b = b'{ "author": {"name": "n", "id": "u"},\n "text": "hi", "article_id": "a1" }'
    first = await api.client.post("/v1/comments", content=a, headers=h)
    second = await api.client.post("/v1/comments", content=b, headers=h)
    assert first.json()["id"] == second.json()["id"]


async def test_same_key_different_body_is_409(api: Api) -> None:
    h = {"Idempotency-Key": "req-3"}
    first = await api.post_comment(comment(text="version one"), headers=h)
    clash = await api.post_comment(comment(text="version two"), headers=h)
    assert clash.status_code == 409
    err = clash.json()["error"]
    assert err["code"] == "idempotency_key_reused"
    assert err["field"] == "Idempotency-Key"
    assert err["comment_id"] == first.json()["id"]


async def test_concurrent_retries_create_one_comment(api: Api, rds: Redis) -> None:
    h = {"Idempotency-Key": "req-4"}
    replies = await asyncio.gather(
        *(api.post_comment(comment(text="racing"), headers=h) for _ in range(20))
    )
    assert {r.json()["id"] for r in replies} == {replies[0].json()["id"]}
    assert await rds.xlen(Keys().stream) == 1


async def test_replay_after_decision_returns_current_state(api: Api, worker: ScoringWorker) -> None:
    h = {"Idempotency-Key": "req-5"}
    first = await api.post_comment(comment(text="fine words"), wait=5, headers=h)
    assert first.status_code == 201
    again = await api.post_comment(comment(text="fine words"), headers=h)
    assert again.status_code == 200
    assert again.json()["status"] == "approved"
    assert again.json()["id"] == first.json()["id"]


async def test_idempotency_keys_are_scoped_per_site(api: Api, rds: Redis) -> None:
    """Another site's key with the same Idempotency-Key posts its own comment; another key of
    the same site (a rotated one) replays the first."""
    h = {"Idempotency-Key": "shared"}
    other = await create_key(rds, Keys(), "other-site", Role.SITE, site="other")
    rotated = await create_key(rds, Keys(), "site-rotated", Role.SITE)
    a = await api.post_comment(comment(text="from site"), headers=h)
    b = await api.client.post(
        "/v1/comments",
        json=comment(text="from the other site"),
        headers={**h, "Authorization": f"Bearer {other}"},
    )
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] != b.json()["id"]
    again = await api.client.post(
        "/v1/comments",
        json=comment(text="from site"),
        headers={**h, "Authorization": f"Bearer {rotated}"},
    )
    assert again.status_code in (200, 202)
    assert again.json()["id"] == a.json()["id"]


async def test_bad_idempotency_key(api: Api) -> None:
    r = await api.post_comment(comment(), headers={"Idempotency-Key": "x" * 300})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "Idempotency-Key"


# --- article listing --------------------------------------------------------------------------


async def _post_approved(api: Api, article: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        r = await api.post_comment(comment(article=article, text=f"Comment number {i}"), wait=5)
        assert r.json()["status"] == "approved", r.text
        ids.append(r.json()["id"])
    return ids


async def test_pagination_walks_every_comment_once(api: Api, worker: ScoringWorker) -> None:
    ids = await _post_approved(api, "story-p", 7)
    await api.post_comment(comment(article="story-p", text="fuck you, you fucking moron"), wait=5)
    for order, expected in (("oldest", ids), ("newest", list(reversed(ids)))):
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params = {"limit": "3", "order": order}
            if cursor:
                params["cursor"] = cursor
            r = await api.client.get("/v1/articles/story-p/comments", params=params)
            assert r.status_code == 200
            data = r.json()
            assert set(data) == {"comments", "next_cursor"}
            seen += [c["id"] for c in data["comments"]]
            pages += 1
            cursor = data["next_cursor"]
            if cursor is None:
                break
        assert seen == expected
        assert pages == 3
    public = (await api.client.get("/v1/articles/story-p/comments")).json()["comments"][0]
    assert "email" not in public["author"] and "scores" not in public
    assert public["status"] == "approved"


async def test_listing_rejects_bad_parameters(api: Api) -> None:
    base = "/v1/articles/x/comments"
    assert (await api.client.get(base, params={"limit": "0"})).status_code == 422
    assert (await api.client.get(base, params={"limit": "101"})).status_code == 422
    assert (await api.client.get(base, params={"order": "random"})).status_code == 422
    r = await api.client.get(base, params={"cursor": "garbage!"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "cursor"


async def test_empty_article_lists_nothing(api: Api) -> None:
    r = await api.client.get("/v1/articles/never-commented/comments")
    assert r.json() == {"comments": [], "next_cursor": None}


# --- counts -----------------------------------------------------------------------------------


async def test_counts_are_exact_and_cacheable(api: Api, worker: ScoringWorker) -> None:
    await _post_approved(api, "c-a", 3)
    await _post_approved(api, "c-b", 1)
    held = await api.post_comment(comment(article="c-b", text="fuck off you stupid idiot"), wait=5)
    assert held.json()["status"] == "held"
    r = await api.client.get(
        "/v1/counts", params=[("article", "c-a"), ("article", "c-b"), ("article", "c-none")]
    )
    assert r.status_code == 200
    assert r.json() == {"counts": {"c-a": 3, "c-b": 1, "c-none": 0}}
    assert r.headers["cache-control"].startswith("public, max-age=")
    etag = r.headers["etag"]
    again = await api.client.get(
        "/v1/counts",
        params=[("article", "c-a"), ("article", "c-b"), ("article", "c-none")],
        headers={"If-None-Match": etag},
    )
    assert again.status_code == 304 and again.content == b""
    await _post_approved(api, "c-a", 1)
    changed = await api.client.get(
        "/v1/counts", params=[("article", "c-a")], headers={"If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed.json()["counts"]["c-a"] == 4


async def test_counts_are_public_and_cors_enabled(api: Api) -> None:
    r = await api.client.get(
        "/v1/counts", params={"article": "x"}, headers={"Origin": "https://news.example"}
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    pre = await api.client.options(
        "/v1/counts",
        headers={"Origin": "https://news.example", "Access-Control-Request-Method": "GET"},
    )
    assert pre.status_code == 200
    assert "GET" in pre.headers["access-control-allow-methods"]


async def test_counts_limits(api: Api) -> None:
    assert (await api.client.get("/v1/counts")).status_code == 422
    many = [("article", f"a{i}") for i in range(101)]
    r = await api.client.get("/v1/counts", params=many)
    assert r.status_code == 422 and "at most 100" in r.json()["error"]["message"]
    exactly = [("article", f"a{i}") for i in range(100)]
    assert (await api.client.get("/v1/counts", params=exactly)).status_code == 200


async def test_counts_follow_the_approved_set(api: Api, worker: ScoringWorker, rds: Redis) -> None:
    ids = await _post_approved(api, "c-z", 2)

    async def count() -> int:
        r = await api.client.get("/v1/counts", params={"article": "c-z"})
        return int(r.json()["counts"]["c-z"])

    assert await count() == 2
    assert await rds.zcard(Keys().approved("c-z")) == 2
    assert set(await rds.zrange(Keys().approved("c-z"), 0, -1)) == {i.encode() for i in ids}
