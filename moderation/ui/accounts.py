"""Accounts in the web UI: the admins' page, and signing in with a one-time link.

``/moderate/accounts`` (admins) lists every account with its live sessions; its buttons call
the JSON API (``moderation.api.accounts``) with the session's CSRF token (``accounts.js``).

``/moderate/login/link?token=…`` shows whom the link signs in (without using it: a link
preview or a mail scanner that fetches the URL must not spend it) and a button that does, by
``POST``; the person may choose a password in the same form, so the next sign-in needs no
new link. A spent, expired or unknown token counts as a failed sign-in from that address.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from moderation.api.access import Principal
from moderation.api.accounts import session_view
from moderation.api.auth import ADMINS
from moderation.api.moderation import review_of
from moderation.errors import BadRequest, Forbidden, describe
from moderation.messages import iso
from moderation.settings import Settings
from moderation.store import accounts, audit
from moderation.store.audit import Actor
from moderation.store.sessions import account_sessions, create_account_session
from moderation.ui.render import BASE, NAV_LINKS, NavLink, error_page, render, ui_page
from moderation.ui.session import (
    DEFAULT_NEXT,
    read_form,
    record_failure,
    same_origin,
    sign_in_refused,
    start_session,
)

NAV_LINKS.append(NavLink("Accounts", f"{BASE}/accounts", ADMINS))


@ui_page(ADMINS)
async def accounts_page(request: Request, principal: Principal) -> Response:
    state = request.app.state
    rows = []
    for account in await accounts.list_accounts(state.redis, state.keys):
        sessions = await account_sessions(state.redis, state.keys, account.name)
        rows.append(
            {
                **account.public(),
                "created": iso(account.created_at),
                "sessions": [
                    {**session_view(s), "since": iso(s.created_at), "seen": iso(s.last_seen)}
                    for s in sessions
                ],
            }
        )
    return render(
        request,
        principal,
        "accounts.html",
        {
            "title": "Accounts",
            "accounts": rows,
            "key_sign_in": state.settings.ui_key_sign_in,
            "link_hours": state.settings.sign_in_link_ttl_s // 3600,
        },
    )


def _link_page(
    request: Request, token: str, name: str | None, error: str | None, status: int = 200
) -> Response:
    return render(
        request,
        None,
        "login_link.html",
        {"title": "Sign in", "token": token, "name": name, "error": error},
        status_code=status,
    )


async def link_form(request: Request) -> Response:
    token = request.query_params.get("token", "")
    state = request.app.state
    name = await accounts.peek_link(state.redis, state.keys, token)
    if name is None:
        return _link_page(
            request, "", None, "This sign-in link is not valid: it was used, or it expired.", 404
        )
    return _link_page(request, token, name, None)


async def link_submit(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not same_origin(request):
        return error_page(request, None, describe(Forbidden("Sign-in must come from this site.")))
    form = await read_form(request)
    token, password = form.get("token", ""), form.get("password", "")
    if password:
        try:
            accounts.check_password(password)
        except BadRequest as exc:
            return _link_page(request, token, form.get("name"), exc.message, 400)
    wait = await sign_in_refused(request)
    if wait:
        page = _link_page(request, "", None, f"Too many failed sign-ins; retry in {wait} s.", 429)
        page.headers["Retry-After"] = str(wait)
        return page
    state = request.app.state
    account = await accounts.use_link(state.redis, state.keys, token)
    if account is None:
        await record_failure(request)
        return _link_page(
            request, "", None, "This sign-in link is not valid: it was used, or it expired.", 404
        )
    if password:
        await accounts.set_password(state.redis, state.keys, account.name, password)
        actor = Actor(account.name, account.role, "session")
        entry = audit.new_entry(
            actor, "account.password", "account", account.name, after={"password": "changed"}
        )
        await review_of(request).audit.append(entry)
    opened = await create_account_session(state.redis, state.keys, settings, account)
    return await start_session(request, opened, "link", DEFAULT_NEXT)
