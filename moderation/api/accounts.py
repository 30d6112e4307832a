"""``/v1/moderation/accounts…``: moderator and admin accounts, managed by admins.

List accounts with their live web sessions, create one (with a password, or none and a
one-time sign-in link), disable or enable it, set its password, make a new sign-in link, and
revoke one session. Disabling signs the account out on its next request (``store.sessions``
checks the account on every use). Every change is audited (target type ``account``; a
session's revocation ``session``). The logic lives in ``moderation.store.accounts``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from moderation.api import schemas_tools as st
from moderation.api.access import Principal, require_principal
from moderation.api.auth import ADMINS
from moderation.api.moderation import _body, review_of
from moderation.api.responses import JSON
from moderation.api.schemas import typed
from moderation.errors import Conflict, NotFound
from moderation.messages import Role
from moderation.settings import Settings
from moderation.store import accounts, audit
from moderation.store.sessions import Session, account_sessions, revoke_account_session

PREFIX = "/v1/moderation/accounts"
LINK_PATH = "/moderate/login/link"


class AccountIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    role: Role = Role.MODERATOR
    #: Omitted: the account signs in with one-time links until a password is set.
    password: str | None = None
    #: Also answer with a one-time sign-in link.
    link: bool = False


class AccountPatch(msgspec.Struct, forbid_unknown_fields=True):
    disabled: bool | None = None
    password: str | None = None


def session_view(session: Session) -> dict[str, Any]:
    return {
        "id": session.public_id,
        "created_at": session.created_at,
        "last_seen_at": session.last_seen,
        "expires_at": session.expires_at,
    }


def link_url(request: Request, token: str) -> str:
    return f"{request.base_url}{LINK_PATH.lstrip('/')}?token={token}"


async def _audit(
    request: Request, who: Principal, action: str, name: str, after: dict[str, Any]
) -> None:
    target_type = "session" if action.startswith("session.") else "account"
    entry = audit.new_entry(who.actor, action, target_type, name, after=after)
    await review_of(request).audit.append(entry)


async def _link(request: Request, name: str) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    state = request.app.state
    token = await accounts.create_link(state.redis, state.keys, name, settings.sign_in_link_ttl_s)
    return {"url": link_url(request, token), "expires_in_s": settings.sign_in_link_ttl_s}


async def list_accounts(request: Request) -> Response:
    await require_principal(request, ADMINS)
    state = request.app.state
    out = []
    for account in await accounts.list_accounts(state.redis, state.keys):
        sessions = await account_sessions(state.redis, state.keys, account.name)
        out.append({**account.public(), "sessions": [session_view(s) for s in sessions]})
    return JSON(typed(st.AccountList, {"accounts": out}))


async def create_account(request: Request) -> Response:
    who = await require_principal(request, ADMINS)
    body = await _body(request, AccountIn)
    state = request.app.state
    account = await accounts.create_account(
        state.redis, state.keys, body.name, body.role, created_by=who.name, password=body.password
    )
    await _audit(request, who, "account.create", account.name, {"role": account.role.value})
    doc: dict[str, Any] = {**account.public(), "sessions": []}
    if body.link:
        doc["link"] = await _link(request, account.name)
        after = {"expires_in_s": doc["link"]["expires_in_s"]}
        await _audit(request, who, "account.link", account.name, after)
    location = f"{PREFIX}/{account.name}"
    return JSON(typed(st.Account, doc), 201, {"Location": location})


async def patch_account(request: Request) -> Response:
    who = await require_principal(request, ADMINS)
    name = request.path_params["name"]
    body = await _body(request, AccountPatch)
    state = request.app.state
    account = await accounts.require_account(state.redis, state.keys, name)
    if body.disabled and who.session is not None and who.session.account and who.name == name:
        # Signed in as this account: disabling it would lock its only admin out mid-request.
        raise Conflict("you cannot disable the account you are signed in with", field="disabled")
    if body.password is not None:
        await accounts.set_password(state.redis, state.keys, name, body.password)
        await _audit(request, who, "account.password", name, {"password": "changed"})
    if body.disabled is not None and body.disabled != account.disabled:
        account = await accounts.set_disabled(state.redis, state.keys, name, body.disabled)
        action = "account.disable" if body.disabled else "account.enable"
        await _audit(request, who, action, name, {"disabled": body.disabled})
    account = await accounts.require_account(state.redis, state.keys, name)
    sessions = await account_sessions(state.redis, state.keys, name)
    return JSON(
        typed(st.Account, {**account.public(), "sessions": [session_view(s) for s in sessions]})
    )


async def create_link(request: Request) -> Response:
    who = await require_principal(request, ADMINS)
    name = request.path_params["name"]
    link = await _link(request, name)
    await _audit(request, who, "account.link", name, {"expires_in_s": link["expires_in_s"]})
    return JSON(typed(st.SignInLink, link), 201)


async def revoke_session(request: Request) -> Response:
    who = await require_principal(request, ADMINS)
    name = request.path_params["name"]
    session_id = request.path_params["session_id"]
    state = request.app.state
    await accounts.require_account(state.redis, state.keys, name)
    if not await revoke_account_session(state.redis, state.keys, name, session_id):
        raise NotFound(f"account {name!r} has no live session {session_id!r}", field="session_id")
    await _audit(request, who, "session.revoke", name, {"session": session_id})
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [
        Route(PREFIX, list_accounts, methods=["GET"]),
        Route(PREFIX, create_account, methods=["POST"]),
        Route(f"{PREFIX}/{{name}}", patch_account, methods=["PATCH"]),
        Route(f"{PREFIX}/{{name}}/link", create_link, methods=["POST"]),
        Route(f"{PREFIX}/{{name}}/sessions/{{session_id}}", revoke_session, methods=["DELETE"]),
    ]
