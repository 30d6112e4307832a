"""Rendering web pages: the Jinja2 environment, the navigation, security headers, and
:func:`ui_page`, the decorator every page handler uses (sign-in, roles, error pages).

Another page module under ``moderation/ui/`` reuses all of it: it appends its
:class:`NavLink` to :data:`NAV_LINKS` (label, path, the roles that see it), decorates each
handler ``async def page(request, principal)`` with ``@ui_page(roles)``, and answers with
``render(request, principal, "its.html", {"title": …})``; ``moderation/ui/dashboard.py`` is
one. Its template starts with ``{% extends "base.html" %}`` and fills ``{% block main %}``
(scripts of its own go in ``{% block scripts %}`` and must be files under ``static/``: the
content security policy allows no inline script).

Errors are pages too: whatever a handler raises, :func:`moderation.errors.describe` decides the
status and the words (as it does for the JSON API), and :func:`error_page` shows them.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from moderation.api.access import Principal, SignInRequired, current_session, require_session
from moderation.api.auth import ADMINS, MODERATORS
from moderation.errors import ErrorInfo, describe
from moderation.messages import Role, iso
from moderation.store.audit import Actor

log = logging.getLogger("moderation.ui")

#: Where the UI lives.
BASE = "/moderate"
LOGIN_PATH = f"{BASE}/login"
STATIC_PATH = f"{BASE}/static"

#: Every page forbids inline script and foreign origins: even if escaping ever failed,
#: injected markup could not run script.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class NavLink:
    label: str
    path: str
    roles: frozenset[Role]
    #: Shown with the live held count.
    badge: str | None = None


#: The navigation of every page, in order; pages of other features append theirs.
NAV_LINKS: list[NavLink] = [
    NavLink("Queue", f"{BASE}/queue", MODERATORS, badge="held"),
    NavLink("Articles", f"{BASE}/articles", MODERATORS),
    NavLink("Search", f"{BASE}/search", MODERATORS),
    NavLink("Audit log", f"{BASE}/audit", MODERATORS),
    NavLink("Escalated", f"{BASE}/escalated", ADMINS),
    NavLink("Spam domains", f"{BASE}/spam-domains", ADMINS),
    NavLink("Word lists", f"{BASE}/words", ADMINS),
    NavLink("Site policy", f"{BASE}/policy", ADMINS),
]


def _static_version() -> str:
    """A digest of the static files, appended to their URLs so browsers never run stale JS."""
    digest = hashlib.sha256()
    root = resources.files("moderation").joinpath("static")
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.is_file():
            digest.update(entry.name.encode())
            digest.update(entry.read_bytes())
    return digest.hexdigest()[:12]


def urlpart(value: Any) -> str:
    """Percent-encode one path segment or query value (``/`` included)."""
    return quote(str(value), safe="")


def score(value: Any) -> str:
    return "–" if value is None else f"{float(value):.2f}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("moderation", "templates"),
        # Every template escapes every value: comment text, names and ids are hostile input.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["urlpart"] = urlpart
    env.filters["score"] = score
    env.filters["iso"] = iso
    env.globals["BASE"] = BASE
    env.globals["STATIC"] = STATIC_PATH
    env.globals["STATIC_VERSION"] = _static_version()
    return env


ENV = _environment()


def render(
    request: Request,
    principal: Principal | None,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    nav = [link for link in NAV_LINKS if principal is not None and principal.role in link.roles]
    html = ENV.get_template(template).render(
        {
            "principal": principal,
            "csrf": principal.csrf if principal else "",
            "nav": nav,
            "path": request.url.path,
            "held_count": getattr(request.state, "held_count", None),
            **context,
        }
    )
    return HTMLResponse(html, status_code, headers={**SECURITY_HEADERS, **(headers or {})})


def error_page(request: Request, principal: Principal | None, info: ErrorInfo) -> HTMLResponse:
    """The HTML face of :func:`moderation.errors.describe`."""
    return render(
        request,
        principal,
        "error.html",
        {"title": info.title, "message": info.text, "status": info.status},
        status_code=info.status,
        headers=info.headers,
    )


Handler = Callable[[Request, Principal], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def ui_page(roles: frozenset[Role]) -> Callable[[Handler], Endpoint]:
    """Make a page handler: the signed-in principal is passed in; without a session the
    browser is sent to sign in (and back afterwards); errors become HTML error pages."""

    def wrap(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def page(request: Request) -> Response:
            principal: Principal | None = None
            try:
                session = await current_session(request)
                if session is not None:
                    principal = Principal(
                        Actor(session.name, session.role, "session"), session.csrf, session
                    )
                principal = await require_session(request, roles)
                request.state.held_count = await request.app.state.redis.zcard(
                    request.app.state.keys.held
                )
                return await handler(request, principal)
            except SignInRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(
                    f"{LOGIN_PATH}?next={urlpart(target)}", 303, headers=SECURITY_HEADERS
                )
            except Exception as exc:
                info = describe(exc, request.app.state.settings.retry_after_s)
                if info.unavailable:
                    log.warning("redis unavailable rendering %s: %s", request.url.path, exc)
                elif info.unexpected:
                    log.error("unhandled error rendering %s", request.url.path, exc_info=exc)
                return error_page(request, principal, info)

        return page

    return wrap
