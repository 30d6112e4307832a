"""The moderators' tools through the API (ASGI app, real Redis, a real scoring worker): an
article's published comments (search, paging, one-click removal), near-duplicate copies
decided together, escalation to the admins, and the spam domain lists edited at run time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis as AsyncRedis

from moderation.keys import Keys
from moderation.record import Record
from moderation.review import published
from moderation.settings import Settings
from tests.conftest import Api, comment, running_api, running_worker, wait_for
from tests.moderation_support import held, sign_in, status_of
from tests.record_support import archive_all

M = "/v1/moderation"


async def _post(api: Api, text: str, article: str = "a1", author: str = "u1") -> str:
    r = await api.post_comment(comment(article=article, text=text, author=author))
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


async def _decided(rds: AsyncRedis, ids: list[str], status: str | None = None) -> None:
    async def done() -> bool:
        states = [await status_of(rds, cid) for cid in ids]
        return all(s == status if status else s not in (None, "pending") for s in states)

    await wait_for(done, timeout=20)


async def _audit(api: Api, **params: str) -> list[dict[str, Any]]:
    r = await api.client.get(f"{M}/audit", params=params, headers=api.auth("moderator"))
    assert r.status_code == 200, r.text
    return list(r.json()["entries"])


async def test_published_list_search_paging_and_removal(
    settings: Settings, rds: AsyncRedis
) -> None:
    texts = [
        ("ana", "The library opening hours should be longer on weekends."),
        ("ben", "Bus timetables changed again without any notice to riders."),
        ("ana", "Weekend library hours matter to students revising for exams."),
        ("cleo", "A calm and thoughtful piece about the harbour redevelopment."),
    ]
    async with running_api(settings) as api, running_worker(settings):
        ids = [await _post(api, t, author=a) for a, t in texts]
        other = await _post(api, "Library hours on another article entirely.", article="a2")
        await _decided(rds, [*ids, other], "approved")
        mod = api.auth("moderator")

        r = await api.client.get(f"{M}/published", params={"article": "a1"}, headers=mod)
        assert r.status_code == 200, r.text
        assert [c["id"] for c in r.json()["comments"]] == ids[::-1]  # newest first, a1 only

        async def listed(**params: str) -> list[str]:
            r = await api.client.get(
                f"{M}/published", params={"article": "a1", **params}, headers=mod
            )
            assert r.status_code == 200, r.text
            return [c["id"] for c in r.json()["comments"]]

        assert await listed(q="library HOURS") == [ids[2], ids[0]]
        assert await listed(author="ana") == [ids[2], ids[0]]
        assert await listed(q="library", author="ben") == []
        assert await listed(**{"from": "2000-01-01", "to": "2001-01-01"}) == []
        assert await listed(**{"from": "2000-01-01"}) == ids[::-1]

        # Paging: newest first, two at a time, the cursor of one page opening the next.
        seen: list[str] = []
        params: dict[str, str] = {"article": "a1", "limit": "2"}
        for _ in range(5):
            page = (await api.client.get(f"{M}/published", params=params, headers=mod)).json()
            seen += [c["id"] for c in page["comments"]]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        assert seen == ids[::-1]

        # One-click removal is a decision expecting "approved": the count drops at once.
        r = await api.client.post(
            f"{M}/comments/{ids[1]}/decision",
            json={"action": "reject", "reason": "off-topic", "expected_status": "approved"},
            headers=mod,
        )
        assert r.status_code == 200, r.text
        assert await rds.zcard(Keys().approved("a1")) == 3
        assert ids[1] not in await listed()
        entry = (await _audit(api, target_type="comment", target=ids[1]))[0]
        assert entry["action"] == "comment.reject"
        assert (entry["before"]["status"], entry["after"]["status"]) == ("approved", "rejected")

        for params, field in (
            ({}, "article"),
            ({"article": "a1", "from": "yesterday"}, "from"),
            ({"article": "a1", "cursor": "nonsense"}, "cursor"),
        ):
            r = await api.client.get(f"{M}/published", params=params, headers=mod)
            assert r.status_code in (400, 422), r.text
            assert r.json()["error"]["field"] == field


SPAM = "Make $500 a day from home with this one trick, visit quick-cash.example today!!"


async def test_near_duplicates_are_one_group_decided_together(
    settings: Settings, rds: AsyncRedis
) -> None:
    async with running_api(settings) as api, running_worker(settings):
        admin, mod = api.auth("admin"), api.auth("moderator")
        r = await api.client.patch(f"{M}/policy", json={"premoderate": True}, headers=admin)
        assert r.status_code == 200, r.text
        copies = [
            await _post(api, SPAM + suffix, article=article, author=author)
            for suffix, article, author in (
                ("", "a1", "bot1"),
                (" ", "a2", "bot2"),
                (" Now!", "a3", "bot3"),
                ("", "a3", "bot4"),
            )
        ]
        lone = await _post(api, "A measured reply about the council's new cycling lanes.")
        await _decided(rds, [*copies, lone], "held")

        r = await api.client.get(f"{M}/comments/{copies[0]}/copies", headers=mod)
        assert r.status_code == 200, r.text
        group = r.json()
        assert sorted(group["ids"]) == sorted(copies) and group["ids"][0] == copies[0]
        assert group["summary"] == "4 copies on 3 articles"
        alone = (await api.client.get(f"{M}/comments/{lone}/copies", headers=mod)).json()
        assert alone["ids"] == [lone] and alone["copies"] == 1

        # One decision for the group: each copy its own transition and audit entry.
        r = await api.client.post(
            f"{M}/decisions",
            json={"ids": group["ids"], "action": "reject", "reason": "spam"},
            headers=mod,
        )
        assert r.status_code == 200 and r.json()["applied"] == 4, r.text
        for cid in copies:
            assert await status_of(rds, cid) == "rejected"
            actions = [e["action"] for e in await _audit(api, target_type="comment", target=cid)]
            assert actions == ["comment.reject"]
        # Decided copies leave the group: what is left of it is the lone comment alone.
        assert await status_of(rds, lone) == "held"
        r = await api.client.get(f"{M}/comments/{copies[0]}/copies", headers=mod)
        assert r.json()["ids"] == [copies[0]]
        r = await api.client.get(f"{M}/comments/01KAXD6Y8V3N9TQ2J5ZB7W4H1C/copies", headers=mod)
        assert r.status_code == 404


async def test_escalation_reaches_the_admins_and_is_audited(api: Api, rds: AsyncRedis) -> None:
    cid = await held(api, rds)
    mod, admin = api.auth("moderator"), api.auth("admin")
    url = f"{M}/comments/{cid}/escalate"
    for body, field in (({"note": "  "}, "note"), ({"note": "x" * 1001}, "note"), ({}, "note")):
        r = await api.client.post(url, json=body, headers=mod)
        assert r.status_code in (400, 422), r.text
        assert field in r.text
    r = await api.client.post(url, json={"note": "Possible legal threat"}, headers=mod)
    assert r.status_code == 201, r.text
    assert r.json()["escalation"]["by"].startswith("moderator:")
    assert await status_of(rds, cid) == "held"  # still held: only a decision changes that

    assert (await api.client.get(f"{M}/escalated", headers=mod)).status_code == 403
    rows = (await api.client.get(f"{M}/escalated", headers=admin)).json()["comments"]
    assert [(c["id"], c["escalation"]["note"]) for c in rows] == [(cid, "Possible legal threat")]
    entry = (await _audit(api, target_type="comment", target=cid))[0]
    assert (entry["action"], entry["note"]) == ("comment.escalate", "Possible legal threat")

    r = await api.client.post(
        f"{M}/comments/{cid}/decision", json={"action": "approve"}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert (await api.client.get(f"{M}/escalated", headers=admin)).json()["comments"] == []
    r = await api.client.post(url, json={"note": "too late"}, headers=mod)
    assert r.status_code == 409, r.text
    r = await api.client.post(
        f"{M}/comments/01KAXD6Y8V3N9TQ2J5ZB7W4H1C/escalate", json={"note": "x"}, headers=mod
    )
    assert r.status_code == 404


async def test_spam_domains_edited_at_run_time_are_used_by_the_scorer(
    settings: Settings, rds: AsyncRedis
) -> None:
    link = "Read the full report at https://offers.spam-shop.example/deal please."
    async with running_api(settings) as api:
        admin, mod = api.auth("admin"), api.auth("moderator")
        url = f"{M}/spam-domains"
        async with running_worker(settings):
            before = await _post(api, link)
            await _decided(rds, [before])

        r = await api.client.patch(
            f"{url}/deny", json={"add": ["https://Spam-Shop.example/x"]}, headers=mod
        )
        assert r.status_code == 403
        r = await api.client.patch(
            f"{url}/deny",
            json={"add": ["https://Spam-Shop.example/x"], "note": "fake shop"},
            headers=admin,
        )
        assert r.status_code == 200, r.text
        assert r.json()["added"] == ["spam-shop.example"]
        assert r.json()["lists"]["deny"] == ["spam-shop.example"]
        for kind, body, field in (
            ("deny", {"add": ["not a domain"]}, "add[0]"),
            ("deny", {}, "add"),
            ("maybe", {"add": ["x.example"]}, "kind"),
        ):
            r = await api.client.patch(f"{url}/{kind}", json=body, headers=admin)
            assert r.status_code == 422, r.text
            assert r.json()["error"]["field"] == field
        entry = (await _audit(api, target_type="spam_domains", target="deny"))[0]
        assert entry["action"] == "spam.domains" and entry["note"] == "fake shop"
        assert entry["after"]["added"] == ["spam-shop.example"]

        async with running_worker(settings):
            after = await _post(api, link.replace("full", "whole"))
            await _decided(rds, [after])

        def denied(cid: str) -> Any:
            return api.client.get(f"{M}/comments/{cid}", headers=mod)

        assert (await denied(before)).json()["spam_signals"]["denied_domains"] == 0
        assert (await denied(after)).json()["spam_signals"]["denied_domains"] == 1

        # Allowing it moves it off the deny list (a domain is on one list at most).
        r = await api.client.patch(f"{url}/allow", json={"add": ["spam-shop.example"]},
                                   headers=admin)  # fmt: skip
        assert r.status_code == 200, r.text
        lists = (await api.client.get(url, headers=admin)).json()
        assert (lists["allow"], lists["deny"]) == (["spam-shop.example"], [])
        assert (await api.client.get(url, headers=mod)).status_code == 403


async def test_published_list_reads_the_record_past_the_redis_window(
    record_settings: Settings, record: Record, rds: AsyncRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With filters, Redis answers for its newest ids and the record for the rest; Redis's
    state wins where both hold a comment (the record lags a removal)."""
    settings = record_settings
    monkeypatch.setattr(published, "REDIS_WINDOW", 2)
    async with running_api(settings) as api, running_worker(settings):
        texts = (
            "Ferry fares went up again this spring.",
            "Islanders pay ferry fares twice a day to reach their jobs.",
            "Nobody explained why ferry fares rose while the service got worse.",
            "Ferry fares: the council should publish the operator's contract.",
        )
        old = [await _post(api, t, author=f"r{n}") for n, t in enumerate(texts)]
        await _decided(rds, old, "approved")
        await archive_all(settings, record)
        mod = api.auth("moderator")
        # Removed after archiving: the record still says approved until the archiver runs.
        r = await api.client.post(
            f"{M}/comments/{old[2]}/decision",
            json={"action": "reject", "reason": "spam", "expected_status": "approved"},
            headers=mod,
        )
        assert r.status_code == 200, r.text
        new = await _post(api, "Ferry fares and the new timetable, posted just now.")
        await _decided(rds, [new], "approved")

        r = await api.client.get(
            f"{M}/published", params={"article": "a1", "q": "ferry fares"}, headers=mod
        )
        assert r.status_code == 200, r.text
        assert [c["id"] for c in r.json()["comments"]] == [new, old[3], old[1], old[0]]

        # A comment whose hash Redis let go (archived) is still listed, from the record.
        await rds.delete(Keys().comment(old[0]))
        r = await api.client.get(f"{M}/published", params={"article": "a1"}, headers=mod)
        assert [c["id"] for c in r.json()["comments"]] == [new, old[3], old[1], old[0]]
        assert r.json()["comments"][-1]["text"] == texts[0]


async def test_search_page_says_when_there_is_no_record_yet(
    settings: Settings, tmp_path: Path
) -> None:
    async with running_api(settings.with_overrides(data_dir=tmp_path)) as api:
        await sign_in(api.client, api.moderator_key)
        r = await api.client.get("/moderate/search", params={"q": "ferry"})
        assert r.status_code == 200, r.text
        assert 'id="record-missing"' in r.text
        assert "is not set up yet" in r.text
