"""DSA: reader reports (Art. 16), statements of reasons (Art. 17), the Reported queue.

Through the ASGI app against the tests' redis-server, with a real scoring worker where the
decision is automatic.
"""

from __future__ import annotations

from typing import Any

import msgspec
from redis.asyncio import Redis

from moderation.keys import CommentField, Keys
from moderation.messages import Decision, ModelInfo
from moderation.pipeline.policy import dead_letter_decision
from moderation.settings import Settings
from moderation.statements import missing
from moderation.store import decisions
from moderation.store.codec import as_str
from tests.conftest import Api, running_api, running_worker
from tests.moderation_support import held, status_of

M = "/v1/moderation"


async def _stored(rds: Redis, cid: str) -> Decision:
    (decision,) = await decisions.decode_many(
        rds, Keys(), [await rds.hget(Keys().comment(cid), CommentField.DECISION)]
    )
    assert decision is not None
    return decision


async def _published(api: Api, rds: Redis, text: str, article: str = "a1") -> str:
    cid = await held(api, rds, text=text, article=article)
    r = await api.client.post(
        f"{M}/comments/{cid}/decision", json={"action": "approve"}, headers=api.auth("moderator")
    )
    assert r.status_code == 200, r.text
    return cid


async def _report(api: Api, cid: str, **body: Any) -> Any:
    return await api.client.post(f"/v1/comments/{cid}/reports", json=body)


async def _count(api: Api, article: str) -> int:
    r = await api.client.get("/v1/counts", params={"article": article})
    return int(r.json()["counts"][article])


async def _report_events(rds: Redis) -> list[dict[str, str]]:
    rows = await rds.xrange(Keys().events)
    out = [{as_str(k): as_str(v) for k, v in f.items() if k != b"decision"} for _, f in rows]
    return [e for e in out if e.get("type") == "report.decided"]


async def test_every_hiding_decision_carries_a_complete_statement(
    settings: Settings, rds: Redis
) -> None:
    async with running_api(settings) as api, running_worker(settings):
        admin, mod = api.auth("admin"), api.auth("moderator")
        for kind, word in (("banned", "zonkword"), ("suspect", "blurpword")):
            r = await api.client.patch(f"{M}/words/{kind}", json={"add": [word]}, headers=admin)
            assert r.status_code == 200, r.text
        ids = {}
        for name, text in (
            ("rejected", "You are a zonkword."),
            ("held", "What a blurpword idea."),
            ("approved", "A thoughtful reply about the budget."),
        ):
            r = await api.post_comment({**_body(text), "article_id": "s1"}, wait=5)
            assert r.status_code == 201, r.text
            ids[name] = r.json()["id"]
            assert r.json()["status"] == name, r.text
        for name in ("rejected", "held"):
            d = await _stored(rds, ids[name])
            assert d.statement is not None and missing(d.statement) == [], name
            assert d.statement.automated_decision == "fully"
            assert d.statement.automated_detection is True
            assert d.statement.source == "own_initiative"
            assert d.statement.ground.id == "rules:civility"
        assert (await _stored(rds, ids["rejected"])).statement.restriction == "removed"  # type: ignore[union-attr]
        assert (await _stored(rds, ids["held"])).statement.restriction == (  # type: ignore[union-attr]
            "hidden_pending_review"
        )
        assert (await _stored(rds, ids["approved"])).statement is None
        # Human: a moderator rejects the held comment as spam; the statement says so.
        r = await api.client.post(
            f"{M}/comments/{ids['held']}/decision",
            json={"action": "reject", "reason": "spam"},
            headers=mod,
        )
        assert r.status_code == 200, r.text
        d = await _stored(rds, ids["held"])
        assert d.statement is not None and missing(d.statement) == []
        assert d.statement.automated_decision == "not"
        assert d.statement.automated_detection is True  # an automatic hold brought it
        assert d.statement.ground.id == "rules:spam"
        # Readable through the API, and a named ground is checked against the list.
        r = await api.client.get(f"/v1/comments/{ids['held']}/statement", headers=api.auth())
        assert r.status_code == 200 and r.json()["statement"]["restriction"] == "removed"
        r = await api.client.get(f"/v1/comments/{ids['approved']}/statement", headers=api.auth())
        assert r.status_code == 404
        r = await api.client.post(
            f"{M}/comments/{ids['approved']}/decision",
            json={"action": "reject", "reason": "other", "expected_status": "approved",
                  "ground": "law:none"},
            headers=mod,
        )  # fmt: skip
        assert r.status_code == 422 and r.json()["error"]["field"] == "ground"
    # The dead letter's hold too.
    dead = dead_letter_decision(3, ModelInfo(name="m", version="1"), 1).decision
    assert dead.statement is not None and missing(dead.statement) == []


def _body(text: str) -> dict[str, Any]:
    return {"article_id": "a1", "text": text, "author": {"id": "u1", "name": "Reader One"}}


async def test_reports_dedupe_hide_at_threshold_keep_and_tell_reporters(
    settings: Settings, rds: Redis
) -> None:
    relaxed = settings.with_overrides(report_hide_threshold=2, report_rate_max=3)
    async with running_api(relaxed) as api:
        cid = await _published(api, rds, "A comment readers dislike.", article="r1")
        assert await _count(api, "r1") == 1
        first = await _report(api, cid, reason="offensive", reader_id="reader-1")
        assert first.status_code == 201, first.text
        receipt = first.json()["receipt"]
        assert receipt.startswith("rpt_") and first.json()["hidden"] is False
        again = await _report(api, cid, reason="spam", reader_id="reader-1")
        assert again.status_code == 409 and again.json()["error"]["receipt"] == receipt
        bad = await _report(api, cid, reason="boring", reader_id="reader-2")
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "reason"
        second = await _report(api, cid, reason="harassment", reader_id="reader-2")
        assert second.status_code == 201 and second.json()["hidden"] is True
        assert await status_of(rds, cid) == "held"
        assert await _count(api, "r1") == 0
        d = await _stored(rds, cid)
        assert d.statement is not None and missing(d.statement) == []
        assert d.statement.source == "notice" and d.statement.automated_detection is False
        # Reported queue: grouped, with its count.
        r = await api.client.get(f"{M}/reported", headers=api.auth("moderator"))
        (entry,) = r.json()["comments"]
        assert entry["id"] == cid and entry["reports"]["count"] == 2
        assert entry["reports"]["by_reason"] == {"offensive": 1, "harassment": 1}
        # Keep: restored, reports closed, every reporter told.
        r = await api.client.post(
            f"{M}/reported/{cid}/decision", json={"action": "keep"}, headers=api.auth("moderator")
        )
        assert r.status_code == 200, r.text
        assert await status_of(rds, cid) == "approved" and await _count(api, "r1") == 1
        events = await _report_events(rds)
        assert {e["outcome"] for e in events} == {"kept"}
        assert {msgspec.json.decode(e["report"])["receipt"] for e in events} == {
            receipt,
            second.json()["receipt"],
        }
        assert all(e["automated"] == "0" for e in events)
        r = await api.client.get(f"{M}/reported", headers=api.auth("moderator"))
        assert r.json()["comments"] == []
        # Rate limit per reporter: three reports, then 429 with Retry-After.
        others = [await _published(api, rds, f"Other {i}.", article="r2") for i in range(4)]
        codes = [
            (await _report(api, o, reason="spam", reader_id="busy")).status_code for o in others
        ]
        assert codes == [201, 201, 201, 429]


async def test_an_illegal_report_needs_its_fields_hides_at_once_and_removal_tells(
    settings: Settings, rds: Redis
) -> None:
    async with running_api(settings) as api:
        cid = await _published(api, rds, "Something unlawful.", article="r3")
        r = await _report(api, cid, reason="illegal", explanation="Incites hatred.")
        assert r.status_code == 422 and r.json()["error"]["field"] == "url"
        fields = {
            "reason": "illegal",
            "explanation": "It incites hatred against a group.",
            "url": "https://news.example/r3#c1",
            "name": "Erika Mustermann",
            "email": "erika@example.org",
        }
        r = await _report(api, cid, **fields)
        assert r.status_code == 422 and r.json()["error"]["field"] == "good_faith"
        r = await _report(api, cid, **fields, good_faith=True)
        assert r.status_code == 201 and r.json()["hidden"] is True
        assert await status_of(rds, cid) == "held"
        assert (await _stored(rds, cid)).statement.source == "notice_illegal"  # type: ignore[union-attr]
        q = await api.client.get(f"{M}/reported", headers=api.auth("moderator"))
        notice = q.json()["comments"][0]["reports"]["reports"][0]["notice"]
        assert notice["name"] == "Erika Mustermann" and notice["good_faith"] is True
        r = await api.client.post(
            f"{M}/reported/{cid}/decision",
            json={"action": "remove", "reason": "harassment"},
            headers=api.auth("moderator"),
        )
        assert r.status_code == 200, r.text
        assert await status_of(rds, cid) == "rejected"
        d = await _stored(rds, cid)
        assert d.statement is not None and d.statement.restriction == "removed"
        assert d.statement.source == "notice_illegal" and d.statement.automated_decision == "not"
        (event,) = await _report_events(rds)
        assert event["outcome"] == "removed" and event["id"] == cid
        # Nothing to report on a removed comment.
        r = await _report(api, cid, reason="spam")
        assert r.status_code == 409


async def test_reports_are_open_to_browsers(settings: Settings) -> None:
    async with running_api(settings) as api:
        r = await api.client.options(
            "/v1/comments/X/reports",
            headers={
                "Origin": "https://news.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert r.status_code == 200
        assert "POST" in r.headers["access-control-allow-methods"]
        js = await api.client.get("/report.js")
        assert js.status_code == 200 and "data-report-comment" in js.text


async def test_grounds_are_admin_edited_and_used(settings: Settings, rds: Redis) -> None:
    async with running_api(settings) as api:
        law = {
            "id": "law:stgb-130",
            "kind": "law",
            "title": "Incitement to hatred",
            "reference": "§ 130 StGB",
            "covers": ["moderator:harassment"],
        }
        r = await api.client.put(
            f"{M}/grounds", json={"grounds": [law]}, headers=api.auth("moderator")
        )
        assert r.status_code == 403
        r = await api.client.put(
            f"{M}/grounds", json={"grounds": [{**law, "reference": ""}]}, headers=api.auth("admin")
        )
        assert r.status_code == 422 and r.json()["error"]["field"] == "grounds[0].reference"
        r = await api.client.put(f"{M}/grounds", json={"grounds": [law]}, headers=api.auth("admin"))
        assert r.status_code == 200
        assert [g["id"] for g in r.json()["grounds"]] == ["law:stgb-130", "rules:general"]
        cid = await held(api, rds, text="Hateful words.")
        r = await api.client.post(
            f"{M}/comments/{cid}/decision",
            json={"action": "reject", "reason": "harassment"},
            headers=api.auth("moderator"),
        )
        assert r.status_code == 200
        d = await _stored(rds, cid)
        assert d.statement is not None and d.statement.ground.kind == "law"
        assert d.statement.ground.reference == "§ 130 StGB"
