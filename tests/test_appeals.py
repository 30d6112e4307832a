"""DSA Art. 20 appeals through the ASGI app against the tests' redis-server: the window, one
open appeal per comment, the different-moderator rule, reversal with exact counts, audit and
the ``appeal.decided`` event and webhook payload."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import Decision, Reason, Role, Status
from moderation.review.appeals import window_end
from moderation.settings import Settings
from moderation.statements import DEFAULT_GROUNDS, by_id, with_statement
from moderation.store.apikeys import create_key
from moderation.store.codec import as_str
from moderation.store.comments import Store, now_ms
from moderation.store.transitions import CommentRef
from tests.conftest import Api, running_api, wait_for
from tests.moderation_support import held, status_of
from tests.test_webhooks import receiver, sender
from workers.webhooks import messages_of

M = "/v1/moderation"
DAY_MS = 86_400_000


def _ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("decided", "months", "end"),
    [
        (_ms(2026, 1, 15, 10), 6, _ms(2026, 7, 15, 10)),
        (_ms(2026, 8, 31, 23, 59), 6, _ms(2027, 2, 28, 23, 59)),  # a shorter month: its last day
        (_ms(2027, 8, 31), 6, _ms(2028, 2, 29)),  # a leap year
        (_ms(2026, 12, 1), 12, _ms(2027, 12, 1)),
    ],
)
def test_the_window_counts_calendar_months(decided: int, months: int, end: int) -> None:
    assert window_end(decided, months) == end


async def _count(api: Api, article: str) -> int:
    r = await api.client.get("/v1/counts", params={"article": article})
    return int(r.json()["counts"][article])


async def _appeal(api: Api, cid: str, text: str = "I was quoting the article.", **kw: Any) -> Any:
    return await api.client.post(
        f"/v1/comments/{cid}/appeals", json={"text": text, **kw}, headers=api.auth()
    )


async def _decide(api: Api, appeal_id: str, key: str, outcome: str, answer: str) -> Any:
    return await api.client.post(
        f"{M}/appeals/{appeal_id}/decision",
        json={"outcome": outcome, "answer": answer},
        headers={"Authorization": f"Bearer {key}"},
    )


async def _tallies(rds: Redis, author: str) -> dict[str, str]:
    return {as_str(k): as_str(v) for k, v in (await rds.hgetall(Keys().author(author))).items()}


async def _typed_events(rds: Redis, kind: str) -> list[tuple[str, dict[str, str]]]:
    rows = await rds.xrange(Keys().events)
    out = [(as_str(i), {as_str(k): as_str(v) for k, v in f.items()})
           for i, f in rows if f.get(b"type")]  # fmt: skip
    return [(i, e) for i, e in out if e.get("type") == kind]


async def _reject_at(rds: Redis, cid: str, when: int, by: str = "moderator:zed") -> None:
    """A moderator's rejection of a held comment taken at ``when`` (as transition.lua writes it)."""
    store = Store(rds, Keys())
    stored = await store.get(cid)
    assert stored is not None
    decision = Decision(
        status=Status.REJECTED,
        by=by,
        decided_at=when,
        reasons=[Reason(code="toxic", message="rejected: Toxic")],
    )
    decision = with_statement(decision, by_id(DEFAULT_GROUNDS))
    result = await store.transition(CommentRef.of(stored.record), [Status.HELD], decision, actor=by)
    assert result.applied


async def test_an_appeal_is_filed_within_the_window_only(settings: Settings, rds: Redis) -> None:
    async with running_api(settings) as api:
        old = await held(api, rds, text="Rejected long ago.")
        recent = await held(api, rds, text="Rejected recently.")
        now = now_ms()
        # Six calendar months are 181 to 184 days: 185 days ago is past them, 180 within.
        await _reject_at(rds, old, now - 185 * DAY_MS)
        await _reject_at(rds, recent, now - 180 * DAY_MS)
        r = await _appeal(api, old)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "appeal_window_closed"
        assert "open_until" in r.json()["error"]
        r = await _appeal(api, recent)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "open" and r.json()["decision"]["by"] == "moderator:zed"
    # A longer window (a setting) opens the older one too.
    async with running_api(settings.with_overrides(appeal_window_months=8)) as api:
        r = await _appeal(api, old)
        assert r.status_code == 201, r.text


async def test_filing_refuses_what_cannot_be_appealed(settings: Settings, rds: Redis) -> None:
    async with running_api(settings) as api:
        cid = await held(api, rds, text="Held by the machine.", author="ann")
        assert (await _appeal(api, cid, "  ")).status_code == 422
        r = await _appeal(api, cid, author_id="bob")
        assert r.status_code == 403 and "author" in r.json()["error"]["message"]
        r = await _appeal(api, "01KAXD6Y8V3N9TQ2J5ZB7W4H1C")
        assert r.status_code == 404
        r = await api.client.post(
            f"/v1/comments/{cid}/appeals", json={"text": "x"}, headers=api.auth("moderator")
        )
        assert r.status_code == 403
        first = await _appeal(api, cid, author_id="ann")
        assert first.status_code == 201, first.text
        again = await _appeal(api, cid)
        assert again.status_code == 409 and again.json()["error"]["appeal"] == first.json()["id"]
        # A published comment has nothing to appeal.
        mod = api.auth("moderator")
        other = await held(api, rds, text="Fine after all.")
        r = await api.client.post(f"{M}/comments/{other}/decision", json={"action": "approve"},
                                  headers=mod)  # fmt: skip
        assert r.status_code == 200
        r = await _appeal(api, other)
        assert r.status_code == 409 and r.json()["error"]["status"] == "approved"


async def test_reversal_by_another_moderator_restores_the_comment_exactly(
    settings: Settings, rds: Redis
) -> None:
    async with running_api(settings) as api:
        alice = api.moderator_key
        bob = await create_key(rds, Keys(), "mod-bob", Role.MODERATOR)
        keep = await held(api, rds, text="Published neighbour.", article="ap1", author="ann")
        r = await api.client.post(f"{M}/comments/{keep}/decision", json={"action": "approve"},
                                  headers=api.auth("moderator"))  # fmt: skip
        assert r.status_code == 200
        cid = await held(api, rds, text="A sharp but fair remark.", article="ap1", author="ann")
        r = await api.client.post(
            f"{M}/comments/{cid}/decision",
            json={"action": "reject", "reason": "toxic"},
            headers=api.auth("moderator"),
        )
        assert r.status_code == 200
        assert await _count(api, "ap1") == 1
        author = {
            as_str(k): as_str(v) for k, v in (await rds.hgetall(Keys().author("ann"))).items()
        }
        assert (author["approved"], author["rejected"]) == ("1", "1")
        # The statement tells the author how to appeal, and until when.
        st = await api.client.get(f"/v1/comments/{cid}/statement", headers=api.auth())
        assert "appeal" in st.json()["statement"]["redress"]
        assert st.json()["appeal"]["appealable"] is True

        filed = await _appeal(api, cid, "I was quoting the article, not insulting anyone.")
        assert filed.status_code == 201, filed.text
        appeal_id = filed.json()["id"]
        st = await api.client.get(f"/v1/comments/{cid}/statement", headers=api.auth())
        assert st.json()["appeal"] == {**st.json()["appeal"], "appealable": False,
                                       "appeal_id": appeal_id}  # fmt: skip
        queue = await api.client.get(f"{M}/appeals", headers=api.auth("moderator"))
        (entry,) = queue.json()["appeals"]
        assert entry["id"] == appeal_id and entry["comment"]["status"] == "rejected"
        assert entry["decision"]["automated"] is False
        assert entry["decision"]["statement"]["restriction"] == "removed"

        # The moderator who rejected it may not decide the appeal.
        r = await _decide(api, appeal_id, alice, "reverse", "Looks fine to me.")
        assert r.status_code == 403 and r.json()["error"]["code"] == "same_moderator"
        assert await status_of(rds, cid) == "rejected"
        r = await _decide(api, appeal_id, bob, "reverse", "")
        assert r.status_code == 422 and r.json()["error"]["field"] == "answer"
        r = await _decide(api, appeal_id, bob, "reverse", "A quotation, not an insult.")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["appeal"]["status"] == "reversed"
        assert body["appeal"]["decided_by"] == "moderator:mod-bob"
        assert body["comment"]["status"] == "approved"
        # Exact counts: the article's count, the author's tallies, the queues.
        assert await status_of(rds, cid) == "approved"
        assert await _count(api, "ap1") == 2
        author = {
            as_str(k): as_str(v) for k, v in (await rds.hgetall(Keys().author("ann"))).items()
        }
        assert (author["approved"], author["rejected"]) == ("2", "0")
        assert await rds.zcard(Keys().appeals_open) == 0
        assert await rds.zcard(Keys().appeals_decided) == 1
        # Decided once: a second decision is refused.
        r = await _decide(api, appeal_id, bob, "uphold", "Changed my mind.")
        assert r.status_code == 409
        # Audited, and the transition is a moderator's (comment.moderated goes out).
        audit = await api.client.get(
            f"{M}/audit", params={"target_type": "comment", "target": cid},
            headers=api.auth("moderator"),
        )  # fmt: skip
        newest = audit.json()["entries"][0]
        assert newest["action"] == "appeal.reverse" and newest["actor"] == "mod-bob"
        assert newest["note"] == "A quotation, not an insult."
        rows = await rds.xrange(Keys().events)
        # (A transition's decision is a binary blob, store.decisions: left out here.)
        last = [
            {as_str(k): as_str(v) for k, v in f.items() if k != b"decision"}
            for _, f in rows
            if b"to" in f
        ][-1]
        assert (last["id"], last["from"], last["to"], last["by"]) == (
            cid,
            "rejected",
            "approved",
            "moderator:mod-bob",
        )
        # The appeal.decided event, and the webhook the site receives.
        ((entry_id, event),) = await _typed_events(rds, "appeal.decided")
        assert (event["appeal"], event["outcome"], event["status"]) == (
            appeal_id,
            "reversed",
            "approved",
        )
        ((kind, message),) = messages_of(entry_id, event)
        assert kind == "appeal.decided" and message["type"] == "appeal.decided"
        data = message["data"]
        assert (data["appeal_id"], data["comment_id"], data["article_id"]) == (
            appeal_id,
            cid,
            "ap1",
        )
        assert (data["outcome"], data["answer"]) == ("reversed", "A quotation, not an insult.")


async def test_an_automated_decision_is_appealed_and_upheld_by_any_moderator(
    settings: Settings, rds: Redis
) -> None:
    async with running_api(settings) as api:
        cid = await held(api, rds, text="Held by the scorer.", article="ap2")
        held_before = await rds.zcard(Keys().held)
        filed = await _appeal(api, cid)
        assert filed.status_code == 201
        appeal_id = filed.json()["id"]
        assert filed.json()["decision"]["automated"] is True
        one = await api.client.get(f"{M}/appeals/{appeal_id}", headers=api.auth("moderator"))
        assert one.status_code == 200 and one.json()["text"] == "I was quoting the article."
        r = await _decide(api, appeal_id, api.moderator_key, "sustain", "x")
        assert r.status_code == 422 and r.json()["error"]["field"] == "outcome"
        r = await _decide(api, appeal_id, api.moderator_key, "uphold", "Insults break rule 2.")
        assert r.status_code == 200, r.text
        assert r.json()["appeal"]["status"] == "upheld"
        assert await status_of(rds, cid) == "held"
        assert await rds.zcard(Keys().held) == held_before
        ((_, event),) = await _typed_events(rds, "appeal.decided")
        assert (event["outcome"], event["status"], event["answer"]) == (
            "upheld",
            "held",
            "Insults break rule 2.",
        )
        decided = await api.client.get(
            f"{M}/appeals", params={"status": "decided"}, headers=api.auth("moderator")
        )
        assert [a["id"] for a in decided.json()["appeals"]] == [appeal_id]
        assert (await api.client.get(f"{M}/appeals", headers=api.auth("moderator"))).json()[
            "appeals"
        ] == []
        # The same decision is not appealed twice.
        again = await _appeal(api, cid)
        assert again.status_code == 409 and again.json()["error"]["appeal"] == appeal_id
        audit = await api.client.get(
            f"{M}/audit", params={"target_type": "comment", "target": cid},
            headers=api.auth("moderator"),
        )  # fmt: skip
        assert audit.json()["entries"][0]["action"] == "appeal.uphold"


async def test_reversing_a_hold_empties_the_held_queue(settings: Settings, rds: Redis) -> None:
    async with running_api(settings) as api:
        cid = await held(api, rds, text="Held, then appealed.", article="ap3")
        counts = Keys().held_articles
        assert await rds.zscore(counts, "ap3") == 1
        appeal_id = (await _appeal(api, cid)).json()["id"]
        r = await _decide(api, appeal_id, api.moderator_key, "reverse", "Nothing wrong here.")
        assert r.status_code == 200, r.text
        assert await status_of(rds, cid) == "approved"
        assert await rds.zscore(Keys().held, cid) is None
        assert await rds.zscore(counts, "ap3") is None
        assert await _count(api, "ap3") == 1
        # A decision changed under an open appeal: it can no longer be decided.
        cid2 = await held(api, rds, text="Another.", article="ap3")
        appeal2 = (await _appeal(api, cid2)).json()["id"]
        r = await api.client.post(f"{M}/comments/{cid2}/decision", json={"action": "approve"},
                                  headers=api.auth("moderator"))  # fmt: skip
        assert r.status_code == 200
        r = await _decide(api, appeal2, api.admin_key, "uphold", "Stands.")
        assert r.status_code == 409 and "no longer in force" in r.json()["error"]["message"]


async def test_two_moderators_deciding_one_appeal_get_one_decision(
    settings: Settings, rds: Redis
) -> None:
    async with running_api(settings) as api:
        bob = await create_key(rds, Keys(), "mod-bob", Role.MODERATOR)
        cid = await held(api, rds, text="Contested.", article="ap4", author="cy")
        appeal_id = (await _appeal(api, cid)).json()["id"]
        first, second = await asyncio.gather(
            _decide(api, appeal_id, api.moderator_key, "reverse", "Publish it."),
            _decide(api, appeal_id, bob, "uphold", "Keep it hidden."),
        )
        assert sorted((first.status_code, second.status_code)) == [200, 409]
        winner = first if first.status_code == 200 else second
        outcome = winner.json()["appeal"]["status"]
        assert await status_of(rds, cid) == ("approved" if outcome == "reversed" else "held")
        assert len(await _typed_events(rds, "appeal.decided")) == 1
        tallies = await _tallies(rds, "cy")
        # Either may win the race: the loser's status has no tally field at all.
        assert int(tallies.get("approved", 0)) + int(tallies.get("held", 0)) == 1


async def test_the_site_receives_appeal_decided_signed(settings: Settings, rds: Redis) -> None:
    async with (
        receiver() as rec,
        sender(settings, rec.url, webhook_events=("appeal.decided",)),
        running_api(settings) as api,
    ):
        cid = await held(api, rds, text="Appealed and reversed.", article="ap5")
        appeal_id = (await _appeal(api, cid)).json()["id"]
        r = await _decide(api, appeal_id, api.moderator_key, "reverse", "It is fine.")
        assert r.status_code == 200, r.text
        await wait_for(lambda: asyncio.sleep(0, result=bool(rec.received)))
    # Only what the endpoint subscribed to: the appeal's outcome, not the transition's events.
    (message,) = rec.received
    assert message["type"] == "appeal.decided" and rec.bad_signatures == 0
    data = message["data"]
    assert (data["appeal_id"], data["comment_id"], data["outcome"], data["status"]) == (
        appeal_id,
        cid,
        "reversed",
        "approved",
    )
    assert data["answer"] == "It is fine." and data["by"].startswith("moderator:")
