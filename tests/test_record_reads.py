"""Reads that fall through: a comment read from Redis and, once it left Redis, from the record
(SQL) gives byte-identical JSON — for ``GET /v1/comments/{id}`` and the public list."""

from __future__ import annotations

from redis.asyncio import Redis as AsyncRedis

from moderation.keys import Keys
from moderation.record import Record
from moderation.settings import Settings
from tests.conftest import comment, running_api, running_worker, wait_for
from tests.record_support import archive_all


async def test_a_comment_reads_the_same_from_either_tier(
    record_settings: Settings, record: Record, rds: AsyncRedis
) -> None:
    settings = record_settings
    keys = Keys(settings.key_prefix)
    async with running_api(settings) as api, running_worker(settings):
        ids = []
        texts = (
            "The figures in the third table do not add up, as far as I can tell.",
            "Thanks for covering the council meeting; nobody else did.",
            "Could you publish the full report the article quotes from?",
        )
        for i, text in enumerate(texts):
            body = comment(
                article="a/tiers",
                author=f"reader-{i}",
                text=text,
                context={"ip": f"203.0.113.{i + 1}", "user_agent": "Mozilla/5.0"},
            )
            ids.append((await api.post_comment(body)).json()["id"])

        async def decided() -> bool:
            for cid in ids:
                r = await api.client.get(f"/v1/comments/{cid}", headers=api.auth())
                if r.json()["status"] != "approved":
                    return False
            return True

        await wait_for(decided, timeout=30)
        await archive_all(settings, record)

        async def read() -> tuple[list[bytes], list[bytes]]:
            one = [
                (await api.client.get(f"/v1/comments/{c}", headers=api.auth())).content for c in ids
            ]
            lists = [
                (
                    await api.client.get(
                        "/v1/articles/a/tiers/comments", params={"limit": 2, "order": order}
                    )
                ).content
                for order in ("oldest", "newest")
            ]
            return one, lists

        before = await read()
        # The first two leave Redis (as retention will move them): their hash and set entry.
        for cid in ids[:2]:
            await rds.delete(keys.comment(cid))
            await rds.zrem(keys.approved("a/tiers"), cid)
        assert await rds.exists(keys.comment(ids[0])) == 0
        after = await read()
        assert after == before

        # A comment that is nowhere is still a 404.
        missing = "0" * 26
        r = await api.client.get(f"/v1/comments/{missing}", headers=api.auth())
        assert r.status_code == 404
