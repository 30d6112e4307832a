"""The moderator's view of one comment falls through to the record: once a comment's hash and
its audit index left Redis, ``/moderate/comments/{id}`` renders the same page and
``GET /v1/moderation/comments/{id}`` the same JSON, from the record (SQL) alone."""

from __future__ import annotations

from redis.asyncio import Redis as AsyncRedis

from moderation.keys import Keys
from moderation.record import Record
from moderation.settings import Settings
from tests.conftest import comment, running_api, running_worker, wait_for
from tests.moderation_support import sign_in
from tests.record_support import archive_all

M = "/v1/moderation"


async def test_the_comment_page_and_its_json_read_from_the_record(
    record_settings: Settings, record: Record, rds: AsyncRedis
) -> None:
    settings = record_settings
    keys = Keys(settings.key_prefix)
    async with running_api(settings) as api, running_worker(settings):
        body = comment(
            article="a/pages",
            author="reader-p",
            text="The minutes of the planning meeting say otherwise, page four.",
        )
        cid = (await api.post_comment(body)).json()["id"]

        async def approved() -> bool:
            r = await api.client.get(f"/v1/comments/{cid}", headers=api.auth())
            return bool(r.json()["status"] == "approved")

        await wait_for(approved, timeout=30)
        # A moderator overrides the automatic decision: the page shows both, and the audit
        # trail has an entry of its own.
        r = await api.client.post(
            f"{M}/comments/{cid}/decision",
            json={"action": "reject", "reason": "off-topic", "expected_status": "approved"},
            headers=api.auth("moderator"),
        )
        assert r.status_code == 200, r.text
        await archive_all(settings, record)
        await sign_in(api.client, api.moderator_key)

        async def read() -> tuple[str, bytes]:
            page = await api.client.get(f"/moderate/comments/{cid}")
            assert page.status_code == 200, page.text[:300]
            view = await api.client.get(f"{M}/comments/{cid}", headers=api.auth("moderator"))
            assert view.status_code == 200, view.text
            return page.text, view.content

        before = await read()
        assert "planning meeting" in before[0] and "Reader reader-p" in before[0]
        # The comment leaves Redis with its audit index, as retention will move them.
        await rds.delete(keys.comment(cid), keys.audit_index("comment", cid))
        assert await rds.exists(keys.comment(cid)) == 0
        after = await read()
        assert after == before

        missing = "0" * 26
        r = await api.client.get(f"/moderate/comments/{missing}")
        assert r.status_code == 404
