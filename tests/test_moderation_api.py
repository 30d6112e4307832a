"""The review API: role matrix, queue, decisions (incl. concurrent), bulk, removal, audit."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import Reason
from tests.conftest import Api
from tests.moderation_support import held, post, status_of

M = "/v1/moderation"
MOD = "moderator"
ADMIN = "admin"

# --- the role matrix -----------------------------------------------------------------------

# Each route: (name, allowed roles, builder). The builder gets (role, fixtures) and returns the
# request for that role (each role gets its own comment where the request changes state).
Request = tuple[str, str, dict[str, Any] | None]
ROUTES: list[tuple[str, set[str], Callable[[str, dict[str, Any]], Request], int]] = [
    ("queue", {MOD, ADMIN}, lambda r, f: ("GET", f"{M}/queue", None), 200),
    ("counts", {MOD, ADMIN}, lambda r, f: ("GET", f"{M}/queue/counts", None), 200),
    ("comment", {MOD, ADMIN}, lambda r, f: ("GET", f"{M}/comments/{f[r]}", None), 200),
    (
        "decision",
        {MOD, ADMIN},
        lambda r, f: ("POST", f"{M}/comments/{f[r]}/decision", {"action": "approve"}),
        200,
    ),
    (
        "bulk",
        {MOD, ADMIN},
        lambda r, f: (
            "POST",
            f"{M}/decisions",
            {"ids": [f[r + "-bulk"]], "action": "reject", "reason": "spam"},
        ),
        200,
    ),
    ("author", {MOD, ADMIN}, lambda r, f: ("GET", f"{M}/authors/u1", None), 200),
    (
        "author-state",
        {MOD, ADMIN},
        lambda r, f: ("POST", f"{M}/authors/u-{r}/state", {"state": "trusted"}),
        200,
    ),
    ("articles", {MOD, ADMIN}, lambda r, f: ("GET", f"{M}/articles", None), 200),
    ("article", {MOD, ADMIN}, lambda r, f: ("GET", f"{M}/articles/a1", None), 200),
    (
        "article-settings",
        {MOD, ADMIN},
        lambda r, f: ("PATCH", f"{M}/articles/a-{r}/settings", {"premoderate": True}),
        200,
    ),
    ("policy", {MOD, ADMIN}, lambda r, f: ("GET", f"{M}/policy", None), 200),
    ("policy-edit", {ADMIN}, lambda r, f: ("PATCH", f"{M}/policy", {"max_links": 5}), 200),
    ("words", {ADMIN}, lambda r, f: ("GET", f"{M}/words", None), 200),
    (
        "words-edit",
        {ADMIN},
        lambda r, f: ("PATCH", f"{M}/words/suspect", {"add": [f"w{r}"]}),
        200,
    ),
    ("audit", {MOD, ADMIN}, lambda r, f: ("GET", f"{M}/audit", None), 200),
    # Only the refusals of the event stream are checked here (an allowed request streams for
    # ever); test_moderation_live checks the allowed ones against a real server.
    ("events", set(), lambda r, f: ("GET", f"{M}/events", None), 200),
]


async def test_role_matrix_for_every_moderation_route(api: Api, rds: Redis) -> None:
    fixtures = {
        role: await held(api, rds, text=f"for {role}") for role in ("site", MOD, ADMIN, "none")
    }
    for role in ("site", MOD, ADMIN, "none"):
        fixtures[role + "-bulk"] = await held(api, rds, text=f"bulk for {role}")
    wrong = {"Authorization": f"Bearer mk_moderator_{os.urandom(16).hex()}"}
    malformed = {"Authorization": "Basic abc"}
    failures = []
    for name, allowed, build, ok in ROUTES:
        for who, headers in (
            ("no key", {}),
            ("wrong key", wrong),
            ("malformed", malformed),
            ("site", api.auth("site")),
            (MOD, api.auth(MOD)),
            (ADMIN, api.auth(ADMIN)),
        ):
            if name == "events" and who in (MOD, ADMIN):
                continue
            role = who if who in ("site", MOD, ADMIN) else "none"
            method, path, body = build(role, fixtures)
            if who in ("no key", "wrong key", "malformed"):
                expected = 401
            elif who == "site":
                expected = 403
            else:
                expected = ok if who in allowed else 403
            r = await api.client.request(method, path, json=body, headers=headers)
            if r.status_code != expected:
                failures.append(f"{name} as {who}: {r.status_code} (want {expected}) {r.text}")
            elif expected >= 400:
                assert r.json()["error"]["code"] in {"unauthorized", "forbidden"}
    assert not failures, "\n".join(failures)


# --- the queue ------------------------------------------------------------------------------


async def _queue(api: Api, **params: Any) -> dict[str, Any]:
    r = await api.client.get(f"{M}/queue", params=params, headers=api.auth(MOD))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_queue_orders_filters_and_counts(api: Api, rds: Redis) -> None:
    ids = {}
    specs = [
        ("x", "a1", "u1", 0.95),
        ("y", "a1", "u2", 0.65),
        ("z", "a2", "u1", 0.80),
        ("w", "a3", "u3", 0.70),
    ]
    for key, article, author, risk in specs:
        ids[key] = await held(api, rds, article=article, author=author, risk=risk, text=key)
        await asyncio.sleep(0.003)  # distinct creation ms, so "oldest" is the posting order
    spam = await held(
        api,
        rds,
        article="a2",
        author="u4",
        risk=0.75,
        text="buy now",
        reasons=[Reason(code="spam", message="spam 0.75 ≥ threshold 0.70", score=0.75)],
    )
    await post(api, text="still pending")  # not held: never in the queue

    oldest = [c["id"] for c in (await _queue(api))["comments"]]
    assert oldest == [ids["x"], ids["y"], ids["z"], ids["w"], spam]
    newest = [c["id"] for c in (await _queue(api, order="newest"))["comments"]]
    assert newest == list(reversed(oldest))
    riskiest = [c["id"] for c in (await _queue(api, order="riskiest"))["comments"]]
    assert riskiest == [ids["x"], ids["z"], spam, ids["w"], ids["y"]]

    assert [c["id"] for c in (await _queue(api, article="a1"))["comments"]] == [
        ids["x"],
        ids["y"],
    ]
    by_risk_a1 = await _queue(api, article="a1", order="riskiest")
    assert [c["id"] for c in by_risk_a1["comments"]] == [ids["x"], ids["y"]]
    assert [c["id"] for c in (await _queue(api, author="u1"))["comments"]] == [
        ids["x"],
        ids["z"],
    ]
    both = await _queue(api, author="u1", article="a2", order="riskiest")
    assert [c["id"] for c in both["comments"]] == [ids["z"]]
    assert [c["id"] for c in (await _queue(api, reason="spam"))["comments"]] == [spam]
    assert [c["id"] for c in (await _queue(api, reason="toxicity:insult"))["comments"]] == [
        ids["x"],
        ids["y"],
        ids["z"],
        ids["w"],
    ]
    mid = await _queue(api, min_score="0.7", max_score="0.9")
    assert [c["id"] for c in mid["comments"]] == [ids["z"], ids["w"], spam]
    mid_risk = await _queue(api, min_score="0.7", max_score="0.9", order="riskiest")
    assert [c["id"] for c in mid_risk["comments"]] == [ids["z"], spam, ids["w"]]

    first = (await _queue(api))["comments"][0]
    assert first["risk"] == pytest.approx(0.95)
    assert first["author"]["standing"]["held"] == 2
    assert first["reasons"][0]["label"] == "insult"

    r = await api.client.get(f"{M}/queue/counts", headers=api.auth(MOD))
    counts = r.json()
    assert counts["held"] == 5
    assert counts["pending"] == 1
    assert counts["articles"] == [
        {"article_id": "a1", "site": "default", "held": 2},
        {"article_id": "a2", "site": "default", "held": 2},
        {"article_id": "a3", "site": "default", "held": 1},
    ]
    # Deciding the last held comment of an article drops the article from the counts.
    await api.client.post(
        f"{M}/comments/{ids['w']}/decision", json={"action": "approve"}, headers=api.auth(MOD)
    )
    counts = (await api.client.get(f"{M}/queue/counts", headers=api.auth(MOD))).json()
    assert {a["article_id"] for a in counts["articles"]} == {"a1", "a2"}
    assert counts["held"] == 4


@pytest.mark.parametrize("order", ["oldest", "riskiest", "newest"])
async def test_queue_cursor_pages_cover_everything_once(api: Api, rds: Redis, order: str) -> None:
    # Several comments share a risk, so the cursor's tie-break is exercised.
    ids = [await held(api, rds, risk=[0.7, 0.8, 0.8, 0.9][i % 4], text=f"c{i}") for i in range(23)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"order": order, "limit": "5"} | ({"cursor": cursor} if cursor else {})
        body = await _queue(api, **params)
        seen.extend(c["id"] for c in body["comments"])
        pages += 1
        if pages == 2:
            # Decisions between pages neither skip nor repeat anything that is left.
            for cid in seen[:3]:
                await api.client.post(
                    f"{M}/comments/{cid}/decision",
                    json={"action": "approve"},
                    headers=api.auth(MOD),
                )
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))


async def test_queue_rejects_bad_parameters(api: Api) -> None:
    for params, field in (
        ({"order": "sideways"}, "order"),
        ({"min_score": "2"}, "min_score"),
        ({"min_score": "nan"}, "min_score"),
        ({"min_score": "0.8", "max_score": "0.2"}, "min_score"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ):
        r = await api.client.get(f"{M}/queue", params=params, headers=api.auth(MOD))
        assert r.status_code in (400, 422), (params, r.text)
        assert r.json()["error"]["field"] == field


async def test_a_cursor_belongs_to_its_order(api: Api, rds: Redis) -> None:
    for i in range(2):
        await held(api, rds, text=f"c{i}")
    cursor = (await _queue(api, limit="1"))["next_cursor"]
    assert cursor
    r = await api.client.get(
        f"{M}/queue", params={"order": "riskiest", "cursor": cursor}, headers=api.auth(MOD)
    )
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "cursor"


# --- decisions ------------------------------------------------------------------------------


async def _decide(api: Api, cid: str, role: str = MOD, **body: Any) -> Any:
    return await api.client.post(f"{M}/comments/{cid}/decision", json=body, headers=api.auth(role))


async def _count(api: Api, article: str = "a1") -> int:
    r = await api.client.get("/v1/counts", params={"article": article})
    return int(r.json()["counts"][article])


async def test_approve_and_reject_change_status_counts_and_audit(api: Api, rds: Redis) -> None:
    a = await held(api, rds, text="approve me")
    b = await held(api, rds, text="reject me")
    assert await _count(api) == 0

    r = await _decide(api, a, action="approve", note="fine in context")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["previous_status"] == "held"
    assert body["comment"]["status"] == "approved"
    assert body["comment"]["decided_by"].startswith("moderator:mod-")
    assert body["comment"]["note"] == "fine in context"
    # The automatic evidence stays with the comment after a human decision.
    assert body["comment"]["scores"]["insult"] == pytest.approx(0.9)
    assert body["comment"]["auto_decision"]["reasons"][0]["label"] == "insult"
    assert await _count(api) == 1

    r = await _decide(api, b, action="reject", reason="harassment")
    assert r.status_code == 200, r.text
    assert r.json()["comment"]["reasons"] == [
        {"code": "harassment", "message": "rejected: Harassment"}
    ]
    assert await status_of(rds, b) == "rejected"
    queue = await _queue(api)
    assert queue["comments"] == []

    audit = (await api.client.get(f"{M}/audit", headers=api.auth(ADMIN))).json()["entries"]
    assert [(e["action"], e["target"]) for e in audit[:2]] == [
        ("comment.reject", b),
        ("comment.approve", a),
    ]
    newest = audit[0]
    assert newest["before"] == {"status": "held"}
    assert newest["after"] == {"status": "rejected"}
    assert newest["reason"] == "harassment"
    assert newest["role"] == "moderator"
    assert newest["via"] == "key"
    assert newest["detail"]["article_id"] == "a1"
    assert audit[1]["note"] == "fine in context"

    comment = (await api.client.get(f"{M}/comments/{b}", headers=api.auth(MOD))).json()
    assert [e["action"] for e in comment["audit"]] == ["comment.reject"]


async def test_decision_validation(api: Api, rds: Redis) -> None:
    cid = await held(api, rds)
    for body, field in (
        ({"action": "reject"}, "reason"),
        ({"action": "reject", "reason": "rude"}, "reason"),
        ({"action": "approve", "reason": "spam"}, "reason"),
        ({"action": "delete"}, "action"),
        ({"action": "approve", "expected_status": "approved"}, "expected_status"),
        ({"action": "approve", "expected_status": "gone"}, "expected_status"),
        ({"action": "approve", "note": "x" * 1001}, "note"),
        ({"action": "approve", "extra": 1}, "extra"),
    ):
        r = await _decide(api, cid, **body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["field"] == field, (body, r.text)
    r = await api.client.post(
        f"{M}/comments/{cid}/decision", content=b"{nope", headers=api.auth(MOD)
    )
    assert r.status_code == 400
    for missing in ("01ARZ3NDEKTSV4RRFFQ69G5FAV", "not-an-id"):
        r = await _decide(api, missing, action="approve")
        assert r.status_code == 404
    assert await status_of(rds, cid) == "held"


async def test_two_moderators_deciding_at_once_one_wins_one_gets_409(api: Api, rds: Redis) -> None:
    for _ in range(5):
        cid = await held(api, rds)
        first, second = await asyncio.gather(
            _decide(api, cid, MOD, action="approve"),
            _decide(api, cid, ADMIN, action="reject", reason="spam"),
        )
        codes = sorted([first.status_code, second.status_code])
        assert codes == [200, 409], (first.text, second.text)
        winner, loser = (first, second) if first.status_code == 200 else (second, first)
        error = loser.json()["error"]
        assert error["code"] == "already_decided"
        final = winner.json()["comment"]["status"]
        assert error["current"]["status"] == final
        assert error["current"]["decided_by"] == winner.json()["comment"]["decided_by"]
        assert await status_of(rds, cid) == final
        # Exactly one audit entry: the loser's action never happened.
        entries = (
            await api.client.get(
                f"{M}/audit",
                params={"target_type": "comment", "target": cid},
                headers=api.auth(MOD),
            )
        ).json()["entries"]
        assert len(entries) == 1


async def test_bulk_decisions_report_each_comment(api: Api, rds: Redis) -> None:
    ids = [await held(api, rds, text=f"bulk {i}") for i in range(6)]
    await _decide(api, ids[0], ADMIN, action="reject", reason="spam")
    missing = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    r = await api.client.post(
        f"{M}/decisions",
        json={"ids": [*ids, missing, ids[1]], "action": "approve"},
        headers=api.auth(MOD),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["applied"], body["conflicts"], body["not_found"]) == (5, 1, 1)
    by_id = {x["id"]: x for x in body["results"]}
    assert by_id[ids[0]]["outcome"] == "conflict"
    assert by_id[ids[0]]["status"] == "rejected"
    assert by_id[missing]["outcome"] == "not_found"
    assert all(by_id[i]["outcome"] == "applied" for i in ids[1:])
    assert await _count(api) == 5
    entries = (
        await api.client.get(f"{M}/audit", params={"limit": 20}, headers=api.auth(MOD))
    ).json()["entries"]
    bulk_entries = [e for e in entries if e["action"] == "comment.approve"]
    assert len(bulk_entries) == 5
    assert all(e["detail"]["bulk"] == 7 for e in bulk_entries)

    for payload, field in (
        ({"ids": [], "action": "approve"}, "ids"),
        ({"ids": ["bad"], "action": "approve"}, "ids[0]"),
        ({"ids": [missing] * 501, "action": "approve"}, "ids"),
        ({"ids": [ids[0]], "action": "reject"}, "reason"),
    ):
        r = await api.client.post(f"{M}/decisions", json=payload, headers=api.auth(MOD))
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == field


async def test_removing_a_published_comment_drops_the_count_at_once(api: Api, rds: Redis) -> None:
    cid = await held(api, rds)
    await _decide(api, cid, action="approve")
    assert await _count(api) == 1
    # Without saying it was approved, the reject expects "held" and is refused.
    r = await _decide(api, cid, action="reject", reason="personal_information")
    assert r.status_code == 409
    r = await _decide(
        api, cid, action="reject", reason="personal_information", expected_status="approved"
    )
    assert r.status_code == 200, r.text
    assert await _count(api) == 0
    listed = await api.client.get("/v1/articles/a1/comments")
    assert listed.json()["comments"] == []
    # And it can be restored.
    r = await _decide(api, cid, action="approve", expected_status="rejected")
    assert r.status_code == 200
    assert await _count(api) == 1


async def test_decisions_feed_the_spam_feedback_hook(api: Api, rds: Redis) -> None:
    # The real learner: each label a moderator gives is learned once by the shared spam model.
    keys = Keys()

    async def learned(cid: str) -> str | None:
        raw = await rds.get(keys.spam_learned(cid))
        return raw.decode() if raw is not None else None

    async def counts() -> tuple[int, int]:
        spam_n, ham_n = await rds.hmget(keys.spam_model_meta, ["spam", "ham"])
        return int(spam_n or 0), int(ham_n or 0)

    spam = await held(api, rds, text="buy pills")
    ham = await held(api, rds, text="fine")
    toxic = await held(api, rds, text="mean")
    await _decide(api, spam, action="reject", reason="spam")
    await _decide(api, ham, action="approve")
    await _decide(api, toxic, action="reject", reason="toxic")
    # Approving a rejected comment is not "a held comment approved": no ham label.
    await _decide(api, toxic, action="approve", expected_status="rejected")
    bulk = [await held(api, rds, text=f"spam {i}") for i in range(2)]
    await api.client.post(
        f"{M}/decisions",
        json={"ids": bulk, "action": "reject", "reason": "spam"},
        headers=api.auth(MOD),
    )
    assert [await learned(c) for c in (spam, ham, toxic, *bulk)] == [
        "spam",
        "ham",
        None,
        "spam",
        "spam",
    ]
    assert await counts() == (3, 1)


# --- audit ----------------------------------------------------------------------------------


async def test_audit_filters_and_pages(api: Api, rds: Redis) -> None:
    ids = [await held(api, rds, text=f"audit {i}") for i in range(7)]
    for cid in ids[:4]:
        await _decide(api, cid, MOD, action="approve")
    for cid in ids[4:]:
        await _decide(api, cid, ADMIN, action="reject", reason="other")
    await api.client.post(
        f"{M}/authors/u1/state", json={"state": "premoderated"}, headers=api.auth(MOD)
    )

    async def read(**params: Any) -> dict[str, Any]:
        r = await api.client.get(f"{M}/audit", params=params, headers=api.auth(MOD))
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    everything: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await read(limit=3, **({"cursor": cursor} if cursor else {}))
        everything.extend(page["entries"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(everything) == 8
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)

    mod_name = everything[-1]["actor"]
    by_mod = await read(actor=mod_name, limit=50)
    assert {e["role"] for e in by_mod["entries"]} == {"moderator"}
    assert len(by_mod["entries"]) == 5
    by_mod_paged = await read(actor=mod_name, limit=2)
    assert len(by_mod_paged["entries"]) == 2 and by_mod_paged["next_cursor"]
    rest = await read(actor=mod_name, limit=50, cursor=by_mod_paged["next_cursor"])
    assert len(rest["entries"]) == 3

    author = (await read(target_type="author", target="u1"))["entries"]
    assert [(e["before"], e["after"]) for e in author] == [
        ({"state": "normal"}, {"state": "premoderated"})
    ]
    # A target type alone: every entry about authors (here, the one), newest first.
    authors_only = (await read(target_type="author"))["entries"]
    assert [e["target"] for e in authors_only] == ["u1"]
    by_mod_on_comments = (await read(target_type="comment", actor=mod_name))["entries"]
    assert by_mod_on_comments
    assert {(e["target_type"], e["actor"]) for e in by_mod_on_comments} == {("comment", mod_name)}
    for params, field in (
        ({"target_type": "planet", "target": "x"}, "target_type"),
        ({"target": "x"}, "target_type"),
        ({"cursor": "zzz"}, "cursor"),
    ):
        r = await api.client.get(f"{M}/audit", params=params, headers=api.auth(MOD))
        assert r.status_code in (400, 422)
        assert r.json()["error"]["field"] == field
