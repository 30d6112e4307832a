"""The role matrix: every route the app mounts × every kind of credential, one table.

Each (method, route) the Starlette app serves must have a row in ``ACCESS`` saying who may use
it; the test walks ``app.routes`` itself, so a route added without a row fails here. Each row is
tried with no key, a malformed header, a revoked key, a site, moderator and admin key, a signed-in
moderator and admin session (cookie plus CSRF token), and another site's key, through the ASGI
app directly (the status line is all it needs, so streaming routes are cut off after it).

Two sites exist, so every request names its site (``?site=``, the first site's); the comment
the rows address is the first site's. Another site's key may use every site route for its own
site, but gets 404 on the first site's comment, as if it did not exist (ids are not probed).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from moderation.app import create_app
from moderation.keys import DEFAULT_SITE, CommentField, Keys
from moderation.messages import Role
from moderation.settings import Settings
from moderation.store.apikeys import create_key, revoke_key
from moderation.ui.render import STATIC_PATH
from tests.conftest import comment
from tests.moderation_support import hold, sign_in

CREDENTIALS = (
    "none",
    "malformed",
    "revoked",
    "site",
    "moderator",
    "admin",
    "moderator_session",
    "admin_session",
    "other_site",
)

#: Who may use a route. Anyone not allowed gets the refusal of the route's kind:
#: API routes 401 (no valid key) or 403 (a key or session of the wrong role); web pages send
#: whoever is not signed in to the sign-in page (303) and answer a wrong role with 403; the
#: fragments their scripts fetch answer 401 without a session (a script cannot follow a
#: sign-in page).
ALLOWED = {
    "public": set(CREDENTIALS),
    "site": {"site", "admin", "other_site"},
    "readers": {"site", "moderator", "admin", "other_site"},
    "moderators": {"moderator", "admin", "moderator_session", "admin_session"},
    "admins": {"admin", "admin_session"},
    "page": {"moderator_session", "admin_session"},
    "fragment": {"moderator_session", "admin_session"},
    "admin_page": {"admin_session"},
    # Only the metrics token (MODERATION_METRICS_TOKEN, tests/test_stats.py) reads /metrics on
    # the API's port: no API key or session does, whatever its role.
    "metrics": set(),
    # Coral signs each request with the phase's secret (tests/test_coral.py): no key opens it.
    "coral": set(),
}

#: (method, route path) -> (access, concrete path, body). ``{cid}`` is a held comment's id.
ACCESS: dict[tuple[str, str], tuple[str, str, Any]] = {
    ("GET", "/healthz"): ("public", "/healthz", None),
    ("GET", "/readyz"): ("public", "/readyz", None),
    ("GET", "/metrics"): ("metrics", "/metrics", None),
    ("GET", "/v1/counts"): ("public", "/v1/counts?article=a1", None),
    ("GET", "/v1/articles/{article_id:path}/comments"):
        ("public", "/v1/articles/a1/comments", None),
    ("GET", "/v1/articles/{article_id:path}"): ("public", "/v1/articles/a1", None),
    ("PUT", "/v1/articles/{article_id:path}"):
        ("site", "/v1/articles/a1", {"title": "A title", "url": "https://news.example/a1"}),
    ("GET", "/"): ("public", "/", None),
    ("GET", "/docs"): ("public", "/docs", None),
    ("GET", "/openapi.json"): ("public", "/openapi.json", None),
    ("GET", "/count.js"): ("public", "/count.js", None),
    ("POST", "/v1/comments"): ("site", "/v1/comments", comment()),
    ("GET", "/v1/comments/{comment_id}"): ("readers", "/v1/comments/{cid}", None),
    # A made-up id: an allowed caller gets 404, and the shared held comment stays as it is.
    ("DELETE", "/v1/comments/{comment_id}"):
        ("site", "/v1/comments/01KAXD6Y8V3N9TQ2J5ZB7W4H1C", None),
    ("PATCH", "/v1/comments/{comment_id}"):
        ("site", "/v1/comments/01KAXD6Y8V3N9TQ2J5ZB7W4H1C", {"text": "edited"}),
    ("GET", "/v1/stats"): ("moderators", "/v1/stats", None),
    ("POST", "/v1/comments/{comment_id}/reports"):
        ("public", "/v1/comments/{cid}/reports", {"reason": "spam"}),
    ("GET", "/v1/comments/{comment_id}/statement"):
        ("readers", "/v1/comments/{cid}/statement", None),
    ("GET", "/v1/moderation/reported"): ("moderators", "/v1/moderation/reported", None),
    ("POST", "/v1/moderation/reported/{comment_id}/decision"): (
        "moderators", "/v1/moderation/reported/{cid}/decision", {"action": "keep"}),
    ("GET", "/v1/moderation/grounds"): ("moderators", "/v1/moderation/grounds", None),
    ("GET", "/v1/moderation/transparency"): ("admins", "/v1/moderation/transparency", None),
    ("PUT", "/v1/moderation/grounds"): ("admins", "/v1/moderation/grounds", {"grounds": []}),
    ("GET", "/report.js"): ("public", "/report.js", None),
    # Appeals (made-up ids: an allowed caller gets 404 and nothing changes).
    ("POST", "/v1/comments/{comment_id}/appeals"): (
        "site", "/v1/comments/01KAXD6Y8V3N9TQ2J5ZB7W4H1C/appeals", {"text": "Please look again."}),
    ("GET", "/v1/moderation/appeals"): ("moderators", "/v1/moderation/appeals", None),
    ("GET", "/v1/moderation/appeals/{appeal_id}"): (
        "moderators", "/v1/moderation/appeals/apl_none", None),
    ("POST", "/v1/moderation/appeals/{appeal_id}/decision"): (
        "moderators", "/v1/moderation/appeals/apl_none/decision",
        {"outcome": "uphold", "answer": "It breaks the rules."}),
    ("POST", "/v1/coral/moderate"): ("coral", "/v1/coral/moderate", {"action": "NEW"}),
    ("GET", "/v1/moderation/queue"): ("moderators", "/v1/moderation/queue", None),
    ("GET", "/v1/moderation/queue/counts"): ("moderators", "/v1/moderation/queue/counts", None),
    ("GET", "/v1/moderation/events"): ("moderators", "/v1/moderation/events", None),
    ("GET", "/v1/moderation/comments/{comment_id}"): (
        "moderators", "/v1/moderation/comments/{cid}", None),
    ("POST", "/v1/moderation/comments/{comment_id}/decision"): (
        "moderators", "/v1/moderation/comments/{cid}/decision",
        {"action": "approve", "expected_status": "rejected"}),
    ("POST", "/v1/moderation/decisions"): (
        "moderators", "/v1/moderation/decisions",
        {"ids": ["{cid}"], "action": "approve", "expected_status": "rejected"}),
    ("POST", "/v1/moderation/decisions/undo"): (
        "moderators", "/v1/moderation/decisions/undo", {"ids": ["{cid}"]}),
    ("POST", "/v1/moderation/authors/{author_id:path}/notes"): (
        "moderators", "/v1/moderation/authors/u9/notes", {"text": "a note"}),
    ("POST", "/v1/moderation/authors/{author_id:path}/state"): (
        "moderators", "/v1/moderation/authors/u9/state", {"state": "normal"}),
    ("GET", "/v1/moderation/authors/{author_id:path}"): (
        "moderators", "/v1/moderation/authors/u1", None),
    ("GET", "/v1/moderation/articles"): ("moderators", "/v1/moderation/articles", None),
    ("PATCH", "/v1/moderation/articles/{article_id:path}/settings"): (
        "moderators", "/v1/moderation/articles/a9/settings", {"premoderate": False}),
    ("GET", "/v1/moderation/articles/{article_id:path}"): (
        "moderators", "/v1/moderation/articles/a1", None),
    ("GET", "/v1/moderation/policy"): ("moderators", "/v1/moderation/policy", None),
    ("PATCH", "/v1/moderation/policy"): ("admins", "/v1/moderation/policy", {"max_links": 3}),
    ("GET", "/v1/moderation/words"): ("admins", "/v1/moderation/words", None),
    ("PATCH", "/v1/moderation/words/{kind}"): (
        "admins", "/v1/moderation/words/suspect", {"add": ["matrixword"], "remove": []}),
    ("GET", "/v1/moderation/audit"): ("moderators", "/v1/moderation/audit", None),
    ("GET", "/v1/moderation/webhooks"): ("admins", "/v1/moderation/webhooks", None),
    ("POST", "/v1/moderation/webhooks"): ("admins", "/v1/moderation/webhooks",
        {"url": "http://127.0.0.1:9/hook", "events": ["comment.decided"]}),
    ("GET", "/v1/moderation/webhooks/{endpoint_id}"):
        ("admins", "/v1/moderation/webhooks/ep_none", None),
    ("PATCH", "/v1/moderation/webhooks/{endpoint_id}"):
        ("admins", "/v1/moderation/webhooks/ep_none", {"description": "x"}),
    ("DELETE", "/v1/moderation/webhooks/{endpoint_id}"):
        ("admins", "/v1/moderation/webhooks/ep_none", None),
    ("POST", "/v1/moderation/webhooks/{endpoint_id}/rotate"):
        ("admins", "/v1/moderation/webhooks/ep_none/rotate", None),
    ("GET", "/v1/moderation/webhooks/{endpoint_id}/failures"):
        ("admins", "/v1/moderation/webhooks/ep_none/failures", None),
    ("POST", "/v1/moderation/webhooks/{endpoint_id}/replay"):
        ("admins", "/v1/moderation/webhooks/ep_none/replay", {}),
    ("GET", "/v1/moderation/search"): ("moderators", "/v1/moderation/search?q=x", None),
    ("POST", "/v1/moderation/authors/{author_id:path}/forget"): (
        "admins", "/v1/moderation/authors/u-forget/forget", None),
    ("GET", "/v1/moderation/accounts"): ("admins", "/v1/moderation/accounts", None),
    ("POST", "/v1/moderation/accounts"): (
        "admins", "/v1/moderation/accounts", {"name": "matrix-new", "link": True}),
    ("PATCH", "/v1/moderation/accounts/{name}"): (
        "admins", "/v1/moderation/accounts/matrix-acc", {"disabled": False}),
    ("POST", "/v1/moderation/accounts/{name}/link"): (
        "admins", "/v1/moderation/accounts/matrix-acc/link", None),
    # A made-up session: an allowed caller gets 404 (nothing to revoke), others 401/403.
    ("DELETE", "/v1/moderation/accounts/{name}/sessions/{session_id}"): (
        "admins", "/v1/moderation/accounts/matrix-acc/sessions/0123456789abcdef", None),
    ("GET", "/v1/moderation/published"): (
        "moderators", "/v1/moderation/published?article=a1", None),
    ("GET", "/v1/moderation/comments/{comment_id}/copies"): (
        "moderators", "/v1/moderation/comments/{cid}/copies", None),
    ("POST", "/v1/moderation/comments/{comment_id}/escalate"): (
        "moderators", "/v1/moderation/comments/{cid}/escalate", {"note": "matrix"}),
    ("GET", "/v1/moderation/escalated"): ("admins", "/v1/moderation/escalated", None),
    ("GET", "/v1/moderation/spam-domains"): ("admins", "/v1/moderation/spam-domains", None),
    ("PATCH", "/v1/moderation/spam-domains/{kind}"): (
        "admins", "/v1/moderation/spam-domains/allow", {"add": ["matrix.example"]}),
    ("GET", "/moderate/published"): ("page", "/moderate/published?article=a1", None),
    ("GET", "/moderate/search"): ("page", "/moderate/search", None),
    ("GET", "/moderate/escalated"): ("admin_page", "/moderate/escalated", None),
    ("GET", "/moderate/spam-domains"): ("admin_page", "/moderate/spam-domains", None),
    ("GET", "/moderate"): ("page", "/moderate", None),
    ("GET", "/moderate/"): ("page", "/moderate/", None),
    ("GET", "/moderate/login"): ("public", "/moderate/login", None),
    ("POST", "/moderate/login"): ("public", "/moderate/login", "login-form"),
    ("POST", "/moderate/logout"): ("public", "/moderate/logout", "logout-form"),
    ("GET", "/moderate/queue"): ("page", "/moderate/queue", None),
    ("GET", "/moderate/queue/items"): ("fragment", "/moderate/queue/items", None),
    ("GET", "/moderate/queue/status"): ("fragment", "/moderate/queue/status", None),
    ("GET", "/moderate/comments/{comment_id}"): ("page", "/moderate/comments/{cid}", None),
    ("GET", "/moderate/authors/{author_id:path}"): ("page", "/moderate/authors/u1", None),
    ("GET", "/moderate/articles"): ("page", "/moderate/articles", None),
    ("GET", "/moderate/articles/{article_id:path}"): ("page", "/moderate/articles/a1", None),
    ("GET", "/moderate/policy"): ("admin_page", "/moderate/policy", None),
    ("GET", "/moderate/transparency"): ("admin_page", "/moderate/transparency", None),
    ("GET", "/moderate/words"): ("admin_page", "/moderate/words", None),
    ("GET", "/moderate/audit"): ("page", "/moderate/audit", None),
    ("GET", "/moderate/dashboard"): ("page", "/moderate/dashboard", None),
    ("GET", "/moderate/accounts"): ("admin_page", "/moderate/accounts", None),
    ("GET", "/moderate/login/link"): ("public", "/moderate/login/link?token=nope", None),
    ("POST", "/moderate/login/link"): ("public", "/moderate/login/link", "link-form"),
    ("GET", "/moderate/reported"): ("page", "/moderate/reported", None),
    ("GET", "/moderate/appeals"): ("page", "/moderate/appeals", None),
    ("GET", "/moderate/dashboard/stream"): ("moderators", "/moderate/dashboard/stream", None),
    ("GET", STATIC_PATH): ("public", f"{STATIC_PATH}/app.css", None),
}  # fmt: skip


#: Routes that address one comment by id: another site's key gets 404 on the first site's
#: comment there (the DELETE and PATCH rows then address the real comment, not a made-up id).
BY_COMMENT = frozenset(
    {
        ("GET", "/v1/comments/{comment_id}"),
        ("DELETE", "/v1/comments/{comment_id}"),
        ("PATCH", "/v1/comments/{comment_id}"),
        ("GET", "/v1/comments/{comment_id}/statement"),
        ("POST", "/v1/comments/{comment_id}/appeals"),
    }
)
MADE_UP_ID = "01KAXD6Y8V3N9TQ2J5ZB7W4H1C"


def mounted(app: Starlette) -> set[tuple[str, str]]:
    """Every (method, path) the app serves; a mount counts as one GET route."""
    found = set()
    for route in app.routes:
        if isinstance(route, Route):
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((method, route.path))
        elif isinstance(route, Mount):
            found.add(("GET", route.path))
        else:
            raise AssertionError(f"a route of an unknown kind: {route!r}")
    return found


def test_every_mounted_route_has_a_row(settings: Settings) -> None:
    routes = mounted(create_app(settings))
    assert routes - ACCESS.keys() == set(), "routes without a row in ACCESS"
    assert ACCESS.keys() - routes == set(), "rows for routes the app no longer has"


@dataclass
class Caller:
    headers: dict[str, str]
    #: form field csrf_token for the web UI's own forms (sessions only)
    csrf: str = ""


@dataclass
class World:
    app: Starlette
    callers: dict[str, Caller]
    moderator_key: str
    cid: str


@contextlib.asynccontextmanager
async def world(settings: Settings) -> AsyncIterator[World]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        redis = app.state.redis
        k = Keys(settings.key_prefix)
        tag = os.urandom(3).hex()
        site = await create_key(redis, k, f"site-{tag}", Role.SITE)
        mod = await create_key(redis, k, f"mod-{tag}", Role.MODERATOR)
        adm = await create_key(redis, k, f"adm-{tag}", Role.ADMIN)
        other = await create_key(redis, k, f"other-{tag}", Role.SITE, site=f"other-{tag}")
        gone = await create_key(redis, k, f"gone-{tag}", Role.ADMIN)
        await revoke_key(redis, k, f"gone-{tag}")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            r = await c.post("/v1/comments", json=comment(), headers=_bearer(site))
            cid = r.json()["id"]
        await hold(redis, cid)
        callers = {
            "none": Caller({}),
            "malformed": Caller({"Authorization": "Basic bm90OmEga2V5"}),
            "revoked": Caller(_bearer(gone)),
            "site": Caller(_bearer(site)),
            "moderator": Caller(_bearer(mod)),
            "admin": Caller(_bearer(adm)),
            "other_site": Caller(_bearer(other)),
        }
        for name, key in (("moderator_session", mod), ("admin_session", adm)):
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                csrf = await sign_in(c, key)
                cookie = "; ".join(f"{n}={v}" for n, v in c.cookies.items())
            callers[name] = Caller({"Cookie": cookie, "X-CSRF-Token": csrf}, csrf)
        yield World(app, callers, mod, cid)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def asgi_status(
    app: Starlette, method: str, path: str, headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, str]]:
    """The status and headers the app starts its response with; the app is cut off there
    (server-sent event streams never end by themselves)."""
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver")]
        + [(n.lower().encode(), v.encode()) for n, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    started: asyncio.Future[tuple[int, dict[str, str]]] = asyncio.get_running_loop().create_future()
    sent_body = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(30)  # until cancelled: a client still listening
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and not started.done():
            names = {n.decode().lower(): v.decode() for n, v in message["headers"]}
            started.set_result((int(message["status"]), names))

    task = asyncio.create_task(app(scope, receive, send))
    try:
        return await asyncio.wait_for(asyncio.shield(started), timeout=10)
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


def _request(
    row: tuple[str, str, Any], caller: Caller, w: World, credential: str = ""
) -> tuple[str, dict[str, str], bytes]:
    _, path, body = row
    if credential == "other_site":
        path = path.replace(MADE_UP_ID, w.cid)  # the first site's comment: 404 all the same
    path = path.replace("{cid}", w.cid)
    # Two sites exist: name the first (the rows' comment's) wherever a site is needed.
    path += ("&" if "?" in path else "?") + f"site={DEFAULT_SITE}"
    headers = dict(caller.headers)
    if body == "login-form":
        data = urlencode({"key": w.moderator_key, "next": "/moderate/queue"}).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return path, headers, data
    if body == "link-form":  # a spent link: 404 for anyone (the path is public)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return path, headers, urlencode({"token": "spent"}).encode()
    if body == "logout-form":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return path, headers, urlencode({"csrf_token": caller.csrf}).encode()
    if body is None:
        return path, headers, b""
    import json

    headers["Content-Type"] = "application/json"
    text = json.dumps(body).replace("{cid}", w.cid)
    return path, headers, text.encode()


def _verdict(
    access: str, credential: str, status: int, location: str, route: tuple[str, str] = ("", "")
) -> str:
    """'allowed' or the refusal seen (for another site's key on a comment, also its 404)."""
    if status == 404 and credential == "other_site" and route in BY_COMMENT:
        return "404"
    if status == 303 and "/moderate/login" in location and "signed_out" not in location:
        return "sign-in"
    if status in (401, 403):
        return str(status)
    return "allowed"


def _expected(access: str, credential: str, method: str, path: str) -> str:
    if credential == "other_site" and (method, path) in BY_COMMENT:
        return "404"
    if credential in ALLOWED[access]:
        return "allowed"
    if access in ("page", "admin_page"):
        return "403" if credential.endswith("_session") else "sign-in"
    if access in ("fragment", "metrics", "coral"):
        return "401"
    valid = credential in ("site", "moderator", "admin", "other_site")
    if access == "moderators" or access == "admins":
        return "403" if valid or credential.endswith("_session") else "401"
    return "403" if valid else "401"


async def test_the_role_matrix(settings: Settings) -> None:
    # Wrong keys are the point here: no rate limit on them in this test.
    relaxed = settings.with_overrides(auth_failures_max=1_000_000)
    wrong: list[str] = []
    tried = 0
    async with world(relaxed) as w:
        # Logout last: it ends the session the other rows use.
        rows = sorted(ACCESS.items(), key=lambda item: item[0][1] == "/moderate/logout")
        for (method, template), row in rows:
            for credential in CREDENTIALS:
                path, headers, body = _request(row, w.callers[credential], w, credential)
                status, got_headers = await asgi_status(w.app, method, path, headers, body)
                tried += 1
                location = got_headers.get("location", "")
                verdict = _verdict(row[0], credential, status, location, (method, template))
                expected = _expected(row[0], credential, method, template)
                if verdict != expected:
                    wrong.append(
                        f"{method} {template} as {credential}: {status} ({verdict}), "
                        f"expected {expected}"
                    )
        # Another site's DELETE and PATCH left the first site's comment as it was.
        assert await w.app.state.redis.hget(Keys().comment(w.cid), CommentField.STATUS) == b"held"
    print(f"role matrix: {tried} requests, {len(ACCESS)} routes x {len(CREDENTIALS)} credentials")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("credential", ["site", "moderator"])
async def test_a_refused_role_changes_nothing(settings: Settings, credential: str) -> None:
    """A 403 on a write leaves the state as it was (the check comes before any write)."""
    async with world(settings) as w:
        caller = w.callers[credential]
        path, headers, body = _request(ACCESS[("PATCH", "/v1/moderation/words/{kind}")], caller, w)
        status, _ = await asgi_status(w.app, "PATCH", path, headers, body)
        assert status == 403
        words = await w.app.state.redis.smembers(Keys().words("suspect"))
        assert b"matrixword" not in words
