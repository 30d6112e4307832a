"""Signing in and out of the web UI.

Sign-in takes an account's name and password (``moderation.store.accounts``; one-time links
are in ``moderation.ui.accounts``) or, while ``ui_key_sign_in`` is on, a moderator or admin
API key, and turns it into a server-side session (``moderation.store.sessions``): the browser
holds only a random session id in an ``HttpOnly``, ``SameSite=Strict`` cookie, ``Secure`` when
served over TLS. Failed sign-ins count per client address (``store.auth_failures``), with
failed API keys. Sign-out needs the session's CSRF token, like every other state change.

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
from moderation.spam.velocity import ip_bucket
from moderation.store import accounts, audit
from moderation.store.audit import Actor
from moderation.store.auth_failures import AuthFailures
from moderation.store.sessions import (
    COOKIE,
    Session,
    create_account_session,
    create_session,
    end_session,
)
from moderation.ui.render import BASE, LOGIN_PATH, SECURITY_HEADERS, error_page, render

__all__ = [
    "login_form",
    "login_submit",
    "logout",
    "record_failure",
    "require_session",
    "sign_in_refused",
    "start_session",
]

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


def same_origin(request: Request) -> bool:
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
        {
            "title": "Sign in",
            "error": error,
            "next": next_,
            "notice": None,
            "key_sign_in": request.app.state.settings.ui_key_sign_in,
        },
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
        {
            "title": "Sign in",
            "error": None,
            "next": next_,
            "notice": notice,
            "key_sign_in": request.app.state.settings.ui_key_sign_in,
        },
    )


async def sign_in_refused(request: Request, account: str | None = None) -> int:
    """Seconds this sign-in must wait (0: it may try). Failures count per client address,
    with the failed API keys (``store.auth_failures``), and per account name, so guesses
    spread over many addresses still stop (for the window) at one account."""
    failures: AuthFailures = request.app.state.auth_failures
    waits = [await failures.retry_after(b) for b in _buckets(request, account)]
    return max(waits)


async def record_failure(request: Request, account: str | None = None) -> None:
    failures: AuthFailures = request.app.state.auth_failures
    for bucket in _buckets(request, account):
        await failures.record(bucket)


def _buckets(request: Request, account: str | None) -> list[str]:
    address = ip_bucket(request.client.host if request.client else "unknown")
    # An account's bucket cannot be an address's: ip_bucket never starts with "account=".
    return [address] if account is None else [address, f"account={account.lower()}"]


def _too_many(request: Request, wait: int, next_: str) -> Response:
    message = f"Too many failed sign-ins from this address; retry in {wait} s."
    page = _login_page(request, error=message, status=429, next_=next_)
    page.headers["Retry-After"] = str(wait)
    return page


async def start_session(
    request: Request, opened: tuple[str, Session], via: str, next_: str
) -> Response:
    """Audit the sign-in and hand the browser its session cookie (shared by every way in)."""
    settings: Settings = request.app.state.settings
    session_id, session = opened
    actor = Actor(session.name, session.role, "session")
    await review_of(request).audit.append(
        audit.new_entry(actor, "session.sign_in", "session", session.name, detail={"via": via})
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


async def login_submit(request: Request) -> Response:
    """Sign in with an account's name and password, or (``ui_key_sign_in``) an API key."""
    settings: Settings = request.app.state.settings
    if not same_origin(request):
        refused = Forbidden("Sign-in must come from this site.")
        return error_page(request, None, describe(refused))
    form = await read_form(request)
    next_ = safe_next(form.get("next"))
    secret = form.get("key", "").strip()
    if secret and settings.ui_key_sign_in:
        return await _key_sign_in(request, secret, next_)
    name, password = form.get("name", "").strip(), form.get("password", "")
    if not name or not password:
        return _login_page(
            request, error="Enter your account name and password.", status=400, next_=next_
        )
    wait = await sign_in_refused(request, name)
    if wait:
        return _too_many(request, wait, next_)
    redis = request.app.state.redis
    keys = request.app.state.keys
    account = await accounts.authenticate(redis, keys, name, password)
    if account is None:
        await record_failure(request, name)
        return _login_page(
            request,
            error="Wrong name or password, or the account is disabled.",
            status=401,
            next_=next_,
        )
    opened = await create_account_session(redis, keys, settings, account)
    return await start_session(request, opened, "password", next_)


async def _key_sign_in(request: Request, secret: str, next_: str) -> Response:
    settings: Settings = request.app.state.settings
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
    opened = await create_session(request.app.state.redis, request.app.state.keys, settings, info)
    return await start_session(request, opened, "key", next_)


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
