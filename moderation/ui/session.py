"""Signing in and out of the web UI.

Sign-in takes a moderator or admin API key (the same secret ``moderation keys create`` prints)
and turns it into a server-side session (``moderation.store.sessions``): the browser holds only a
random session id in an ``HttpOnly``, ``SameSite=Strict`` cookie, ``Secure`` when served over
TLS. Sign-out needs the session's CSRF token, like every other state change.

``require_session`` is re-exported here for pages of other features.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import ClientDisconnect, Request
from starlette.responses import RedirectResponse, Response

from moderation.api.access import Principal, check_csrf, current_session, require_session
from moderation.api.auth import MODERATORS, verify_key
from moderation.api.moderation import review_of
from moderation.errors import ClientClosedRequest, CSRFFailed, Forbidden, RateLimited, describe
from moderation.settings import Settings
from moderation.store import audit
from moderation.store.audit import Actor
from moderation.store.sessions import COOKIE, create_session, end_session
from moderation.ui.render import BASE, LOGIN_PATH, SECURITY_HEADERS, error_page, render

__all__ = ["login_form", "login_submit", "logout", "require_session"]

MAX_FORM_BYTES = 8 * 1024
DEFAULT_NEXT = f"{BASE}/queue"


def safe_next(value: str | None) -> str:
    """Only a path inside the UI: never another site (``//evil``, ``/\\evil``, ``https:``)."""
    if not value or "\\" in value or value.startswith("//"):
        return DEFAULT_NEXT
    if value == BASE or value.startswith(BASE + "/") or value.startswith(BASE + "?"):
        return value
    return DEFAULT_NEXT


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form (first value of each field); oversize or other types → empty."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return {}
    body = b""
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return {}
    except ClientDisconnect:
        raise ClientClosedRequest("the client closed the connection mid-form") from None
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in parsed.items() if v}


def _same_origin(request: Request) -> bool:
    """Browsers send ``Origin`` on POST; a foreign one is a cross-site (login CSRF) attempt."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin == f"{request.url.scheme}://{request.url.netloc}"


def _login_page(request: Request, *, error: str | None, status: int, next_: str) -> Response:
    return render(
        request,
        None,
        "login.html",
        {"title": "Sign in", "error": error, "next": next_, "notice": None},
        status_code=status,
    )


async def login_form(request: Request) -> Response:
    next_ = safe_next(request.query_params.get("next"))
    if await current_session(request) is not None:
        return RedirectResponse(next_, 303, headers=SECURITY_HEADERS)
    notice = "You are signed out." if request.query_params.get("signed_out") else None
    return render(
        request,
        None,
        "login.html",
        {"title": "Sign in", "error": None, "next": next_, "notice": notice},
    )


async def login_submit(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not _same_origin(request):
        refused = Forbidden("Sign-in must come from this site.")
        return error_page(request, None, describe(refused))
    form = await read_form(request)
    next_ = safe_next(form.get("next"))
    secret = form.get("key", "").strip()
    if not secret:
        return _login_page(request, error="Enter your API key.", status=400, next_=next_)
    try:
        info = await verify_key(request, secret)
    except RateLimited as exc:
        page = _login_page(request, error=exc.message, status=429, next_=next_)
        page.headers.update(exc.headers)
        return page
    if info is None:
        return _login_page(
            request, error="That key is not valid, or it was revoked.", status=401, next_=next_
        )
    if info.role not in MODERATORS:
        return _login_page(
            request,
            error="This is a site key. Sign in with a moderator or admin key.",
            status=403,
            next_=next_,
        )
    redis = request.app.state.redis
    session_id, _ = await create_session(redis, request.app.state.keys, settings, info)
    actor = Actor(info.name, info.role, "session")
    await review_of(request).audit.append(
        audit.new_entry(actor, "session.sign_in", "session", info.name)
    )
    response = RedirectResponse(next_, 303, headers=SECURITY_HEADERS)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=settings.session_max_s,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


async def logout(request: Request) -> Response:
    session = await current_session(request)
    response = RedirectResponse(f"{LOGIN_PATH}?signed_out=1", 303, headers=SECURITY_HEADERS)
    if session is not None:
        form = await read_form(request)
        try:
            check_csrf(request, session, form.get("csrf_token", ""))
        except CSRFFailed as exc:
            principal = Principal(Actor(session.name, session.role, "session"), session.csrf)
            return error_page(request, principal, describe(exc))
        redis = request.app.state.redis
        await end_session(redis, request.app.state.keys, request.cookies.get(COOKIE, ""))
        actor = Actor(session.name, session.role, "session")
        await review_of(request).audit.append(
            audit.new_entry(actor, "session.sign_out", "session", actor.name)
        )
    response.delete_cookie(
        COOKIE, path="/", secure=request.url.scheme == "https", httponly=True, samesite="strict"
    )
    return response
