"""What the record makes possible, on PostgreSQL and SQLite: moderators search decided comments
(text, author, article, status, dates; newest first; paginated), an author's whole history and
the audit trail read past what Redis still holds."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis as AsyncRedis

from moderation.keys import Keys
from moderation.messages import Role
from moderation.record import Record
from moderation.settings import Settings
from moderation.store.apikeys import create_key
from tests.conftest import Api, comment, running_api, running_worker, wait_for
from tests.moderation_support import sign_in
from tests.record_support import archive_all

M = "/v1/moderation"


async def _post_all(api: Api, items: list[tuple[str, str, str]]) -> list[str]:
    ids = []
    for author, article, text in items:
        r = await api.post_comment(comment(article=article, author=author, text=text))
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    return ids


async def _all_pages(api: Api, path: str, params: dict[str, Any], key: str) -> list[Any]:
    out: list[Any] = []
    cursor = None
    for _ in range(50):
        r = await api.client.get(
            path,
            params={**params, **({"cursor": cursor} if cursor else {})},
            headers=api.auth("moderator"),
        )
        assert r.status_code == 200, r.text
        body = r.json()
        out += body[key]
        cursor = body["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError("pages never ended")


async def test_search_history_and_audit_from_the_record(
    record_settings: Settings, record: Record, rds: AsyncRedis
) -> None:
    settings = record_settings
    keys = Keys(settings.key_prefix)
    items = [
        ("ana", "a/budget", "The council budget leaves the libraries without funding again."),
        ("ana", "a/budget", "Libraries matter: the council should publish its spending plan."),
        ("ben", "a/budget", "I read the budget twice and still cannot find the transport line."),
        ("ben", "a/rail", "The rail timetable change hurts commuters from the valley."),
        ("cleo", "a/rail", "Commuters were never asked about the timetable, says the council."),
        ("ana", "a/rail", "Another note on the timetable from a commuter who reads everything."),
    ]
    async with running_api(settings) as api, running_worker(settings):
        ids = await _post_all(api, items)

        async def decided() -> bool:
            for cid in ids:
                r = await api.client.get(f"/v1/comments/{cid}", headers=api.auth())
                if r.json()["status"] not in ("approved", "rejected", "held"):
                    return False
            return True

        await wait_for(decided, timeout=30)
        # A moderator rejects two (ana's second, ben's rail one): the record gets those too.
        for cid in (ids[1], ids[3]):
            seen = (await api.client.get(f"/v1/comments/{cid}", headers=api.auth())).json()
            r = await api.client.post(
                f"{M}/comments/{cid}/decision",
                json={"action": "reject", "reason": "off-topic", "expected_status": seen["status"]},
                headers=api.auth("moderator"),
            )
            assert r.status_code == 200, r.text
        await archive_all(settings, record)

        async def search(**params: Any) -> list[str]:
            found = await _all_pages(api, f"{M}/search", {"limit": 2, **params}, "comments")
            return [c["id"] for c in found]

        statuses = {}
        for cid in ids:
            statuses[cid] = (
                await api.client.get(f"/v1/comments/{cid}", headers=api.auth())
            ).json()["status"]
        decided_ids = [c for c in ids if statuses[c] in ("approved", "rejected")]
        newest_first = sorted(decided_ids, reverse=True)

        # Everything decided, newest first, across pages of two, no duplicates.
        assert await search() == newest_first
        # Words: every word must occur, any case.
        council = [c for c, it in zip(ids, items, strict=True) if "council" in it[2].lower()]
        assert await search(q="Council") == [c for c in newest_first if c in council]
        assert await search(q="council timetable") == [ids[4]]
        assert await search(q="nowhere-to-be-found") == []
        assert await search(q='"quoted" OR NEAR(') == []  # no query syntax gets through
        assert await search(author="ana") == [c for c in newest_first if c in ids[0:2] + ids[5:]]
        assert await search(article="a/rail") == [c for c in newest_first if c in ids[3:]]
        assert await search(status="rejected") == [ids[3], ids[1]]
        assert await search(q="commuters", status="approved") == [ids[4]]
        assert await search(**{"from": "2999-01-01"}) == []
        assert await search(to="2999-01-01T00:00:00+00:00") == newest_first
        assert await search(to="2000-01-01") == []

        # Bad input: a clear 4xx naming the field.
        for params, field in (
            ({"status": "pending"}, "status"),
            ({"from": "yesterday"}, "from"),
            ({"from": "2026-02-01", "to": "2026-01-01"}, "to"),
            ({"cursor": "not-a-cursor"}, "cursor"),
            ({"limit": "0"}, "limit"),
        ):
            r = await api.client.get(f"{M}/search", params=params, headers=api.auth("moderator"))
            assert r.status_code in (400, 422), (params, r.text)
            assert field in r.text
        r = await api.client.get(f"{M}/search", headers=api.auth())
        assert r.status_code == 403

        # The author's whole history: two of ana's comments leave Redis entirely (hash and
        # history entry, as retention may), one only its hash; the page still lists all three.
        ana = [c for c, it in zip(ids, items, strict=True) if it[0] == "ana"]
        for cid in ana[:2]:
            await rds.delete(keys.comment(cid))
            await rds.zrem(keys.author_comments("ana"), cid)
        await rds.delete(keys.comment(ana[2]))
        history = await _all_pages(api, f"{M}/authors/ana", {"limit": 1}, "comments")
        assert [c["id"] for c in history] == sorted(ana, reverse=True)
        rejected = next(c for c in history if c["id"] == ids[1])
        assert rejected["status"] == "rejected"
        assert rejected["auto_decision"]["by"] == "auto"  # the automatic one, from the record
        page = (await api.client.get(f"{M}/authors/ana", headers=api.auth("moderator"))).json()
        assert [c["id"] for c in page["comments"]] == sorted(ana, reverse=True)

        # The audit trail beyond Redis's window: the stream and its indexes are gone.
        before = await _all_pages(api, f"{M}/audit", {"limit": 1}, "entries")
        assert {e["target"] for e in before if e["target_type"] == "comment"} == {ids[1], ids[3]}
        await rds.delete(keys.audit)
        after = await _all_pages(api, f"{M}/audit", {"limit": 1}, "entries")
        assert after == before
        one = await _all_pages(
            api, f"{M}/audit", {"target_type": "comment", "target": ids[3]}, "entries"
        )
        assert [e["action"] for e in one] == ["comment.reject"]
        assert one[0]["before"]["status"] != one[0]["after"]["status"] == "rejected"


async def test_an_authors_archived_audit_trail_is_one_sites(
    record_settings: Settings, record: Record, rds: AsyncRedis
) -> None:
    """Author ids are a site's own: once Redis no longer holds the audit trail, the record's
    trail of one site's author ``u5`` is that author's alone, never the other site's ``u5``;
    the API and the moderator's audit page read the same."""
    settings = record_settings
    keys = Keys(settings.key_prefix)
    states = {"site-alpha": "banned", "site-beta": "trusted"}
    for site in states:
        await create_key(rds, keys, site, Role.SITE, site=site)
    async with running_api(settings) as api:
        mod = api.auth("moderator")
        for site, state in states.items():
            r = await api.client.post(
                f"{M}/authors/u5/state", params={"site": site}, json={"state": state},
                headers=mod,
            )  # fmt: skip
            assert r.status_code == 200, r.text
        await archive_all(settings, record)
        # Redis's window has passed: the stream and every index list are gone.
        gone = [k async for k in rds.scan_iter(match=f"{settings.key_prefix}:*audit:*")]
        await rds.delete(keys.audit, *gone)
        await sign_in(api.client, api.moderator_key)
        for site, state in states.items():
            params = {"target_type": "author", "target": "u5", "site": site}
            page = await _all_pages(api, f"{M}/audit", params, "entries")
            assert [e["after"]["state"] for e in page] == [state]
            html = await api.client.get("/moderate/audit", params=params)
            assert html.status_code == 200, html.text[:300]
            other = next(s for s in states.values() if s != state)
            assert state in html.text and other not in html.text
        # Without a target, every site's entries: the audit trail of the installation.
        every = await _all_pages(api, f"{M}/audit", {"target_type": "author"}, "entries")
        assert sorted(e["after"]["state"] for e in every) == sorted(states.values())
