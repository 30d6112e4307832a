"""The moderators' tools as pages: an article's published comments (search, one-click
removal), a search over decided comments, the admins' Escalated view and the spam domain
lists. Every action goes through the JSON API (``moderation.api.tools``, the decision routes)
from ``static/tools.js``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from moderation.api.access import Principal
from moderation.api.auth import ADMINS, MODERATORS
from moderation.api.moderation import review_of, search_query
from moderation.errors import ValidationFailed
from moderation.record import SearchQuery
from moderation.review import escalation, history
from moderation.review.context import Review
from moderation.review.groups import Group, held_groups
from moderation.review.items import ReviewItem
from moderation.review.published import published_page
from moderation.store.codec import encode_cursor
from moderation.store.domainlists import DOMAIN_KINDS, load_domains
from moderation.ui.audit_view import audit_rows
from moderation.ui.present import REASON_CHOICES, present
from moderation.ui.render import BASE, render, ui_page

#: The search form's status choices.
SEARCH_STATUSES = (("approved,rejected", "Published or rejected"), ("approved", "Published"),
                   ("rejected", "Rejected"))  # fmt: skip


def _form(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    """The form's submitted values (to fill it again and to build the next page's link)."""
    q = request.query_params
    return {n: q.get(n, "") for n in names if q.get(n)}


def _next(form: dict[str, str], cursor: str | None) -> str | None:
    return urlencode({**form, "cursor": encode_cursor(cursor)}) if cursor else None


@ui_page(MODERATORS)
async def published(request: Request, principal: Principal) -> Response:
    """``/moderate/published?article=…``: the article's published comments, newest first."""
    form = _form(request, ("article", "q", "author", "from", "to"))
    query = search_query(request)
    if query.article_id is None:
        raise ValidationFailed("Name the article whose published comments to list.")
    review = review_of(request)
    page = await published_page(review, request.app.state.record, query)
    count = await review.redis.zcard(review.keys.approved(query.article_id))
    return render(
        request,
        principal,
        "published.html",
        {
            "title": f"Published on {query.article_id}",
            "article_id": query.article_id,
            "count": count,
            "form": form,
            "filtered": any(k != "article" for k in form),
            "items": [present(i) for i in page.items],
            "next_query": _next(form, page.next_before),
            "reasons": REASON_CHOICES,
        },
    )


@ui_page(MODERATORS)
async def search(request: Request, principal: Principal) -> Response:
    """``/moderate/search``: decided comments in the record (published and rejected)."""
    form = _form(request, ("q", "author", "article", "status", "from", "to"))
    items: list[Any] = []
    next_query = None
    searched = bool(form)
    # Before the archiver first migrates the record there is nothing to search: say so.
    ready = await request.app.state.record.ready()
    if searched and ready:
        query: SearchQuery = search_query(request)
        page = await history.search(review_of(request), request.app.state.record, query)
        items = [present(i) for i in page.items]
        next_query = _next(form, page.next_cursor)
    return render(
        request,
        principal,
        "search.html",
        {
            "title": "Search comments",
            "form": form,
            "searched": searched,
            "record_ready": ready,
            "items": items,
            "next_query": next_query,
            "statuses": SEARCH_STATUSES,
            "reasons": REASON_CHOICES,
        },
    )


@ui_page(ADMINS)
async def escalated(request: Request, principal: Principal) -> Response:
    """``/moderate/escalated`` (admins): held comments moderators sent up, with their notes."""
    rows = await escalation.escalated(review_of(request))
    return render(
        request,
        principal,
        "escalated.html",
        {
            "title": "Escalated",
            "rows": [(present(r.item), r.escalation) for r in rows],
            "reasons": REASON_CHOICES,
        },
    )


@ui_page(ADMINS)
async def spam_domains(request: Request, principal: Principal) -> Response:
    """``/moderate/spam-domains`` (admins): the allow and deny lists, editable."""
    review = review_of(request)
    entries = []
    for kind in DOMAIN_KINDS:
        found, _ = await review.audit.read(limit=30, target_type="spam_domains", target=kind)
        entries += found
    entries.sort(key=lambda e: e.id, reverse=True)
    s = review.settings
    return render(
        request,
        principal,
        "spam_domains.html",
        {
            "title": "Spam domains",
            "lists": await load_domains(review.redis, review.keys),
            "configured": {"allow": s.spam_allow_domains, "deny": s.spam_deny_domains},
            "kinds": DOMAIN_KINDS,
            "audit": await audit_rows(review.redis, review.keys, entries[:30]),
        },
    )


async def card_extras(
    review: Review, items: list[ReviewItem]
) -> tuple[list[ReviewItem], dict[str, Group], set[str]]:
    """What queue cards show beyond the comment: near-duplicate groups (a group's other
    members leave the page: its first card decides them all) and which are escalated."""
    found = await held_groups(review, items)
    members = {cid for leader, g in found.items() for cid in g.ids if cid != leader}
    kept = [i for i in items if i.id not in members]
    return kept, found, await escalation.escalated_ids(review, [i.id for i in kept])


def routes() -> list[BaseRoute]:
    return [
        Route(f"{BASE}/published", published, methods=["GET"]),
        Route(f"{BASE}/search", search, methods=["GET"]),
        Route(f"{BASE}/escalated", escalated, methods=["GET"]),
        Route(f"{BASE}/spam-domains", spam_domains, methods=["GET"]),
    ]
