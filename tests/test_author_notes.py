"""Moderators' notes on an author (``POST /v1/moderation/authors/{id}/notes``): stored newest
first, shown with the author, audited, bad input refused — through the ASGI app and a real
Redis."""

from __future__ import annotations

from tests.conftest import Api


async def test_notes_are_kept_newest_first_and_audited(api: Api) -> None:
    mod = api.auth("moderator")
    for text in ("Warned about personal attacks", "  Second warning, same thread  "):
        r = await api.client.post(
            "/v1/moderation/authors/u1/notes", json={"text": text}, headers=mod
        )
        assert r.status_code == 201, r.text
        assert r.json()["by"].startswith("moderator:")
    author = (await api.client.get("/v1/moderation/authors/u1", headers=mod)).json()
    assert [n["text"] for n in author["notes"]] == [
        "Second warning, same thread",
        "Warned about personal attacks",
    ]
    other = (await api.client.get("/v1/moderation/authors/u2", headers=mod)).json()
    assert other["notes"] == []
    audit = (
        await api.client.get(
            "/v1/moderation/audit",
            params={"target_type": "author", "target": "u1"},
            headers=mod,
        )
    ).json()
    assert [e["action"] for e in audit["entries"]] == ["author.note", "author.note"]
    assert audit["entries"][0]["note"] == "Second warning, same thread"


async def test_bad_notes_are_refused(api: Api) -> None:
    mod = api.auth("moderator")
    url = "/v1/moderation/authors/u1/notes"
    for body, words in (
        ({"text": "   "}, "must not be empty"),
        ({"text": "x" * 2001}, "longer than 2000"),
        ({"text": 5}, "text"),
        ({"text": "ok", "pin": True}, "pin"),
    ):
        r = await api.client.post(url, json=body, headers=mod)
        assert r.status_code in (400, 422), (body, r.text)
        assert words in r.text, (body, r.text)
    r = await api.client.post(url, json={"text": "ok"}, headers=api.auth("site"))
    assert r.status_code == 403
    assert (await api.client.get("/v1/moderation/authors/u1", headers=mod)).json()["notes"] == []
