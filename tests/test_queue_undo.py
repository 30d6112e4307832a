"""Undo of a moderator's own recent decisions (``POST /v1/moderation/decisions/undo``) and the
matching count of a filtered queue (``moderation.review.queue.queue_match_count``), through
the ASGI app against a real Redis."""

from __future__ import annotations

from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import Reason
from moderation.review.queue import QueueQuery, queue_match_count
from moderation.settings import Settings
from tests.conftest import Api, running_api
from tests.moderation_support import held, status_of

SPAM = [Reason(code="spam", score=0.97, threshold=0.5, message="spam 0.97 ≥ 0.50")]


async def test_undo_puts_a_bulk_decision_back_in_the_queue_audited(api: Api, rds: Redis) -> None:
    ids = [await held(api, rds, article=f"a{n % 2}", text=f"Comment {n}") for n in range(3)]
    mod = api.auth("moderator")
    r = await api.client.post(
        "/v1/moderation/decisions",
        json={"ids": ids, "action": "reject", "reason": "spam"},
        headers=mod,
    )
    assert r.json()["applied"] == 3
    counts = (await api.client.get("/v1/moderation/queue/counts", headers=mod)).json()
    assert counts["held"] == 0

    r = await api.client.post("/v1/moderation/decisions/undo", json={"ids": ids}, headers=mod)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["applied"] == 3, body
    assert {x["undone"] for x in body["results"]} == {"rejected"}
    for cid in ids:
        assert await status_of(rds, cid) == "held"
    counts = (await api.client.get("/v1/moderation/queue/counts", headers=mod)).json()
    assert counts["held"] == 3
    assert {a["article_id"]: a["held"] for a in counts["articles"]} == {"a0": 2, "a1": 1}
    # The held queue's risk order has them again, with the automatic decision's reasons.
    queue = (await api.client.get("/v1/moderation/queue?order=riskiest", headers=mod)).json()
    assert {c["id"] for c in queue["comments"]} == set(ids)
    audit = (
        await api.client.get("/v1/moderation/audit", params={"target_type": "comment"}, headers=mod)
    ).json()
    undos = [e for e in audit["entries"] if e["action"] == "comment.undo"]
    assert len(undos) == 3
    assert undos[0]["before"]["status"] == "rejected" and undos[0]["after"]["status"] == "held"
    # A second undo finds nothing to undo (the comments are held now).
    r = await api.client.post("/v1/moderation/decisions/undo", json={"ids": ids}, headers=mod)
    assert r.json()["refused"] == 3


async def test_undo_is_only_for_ones_own_decision_inside_the_window(
    api: Api, rds: Redis, settings: Settings
) -> None:
    cid = await held(api, rds)
    r = await api.client.post(
        f"/v1/moderation/comments/{cid}/decision",
        json={"action": "approve"},
        headers=api.auth("admin"),
    )
    assert r.status_code == 200
    # Someone else's decision: refused, nothing changes.
    r = await api.client.post(
        "/v1/moderation/decisions/undo", json={"ids": [cid]}, headers=api.auth("moderator")
    )
    assert r.json()["results"] == [
        {"id": cid, "outcome": "refused", "status": "approved", "undone": None}
    ]
    assert await status_of(rds, cid) == "approved"
    # A window of zero: too late for anyone.
    async with running_api(settings.with_overrides(undo_window_s=0.0)) as late:
        other = await held(late, rds)
        await late.client.post(
            f"/v1/moderation/comments/{other}/decision",
            json={"action": "approve"},
            headers=late.auth("moderator"),
        )
        r = await late.client.post(
            "/v1/moderation/decisions/undo", json={"ids": [other]}, headers=late.auth("moderator")
        )
        assert r.json()["refused"] == 1
        assert await status_of(rds, other) == "approved"


async def test_undo_refuses_bad_input(api: Api) -> None:
    mod = api.auth("moderator")
    r = await api.client.post("/v1/moderation/decisions/undo", json={"ids": []}, headers=mod)
    assert r.status_code == 422 and "ids" in r.text
    r = await api.client.post("/v1/moderation/decisions/undo", json={"ids": ["../x"]}, headers=mod)
    assert r.status_code == 422 and "not a comment id" in r.text
    r = await api.client.post(
        "/v1/moderation/decisions/undo", json={"ids": ["x"], "extra": 1}, headers=mod
    )
    assert r.status_code in (400, 422)


async def test_matching_count_of_a_filtered_queue(api: Api, rds: Redis) -> None:
    keys = Keys()
    for n in range(5):
        await held(api, rds, article="a1" if n < 3 else "a2", author=f"u{n % 2}", risk=0.5 + n / 10)
    spam = [await held(api, rds, article="a2", reasons=SPAM, risk=0.97) for _ in range(2)]
    assert spam

    async def count(**kw: object) -> tuple[int, bool]:
        c = await queue_match_count(rds, keys, QueueQuery(**kw))  # type: ignore[arg-type]
        return c.n, c.exact

    assert await count() == (7, True)
    assert await count(article="a1") == (3, True)
    assert await count(article="a2") == (4, True)
    assert await count(author="u0") == (3, True)
    assert await count(author="u1") == (4, True)
    assert await count(reason="spam") == (2, True)
    assert await count(reason="toxicity:insult", article="a2") == (2, True)
    assert await count(min_score=0.75) == (4, True)
    assert await count(article="a1", min_score=0.55) == (2, True)
    assert await count(article="a9") == (0, True)
