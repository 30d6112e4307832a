"""Held-queue counts per article and per reason are derived counters that ``transition.lua``
moves with each comment: reading them costs O(1) in the queue's size, and after any mix of
automatic holds, single and bulk decisions and bans they equal a recount of the held queue."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.review.queue import held_tallies, recount_held
from moderation.settings import Settings
from tests.conftest import Api, comment, running_worker, wait_for
from tests.moderation_support import held

M = "/v1/moderation"


async def _decide(api: Api, cid: str, action: str) -> None:
    r = await api.client.post(
        f"{M}/comments/{cid}/decision",
        json={"action": action, **({"reason": "other"} if action == "reject" else {})},
        headers=api.auth("moderator"),
    )
    assert r.status_code == 200, r.text


async def _counts(api: Api) -> dict[str, Any]:
    r = await api.client.get(f"{M}/queue/counts", headers=api.auth("moderator"))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_held_counts_equal_a_recount_after_a_mix_of_actions(
    api: Api, rds: Redis, keys: Keys, settings: Settings
) -> None:
    # Held by hand (no reason code) on three articles, by three authors.
    ids = {
        (article, author): [await held(api, rds, article=article, author=author, text=f"{i}")]
        for i, (article, author) in enumerate(
            [("a1", "u1"), ("a1", "u2"), ("a2", "u2"), ("a2", "troll"), ("a3", "troll")]
        )
    }
    # Held by the worker, with its reason codes: a pre-moderated article.
    r = await api.client.patch(
        f"{M}/articles/pm/settings", json={"premoderate": True}, headers=api.auth("moderator")
    )
    assert r.status_code == 200, r.text
    async with running_worker(settings):
        for i in range(3):
            body = comment(article="pm", author=f"p{i}", text="A calm remark on the vote.")
            assert (await api.post_comment(body, wait=5)).json()["status"] == "held"

    async def consistent() -> dict[str, Any]:
        tallies = await held_tallies(rds, keys)
        assert tallies == await recount_held(rds, keys), tallies
        return {"articles": tallies[0], "reasons": tallies[1]}

    state = await consistent()
    assert state["articles"] == {"a1": 2, "a2": 2, "a3": 1, "pm": 3}
    assert state["reasons"] == {"unspecified": 5, "premoderated_article": 3}

    await _decide(api, ids[("a1", "u1")][0], "approve")
    await _decide(api, ids[("a2", "u2")][0], "reject")
    state = await consistent()
    assert state["articles"] == {"a1": 1, "a2": 1, "a3": 1, "pm": 3}

    held_pm = [item["id"] for item in await _queue(api, article="pm")]
    r = await api.client.post(
        f"{M}/decisions",
        json={"ids": held_pm[:2], "action": "approve"},
        headers=api.auth("moderator"),
    )
    assert r.status_code == 200, r.text
    state = await consistent()
    assert state["reasons"] == {"unspecified": 3, "premoderated_article": 1}

    r = await api.client.post(
        f"{M}/authors/troll/state",
        json={"state": "banned", "reject_pending": True},
        headers=api.auth("moderator"),
    )
    assert r.status_code == 200, r.text
    state = await consistent()
    assert state["articles"] == {"a1": 1, "pm": 1}  # emptied articles disappear
    assert state["reasons"] == {"unspecified": 1, "premoderated_article": 1}

    counts = await _counts(api)
    assert counts["held"] == 2
    assert counts["articles"] == [
        {"article_id": "a1", "site": "default", "held": 1},
        {"article_id": "pm", "site": "default", "held": 1},
    ]
    assert {r["reason"]: r["held"] for r in counts["reasons"]} == state["reasons"]

    # Everything decided: nothing is left over.
    for item in await _queue(api):
        await _decide(api, item["id"], "reject")
    await wait_for(lambda: _empty(rds, keys))
    assert await recount_held(rds, keys) == ({}, {})


async def _queue(api: Api, **params: Any) -> list[dict[str, Any]]:
    r = await api.client.get(f"{M}/queue", params=params, headers=api.auth("moderator"))
    assert r.status_code == 200, r.text
    return r.json()["comments"]  # type: ignore[no-any-return]


async def _empty(rds: Redis, keys: Keys) -> bool:
    return not await rds.exists(keys.held_counts, keys.held_articles)
