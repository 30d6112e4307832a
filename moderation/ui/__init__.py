"""The moderators' web UI (server-rendered Jinja2 pages, a small vanilla script, local CSS).

:func:`routes` lists its routes; ``moderation.ui.render`` holds what other pages reuse
(``ui_page``, ``render``, ``NAV_LINKS``) and ``moderation.ui.session`` the sign-in.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from moderation.api.routing import IdRoute
from moderation.ui import (
    accounts,
    dashboard,
    dsa_pages,
    pages,
    queue_status,
    session,
    tools,
    transparency,
)
from moderation.ui.render import BASE, STATIC_PATH


def routes() -> list[BaseRoute]:
    static = Path(str(resources.files("moderation").joinpath("static")))
    return [
        Route(BASE, pages.home, methods=["GET"]),
        Route(f"{BASE}/", pages.home, methods=["GET"]),
        Route(f"{BASE}/login", session.login_form, methods=["GET"]),
        Route(f"{BASE}/login", session.login_submit, methods=["POST"]),
        Route(f"{BASE}/logout", session.logout, methods=["POST"]),
        Route(f"{BASE}/login/link", accounts.link_form, methods=["GET"]),
        Route(f"{BASE}/login/link", accounts.link_submit, methods=["POST"]),
        Route(f"{BASE}/accounts", accounts.accounts_page, methods=["GET"]),
        Route(f"{BASE}/queue", pages.queue, methods=["GET"]),
        Route(f"{BASE}/queue/items", pages.queue_items, methods=["GET"]),
        Route(f"{BASE}/queue/status", queue_status.status, methods=["GET"]),
        Route(f"{BASE}/comments/{{comment_id}}", pages.comment, methods=["GET"]),
        IdRoute(f"{BASE}/authors/{{author_id:path}}", pages.author, methods=["GET"]),
        Route(f"{BASE}/articles", pages.articles, methods=["GET"]),
        IdRoute(f"{BASE}/articles/{{article_id:path}}", pages.article, methods=["GET"]),
        Route(f"{BASE}/policy", pages.policy, methods=["GET"]),
        Route(f"{BASE}/words", pages.words, methods=["GET"]),
        Route(f"{BASE}/audit", pages.audit_log, methods=["GET"]),
        Route(f"{BASE}/dashboard", dashboard.dashboard, methods=["GET"]),
        Route(f"{BASE}/reported", dsa_pages.reported, methods=["GET"]),
        Route(f"{BASE}/appeals", dsa_pages.appeals_page, methods=["GET"]),
        Route(f"{BASE}/dashboard/stream", dashboard.dashboard_stream, methods=["GET"]),
        Route(f"{BASE}/transparency", transparency.transparency, methods=["GET"]),
        *tools.routes(),  # published lists, search, escalated, spam domains
        Mount(STATIC_PATH, app=StaticFiles(directory=static), name="moderation-static"),
    ]
