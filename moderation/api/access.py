"""Who is calling a moderation route: a Bearer moderator/admin key, or a web session.

* ``Authorization: Bearer <key>`` → the key's role decides; no CSRF token (a browser never
  attaches this header on its own, so cross-site requests cannot forge it).
* Otherwise the session cookie → the session's role decides, and every state-changing request
  must carry the session's CSRF token in ``X-CSRF-Token`` (compared in constant time).

:func:`require_principal` serves the JSON API; :func:`require_session` serves web pages (it
raises :class:`SignInRequired`, which the UI turns into a redirect to the sign-in page).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.requests import Request

from moderation.api.auth import require
from moderation.errors import CSRFFailed, Forbidden, Unauthorized
from moderation.keys import Keys
from moderation.messages import Role
from moderation.settings import Settings
from moderation.store.audit import Actor
from moderation.store.sessions import COOKIE, Session, load_session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Unauthorized):
    """No (live) web session: a page answers with a redirect to the sign-in page."""

    code = "sign_in_required"


@dataclass(frozen=True, slots=True)
class Principal:
    actor: Actor
    #: The session's CSRF token ("" for key callers, who need none).
    csrf: str = ""
    session: Session | None = None

    @property
    def name(self) -> str:
        return self.actor.name

    @property
    def role(self) -> Role:
        return self.actor.role

    @property
    def is_admin(self) -> bool:
        return self.actor.role is Role.ADMIN


async def current_session(request: Request) -> Session | None:
    """The request's live session (looked up once per request)."""
    if "session" in request.scope.get("state", {}):
        cached: Session | None = request.state.session
        return cached
    session_id = request.cookies.get(COOKIE)
    session = None
    if session_id:
        settings: Settings = request.app.state.settings
        keys: Keys = request.app.state.keys
        session = await load_session(request.app.state.redis, keys, settings, session_id)
    request.state.session = session
    return session


def _role_check(role: Role, roles: frozenset[Role]) -> None:
    if role not in roles:
        allowed = " or ".join(sorted(r.value for r in roles))
        raise Forbidden(f"this needs the {allowed} role; you are signed in as {role.value}")


def check_csrf(request: Request, session: Session, token: str | None = None) -> None:
    """Refuse a state-changing session request without the session's CSRF token."""
    given = token if token is not None else request.headers.get(CSRF_HEADER, "")
    if not given or not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise CSRFFailed(
            "missing or wrong CSRF token (send the page's token in X-CSRF-Token)",
            field="X-CSRF-Token",
        )


async def require_principal(request: Request, roles: frozenset[Role]) -> Principal:
    """A moderator/admin key or session allowed ``roles``; else 401/403."""
    if request.headers.get("authorization") is not None:
        info = await require(request, roles)
        return Principal(Actor(info.name, info.role, "key"))
    session = await current_session(request)
    if session is None:
        raise Unauthorized(
            "sign in, or send Authorization: Bearer <moderator or admin key>",
            field="Authorization",
            headers={"WWW-Authenticate": "Bearer"},
        )
    _role_check(session.role, roles)
    if request.method not in SAFE_METHODS:
        check_csrf(request, session)
    return Principal(Actor(session.name, session.role, "session"), session.csrf, session)


async def require_session(request: Request, roles: frozenset[Role]) -> Principal:
    """For web pages: the signed-in person, if their role is among ``roles``.

    Raises :class:`SignInRequired` without a live session and ``Forbidden`` for a wrong role.
    Page handlers built with ``moderation.ui.render.ui_page`` get both handled for them.
    """
    session = await current_session(request)
    if session is None:
        raise SignInRequired("sign in to continue")
    _role_check(session.role, roles)
    return Principal(Actor(session.name, session.role, "session"), session.csrf, session)
