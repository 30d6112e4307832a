"""Site-side changes: ``DELETE /v1/comments/{id}`` (terminal ``deleted``, erased, out of every
count, list, queue and thread at once) and ``PATCH`` (a new revision, hidden until its own
single automatic decision)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from redis.asyncio import Redis

from moderation.keys import CommentField, Keys
from moderation.messages import Decision, Status
from moderation.record import Record, reads
from moderation.record.schema import comments
from moderation.settings import Settings
from moderation.store import compression
from moderation.store.comments import Store, now_ms
from moderation.store.records import decode_record
from moderation.store.transitions import AutoDecision, CommentRef
from tests.conftest import Api, comment, running_api, running_worker, wait_for
from tests.moderation_support import held, sign_in, status_of
from tests.record_support import archive_all
from workers.scoring import ScoringWorker

M = "/v1/moderation"
PRIVATE = {
    "author": {"id": "u9", "name": "Jane Reader", "email": "jane@example.org"},
    "context": {"ip": "203.0.113.7", "user_agent": "Firefox/1", "referrer": "https://x.test/a"},
}


async def _approved(api: Api, private: bool = False, **kw: Any) -> str:
    body = comment(**kw) | (PRIVATE if private else {})
    r = await api.post_comment(body, wait=5)
    assert r.status_code == 201 and r.json()["status"] == "approved", r.text
    return str(r.json()["id"])


async def _count(api: Api, article: str) -> int:
    r = await api.client.get("/v1/counts", params={"article": article})
    return int(r.json()["counts"][article])


async def _listed(api: Api, article: str, **params: str) -> list[dict[str, Any]]:
    r = await api.client.get(f"/v1/articles/{article}/comments", params=params)
    assert r.status_code == 200, r.text
    return list(r.json()["comments"])


async def _events(rds: Redis, comment_id: str) -> list[dict[str, str]]:
    rows = await rds.xrange(Keys().events)
    out = []
    for _, fields in rows:
        # The decision is a binary blob (store.decisions); the rest is text.
        f = {k.decode(): v.decode() for k, v in fields.items() if k != b"decision"}
        if f["id"] == comment_id:
            out.append(f)
    return out


async def test_delete_erases_and_leaves_counts_and_lists(
    api: Api, rds: Redis, worker: ScoringWorker
) -> None:
    keep = await _approved(api, article="d1", text="A comment that stays.")
    gone = await _approved(api, article="d1", text="A comment to retract.", private=True)
    assert await _count(api, "d1") == 2

    r = await api.client.delete(f"/v1/comments/{gone}", headers=api.auth())
    assert r.status_code == 200, r.text
    stub = r.json()
    assert stub["status"] == "deleted" and stub["id"] == gone
    assert stub["text"] is None and stub["author"] is None and stub["context"] is None
    assert stub["decided_by"].startswith("site:")

    assert await _count(api, "d1") == 1
    assert [c["id"] for c in await _listed(api, "d1")] == [keep]
    assert [c["id"] for c in await _listed(api, "d1", thread="true")] == [keep]
    got = await api.client.get(f"/v1/comments/{gone}", headers=api.auth())
    assert got.status_code == 200 and got.json()["status"] == "deleted"
    assert got.json()["text"] is None

    # Erased in the stored document: no text, name, e-mail or request context remain.
    raw = await rds.hget(Keys().comment(gone), CommentField.DOC) or b""
    for secret in ("retract", "Jane Reader", "jane@example.org", "203.0.113.7", "Firefox"):
        assert secret.encode() not in compression.plain(raw)  # (stored compressed or not)
    assert decode_record(raw, gone).author.id == "u9"  # the ids stay

    # The decision trail: the automatic decision and the deletion, and an audit entry.
    assert [e["to"] for e in await _events(rds, gone)] == ["approved", "deleted"]
    audit = (await api.client.get(f"{M}/audit", headers=api.auth("admin"))).json()["entries"]
    assert [(e["action"], e["target"]) for e in audit[:1]] == [("comment.delete", gone)]
    assert audit[0]["role"] == "site"


async def test_delete_is_idempotent(api: Api, rds: Redis, worker: ScoringWorker) -> None:
    cid = await _approved(api, article="d2")
    first = await api.client.delete(f"/v1/comments/{cid}", headers=api.auth())
    again = await api.client.delete(f"/v1/comments/{cid}", headers=api.auth())
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert [e["to"] for e in await _events(rds, cid)] == ["approved", "deleted"]
    audit = (await api.client.get(f"{M}/audit", headers=api.auth("admin"))).json()["entries"]
    assert sum(1 for e in audit if e["target"] == cid) == 1
    assert await rds.hget(Keys().author("u1"), "deleted") == b"1"


async def test_delete_held_leaves_the_queue_and_its_counts(api: Api, rds: Redis) -> None:
    cid = await held(api, rds, text="held then deleted")
    k = Keys()
    assert await rds.zscore(k.held, cid) is not None
    r = await api.client.delete(f"/v1/comments/{cid}", headers=api.auth())
    assert r.status_code == 200
    for key in (k.held, k.held_risk, k.article_held("a1")):
        assert await rds.zscore(key, cid) is None
    assert await rds.hgetall(k.held_counts) == {}
    assert await rds.zcard(k.held_articles) == 0
    queue = await api.client.get(f"{M}/queue", headers=api.auth("moderator"))
    assert queue.json()["comments"] == []


async def test_delete_pending_is_never_decided(api: Api, rds: Redis, settings: Any) -> None:
    r = await api.post_comment(comment(article="d3"))
    cid = r.json()["id"]
    assert (await api.client.delete(f"/v1/comments/{cid}", headers=api.auth())).status_code == 200
    assert await rds.zscore(Keys().pending, cid) is None
    async with running_worker(settings) as w:
        await wait_for(lambda: _consumed(rds))
        assert w is not None
    assert await status_of(rds, cid) == "deleted"
    assert await _count(api, "d3") == 0
    assert [e["to"] for e in await _events(rds, cid)] == ["deleted"]


async def _consumed(rds: Redis) -> bool:
    k = Keys()
    groups = await rds.xinfo_groups(k.stream)
    return bool(groups) and all(g["lag"] == 0 and g["pending"] == 0 for g in groups)


async def test_deleted_parent_keeps_replies_reachable(api: Api, worker: ScoringWorker) -> None:
    root = await _approved(api, article="d4", text="The first word.")
    reply = await _approved(api, article="d4", text="A reply to it.", parent_id=root)
    await api.client.delete(f"/v1/comments/{root}", headers=api.auth())
    threads = await _listed(api, "d4", thread="true")
    assert [(t["id"], t["status"], t["text"]) for t in threads] == [(root, "deleted", None)]
    assert [c["id"] for c in threads[0]["replies"]] == [reply]
    assert await _count(api, "d4") == 1


async def test_deleted_cannot_be_reverted_by_a_moderator(
    api: Api, rds: Redis, worker: ScoringWorker
) -> None:
    cid = await _approved(api, article="d5")
    await api.client.delete(f"/v1/comments/{cid}", headers=api.auth())
    for expected in ("deleted", "approved", "held"):
        r = await api.client.post(
            f"{M}/comments/{cid}/decision",
            json={"action": "approve", "expected_status": expected},
            headers=api.auth("moderator"),
        )
        assert r.status_code in (409, 422), r.text
    assert await status_of(rds, cid) == "deleted"
    assert await _count(api, "d5") == 0
    # Moderators still see where it was (the API and the review page), without its text.
    seen = await api.client.get(f"{M}/comments/{cid}", headers=api.auth("moderator"))
    assert seen.status_code == 200 and seen.json()["status"] == "deleted"
    await sign_in(api.client, api.moderator_key)
    page = await api.client.get(f"/moderate/comments/{cid}")
    assert page.status_code == 200 and "deleted" in page.text
    # Nor by the site: a deleted comment cannot be edited.
    r = await api.client.patch(f"/v1/comments/{cid}", json={"text": "back"}, headers=api.auth())
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_decided"


async def test_delete_and_patch_errors(api: Api, worker: ScoringWorker) -> None:
    missing = "01KAXD6Y8V3N9TQ2J5ZB7W4H1C"
    r = await api.client.delete(f"/v1/comments/{missing}", headers=api.auth())
    assert r.status_code == 404 and r.json()["error"]["field"] == "comment_id"
    cid = await _approved(api, article="d6")
    r = await api.client.delete(f"/v1/comments/{cid}", headers=api.auth("moderator"))
    assert r.status_code == 403
    assert (await api.client.delete(f"/v1/comments/{cid}")).status_code == 401
    r = await api.client.patch(f"/v1/comments/{cid}", json={"text": "  "}, headers=api.auth())
    assert r.status_code == 422 and r.json()["error"]["field"] == "text"
    r = await api.client.patch(
        f"/v1/comments/{cid}", json={"text": "x", "author": {}}, headers=api.auth()
    )
    assert r.status_code in (400, 422)
    assert (await api.client.get(f"/v1/comments/{cid}", headers=api.auth())).json()[
        "status"
    ] == "approved"


async def test_edit_is_hidden_then_decided_once(
    api: Api, rds: Redis, worker: ScoringWorker
) -> None:
    cid = await _approved(api, article="e1", text="A calm first version.")
    r = await api.client.patch(
        f"/v1/comments/{cid}", json={"text": "A calm second version."}, headers=api.auth()
    )
    assert r.status_code == 202, r.text
    assert r.json()["revision"] == 1 and r.json()["edited_at"] is not None
    # Hidden at once (or already decided again by the running worker, never the old text).
    for c in await _listed(api, "e1"):
        assert c["text"] == "A calm second version."

    async def decided() -> bool:
        return await status_of(rds, cid) == "approved"

    await wait_for(decided)
    listed = await _listed(api, "e1")
    assert [c["text"] for c in listed] == ["A calm second version."]
    events = await _events(rds, cid)
    assert [(e["by"].split(":")[0], e["to"]) for e in events] == [
        ("auto", "approved"),
        ("site", "pending"),
        ("auto", "approved"),
    ]
    # The same text again is no new revision.
    same = await api.client.patch(
        f"/v1/comments/{cid}", json={"text": "A calm second version."}, headers=api.auth()
    )
    assert same.status_code == 200 and same.json()["revision"] == 1
    audit = (await api.client.get(f"{M}/audit", headers=api.auth("admin"))).json()["entries"]
    edits = [e for e in audit if e["target"] == cid]
    assert [e["action"] for e in edits] == ["comment.edit"]


async def test_edit_is_scored_again(api: Api, rds: Redis, worker: ScoringWorker) -> None:
    cid = await _approved(api, article="e2", text="Thanks for the thoughtful article.")
    r = await api.client.patch(
        f"/v1/comments/{cid}",
        json={"text": "you are a fucking idiot, shut the fuck up"},
        headers=api.auth(),
    )
    assert r.status_code == 202

    async def decided() -> bool:
        return await status_of(rds, cid) not in ("pending", "approved")

    await wait_for(decided)
    assert await status_of(rds, cid) == "held"
    assert await _count(api, "e2") == 0
    got = (await api.client.get(f"/v1/comments/{cid}", headers=api.auth())).json()
    assert got["scores"]["toxicity"] > 0.5 and got["revision"] == 1


async def test_rejected_cannot_be_edited(api: Api, rds: Redis) -> None:
    cid = await held(api, rds, text="edit me later")
    r = await api.client.post(
        f"{M}/comments/{cid}/decision",
        json={"action": "reject", "reason": "spam"},
        headers=api.auth("moderator"),
    )
    assert r.status_code == 200
    r = await api.client.patch(f"/v1/comments/{cid}", json={"text": "now ok"}, headers=api.auth())
    assert r.status_code == 409
    assert await status_of(rds, cid) == "rejected"


async def test_a_decision_of_an_older_revision_is_stale(api: Api, rds: Redis) -> None:
    """A worker that scored revision 0 while the site edited it writes nothing: the new
    revision gets its own decision. Both scripts (per comment and batch) refuse it."""
    store = Store(rds, Keys())
    for batch in (False, True):
        cid = (await api.post_comment(comment(article="e3", text="first"))).json()["id"]
        stored = await store.get(cid)
        assert stored is not None
        old_ref = CommentRef.of(stored.record)
        r = await api.client.patch(
            f"/v1/comments/{cid}", json={"text": "second"}, headers=api.auth()
        )
        assert r.status_code == 202
        decision = Decision(status=Status.APPROVED, by="auto", decided_at=now_ms())
        if batch:
            (result,) = await store.transition_batch([AutoDecision(old_ref, decision)])
        else:
            result = await store.transition(old_ref, [Status.PENDING], decision, actor="auto")
        assert not result.applied and result.previous is Status.PENDING
        after = await store.get(cid)
        assert after is not None and after.status is Status.PENDING
        assert after.record.text == "second" and after.record.revision == 1
        fresh = CommentRef.of(after.record)
        (ok,) = await store.transition_batch([AutoDecision(fresh, decision)])
        assert ok.applied


async def test_deletion_reaches_the_record(
    record_settings: Settings, record: Record, rds: Redis
) -> None:
    """The SQL record erases what Redis erased, and a deleted comment that left Redis reads
    the same stub from the record."""
    settings = record_settings
    keys = Keys(settings.key_prefix)
    async with running_api(settings) as api, running_worker(settings):
        cid = await _approved(api, article="d/rec", text="Delete me from the record.", private=True)
        await archive_all(settings, record)
        assert (await reads.get_many(record, [cid]))[
            cid
        ].record.text == "Delete me from the record."
        r = await api.client.delete(f"/v1/comments/{cid}", headers=api.auth())
        assert r.status_code == 200
        await archive_all(settings, record)
        stored = (await reads.get_many(record, [cid]))[cid]
        assert stored.status is Status.DELETED and stored.record.text == ""
        assert stored.record.author.name == "" and stored.record.context is None
        async with record.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(comments.c.text, comments.c.author_name, comments.c.doc).where(
                        comments.c.id == cid
                    )
                )
            ).one()
        assert row.text == "" and row.author_name == "" and "jane@" not in row.doc
        before = (await api.client.get(f"/v1/comments/{cid}", headers=api.auth())).content
        await rds.delete(keys.comment(cid))
        after = (await api.client.get(f"/v1/comments/{cid}", headers=api.auth())).content
        assert after == before and json.loads(after)["status"] == "deleted"
