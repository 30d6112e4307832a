"""Web sign-in, sessions, CSRF and the server-rendered pages (over the ASGI app)."""

from __future__ import annotations

import asyncio
import re
from html import escape

import httpx
import pytest
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.settings import Settings
from moderation.store.apikeys import revoke_key
from tests.conftest import Api, make_settings, running_api
from tests.moderation_support import held, sign_in, status_of

M = "/v1/moderation"


async def test_pages_send_signed_out_visitors_to_sign_in(api: Api) -> None:
    for path in ("/moderate/queue", "/moderate/audit", "/moderate/words", "/moderate/authors/u1"):
        r = await api.client.get(path, params={"order": "riskiest"})
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/moderate/login?next=%2Fmoderate%2F")
    login = await api.client.get("/moderate/login")
    assert login.status_code == 200
    assert 'name="key"' in login.text
    assert "default-src 'self'" in login.headers["content-security-policy"]


async def test_sign_in_sets_a_strict_session_cookie(api: Api) -> None:
    bad = await api.client.post("/moderate/login", data={"key": "mk_moderator_nope"})
    assert bad.status_code == 401
    assert "not valid" in bad.text
    site = await api.client.post("/moderate/login", data={"key": api.site_key})
    assert site.status_code == 403
    assert "site key" in site.text
    assert "mod_session" not in api.client.cookies

    r = await api.client.post(
        "/moderate/login", data={"key": api.moderator_key, "next": "/moderate/audit?actor=x"}
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/moderate/audit?actor=x"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("mod_session=")
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "secure" not in attributes  # plain http here; see the https test
    # The session id is never stored as such.
    session_id = api.client.cookies["mod_session"]
    keys = await api.client.get("/healthz")
    assert keys.status_code == 200
    assert session_id not in r.text


async def test_cookie_is_secure_over_https(settings: Settings) -> None:
    async with running_api(settings) as api:
        transport = api.client._transport  # the same ASGI app, addressed over https
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            r = await c.post("/moderate/login", data={"key": api.admin_key})
            assert r.status_code == 303
            assert "secure" in {a.strip().lower() for a in r.headers["set-cookie"].split(";")}


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/\\evil", "/v1/x"])
async def test_sign_in_never_redirects_off_the_ui(api: Api, target: str) -> None:
    r = await api.client.post("/moderate/login", data={"key": api.moderator_key, "next": target})
    assert r.status_code == 303
    assert r.headers["location"] == "/moderate/queue"


async def test_sign_in_from_another_origin_is_refused(api: Api) -> None:
    r = await api.client.post(
        "/moderate/login",
        data={"key": api.moderator_key},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    assert "mod_session" not in api.client.cookies


async def test_session_requests_need_the_csrf_token(api: Api, rds: Redis) -> None:
    cid = await held(api, rds)
    csrf = await sign_in(api.client, api.moderator_key)
    assert (await api.client.get(f"{M}/queue")).status_code == 200  # reads need no token

    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": csrf[:-1]}):
        r = await api.client.post(
            f"{M}/comments/{cid}/decision", json={"action": "approve"}, headers=headers
        )
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "csrf_failed"
    assert await status_of(rds, cid) == "held"
    r = await api.client.patch(f"{M}/articles/a1/settings", json={"closed": True})
    assert r.status_code == 403

    r = await api.client.post(
        f"{M}/comments/{cid}/decision",
        json={"action": "approve"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 200, r.text
    entry = (await api.client.get(f"{M}/audit")).json()["entries"][0]
    assert (entry["action"], entry["via"], entry["role"]) == (
        "comment.approve",
        "session",
        "moderator",
    )

    # A moderator's session cannot do what needs an admin, token or not.
    r = await api.client.patch(
        f"{M}/words/banned", json={"add": ["x"]}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 403
    page = await api.client.get("/moderate/words")
    assert page.status_code == 403
    assert "Not allowed" in page.text


async def test_sign_out_needs_the_token_and_ends_the_session(api: Api) -> None:
    csrf = await sign_in(api.client, api.moderator_key)
    r = await api.client.post("/moderate/logout", data={"csrf_token": "wrong"})
    assert r.status_code == 403
    assert (await api.client.get(f"{M}/queue")).status_code == 200
    r = await api.client.post("/moderate/logout", data={"csrf_token": csrf})
    assert r.status_code == 303
    assert r.headers["location"] == "/moderate/login?signed_out=1"
    assert (await api.client.get(f"{M}/queue")).status_code == 401
    assert (await api.client.get("/moderate/queue")).status_code == 303


async def test_a_revoked_key_ends_its_sessions(api: Api, rds: Redis) -> None:
    await sign_in(api.client, api.moderator_key)
    assert (await api.client.get(f"{M}/queue")).status_code == 200
    info = (await api.client.get(f"{M}/audit")).json()["entries"][0]
    await revoke_key(rds, Keys(), info["actor"])
    assert (await api.client.get(f"{M}/queue")).status_code == 401


async def test_sessions_expire_when_idle_and_at_their_maximum_age(redis_server: object) -> None:
    url = redis_server.url  # type: ignore[attr-defined]
    # 3 s, not 1: on a slow, busy machine signing in and the first page took over a second.
    for overrides in ({"session_idle_s": 3}, {"session_max_s": 3}):
        async with running_api(make_settings(url, **overrides)) as api:
            await sign_in(api.client, api.admin_key)
            assert (await api.client.get(f"{M}/queue")).status_code == 200
            await asyncio.sleep(3.6)
            assert (await api.client.get(f"{M}/queue")).status_code == 401, overrides


PAYLOADS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    '"><svg onload=window.__xss=1>',
    "javascript:window.__xss=1",
]


async def test_pages_escape_comment_text_author_names_and_article_ids(api: Api, rds: Redis) -> None:
    ids = [
        await held(api, rds, text=f"look {p} here", name=p, article=f"a-{p}", author=f"u-{i}")
        for i, p in enumerate(PAYLOADS)
    ]
    await sign_in(api.client, api.admin_key)
    pages = [
        "/moderate/queue",
        f"/moderate/comments/{ids[1]}",
        "/moderate/authors/u-1",
        "/moderate/articles",
        "/moderate/audit",
    ]
    for cid in ids:
        await api.client.get(f"/moderate/comments/{cid}")
    for path in pages:
        r = await api.client.get(path)
        assert r.status_code == 200, (path, r.text)
        for p in PAYLOADS[:3]:
            assert p not in r.text, (path, p)
        assert "<script>window" not in r.text
        assert not re.search(r"<(img|svg)[^>]*on\w+=", r.text, re.I), path
    queue = (await api.client.get("/moderate/queue")).text
    assert escape("<script>window.__xss=1</script>") in queue
    # A javascript: "link" is shown as marked text, never as a link.
    assert 'href="javascript:' not in queue
    assert '<mark class="hl hl-link"' in queue
    # Article ids become escaped path segments.
    assert "/moderate/articles/a-%3Cscript%3E" in queue
    fragment = await api.client.get("/moderate/queue/items", params={"ids": ",".join(ids)})
    html = fragment.json()["html"]
    assert "<script>window" not in html
    assert len(fragment.json()["ids"]) == 4


async def test_queue_page_content_and_empty_states(api: Api, rds: Redis) -> None:
    await sign_in(api.client, api.moderator_key)
    empty = await api.client.get("/moderate/queue")
    assert "The queue is clear." in empty.text
    assert "Server-Timing" in empty.headers or "server-timing" in empty.headers

    cid = await held(api, rds, text="you absolute idiot, see www.example.com", risk=0.93)
    page = (await api.client.get("/moderate/queue")).text
    assert f'id="c-{cid}"' in page
    assert "insult 0.93 ≥ threshold 0.60" in page
    assert 'class="triggered"' in page
    assert '<mark class="hl hl-link" title="link: www.example.com">www.example.com</mark>' in page
    assert "1 held" in page
    # The live feed resumes from the last transition before the page was read.
    newest = (await rds.xrevrange(Keys().events, "+", "-", count=1))[0][0].decode()
    assert f'data-events-after="{newest}"' in page
    filtered = await api.client.get("/moderate/queue", params={"article": "elsewhere"})
    assert "No held comments match these filters." in filtered.text

    # The items fragment only returns what matches the page's filters.
    r = await api.client.get("/moderate/queue/items", params={"ids": cid, "article": "zzz"})
    assert r.json()["ids"] == []
    r = await api.client.get("/moderate/queue/items", params={"ids": cid, "order": "riskiest"})
    assert r.json()["ids"] == [cid]
    async with httpx.AsyncClient(transport=api.client._transport, base_url="http://t") as anon:
        r = await anon.get("/moderate/queue/items", params={"ids": cid})
        assert r.status_code == 401


async def test_every_page_renders(api: Api, rds: Redis) -> None:
    cid = await held(api, rds, text="a suspect durian", author="u9", article="story/with/slash")
    await api.client.patch(
        f"{M}/words/suspect", json={"add": ["durian"]}, headers=api.auth("admin")
    )
    await api.client.post(
        f"{M}/authors/u9/state", json={"state": "trusted"}, headers=api.auth("admin")
    )
    await sign_in(api.client, api.admin_key)
    for path, expect in (
        ("/moderate", None),
        (f"/moderate/comments/{cid}", "Reject"),
        ("/moderate/comments/01ARZ3NDEKTSV4RRFFQ69G5FAV", None),
        ("/moderate/authors/u9", "trusted"),
        ("/moderate/articles", "story/with/slash"),
        ("/moderate/articles/story%2Fwith%2Fslash", "Settings for this article"),
        ("/moderate/articles?id=story%2Fwith%2Fslash", None),
        ("/moderate/words", "durian"),
        ("/moderate/policy", "Save site policy"),
        ("/moderate/audit?actor=nobody", "No audit entries yet."),
        ("/moderate/audit?target_type=planet&target=x", None),
    ):
        r = await api.client.get(path)
        if path == "/moderate" or "?id=" in path:
            assert r.status_code == 303, path
        elif "01ARZ3" in path:
            assert r.status_code == 404 and "Not found" in r.text
        elif "planet" in path:
            assert r.status_code == 422
        else:
            assert r.status_code == 200, (path, r.text[:300])
            assert expect in r.text, path


async def test_page_roles(api: Api, rds: Redis) -> None:
    cid = await held(api, rds)
    pages = {
        "/moderate/queue": False,
        f"/moderate/comments/{cid}": False,
        "/moderate/authors/u1": False,
        "/moderate/articles": False,
        "/moderate/articles/a1": False,
        "/moderate/audit": False,
        "/moderate/words": True,  # admin only
        "/moderate/policy": True,
    }
    for path in pages:
        assert (await api.client.get(path)).status_code == 303, path
    await sign_in(api.client, api.moderator_key)
    for path, admin_only in pages.items():
        r = await api.client.get(path)
        assert r.status_code == (403 if admin_only else 200), path
        # Moderators are not shown links they cannot follow.
        assert ('href="/moderate/words"' in r.text) is False, path
    await sign_in(api.client, api.admin_key)
    for path in pages:
        r = await api.client.get(path)
        assert r.status_code == 200, path
        assert 'href="/moderate/words"' in r.text
