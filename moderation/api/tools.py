"""The moderators' tools beyond the queue (``/v1/moderation/…``): an article's published
comments (searchable, for removal), a held comment's near-duplicate copies (decided together
through ``POST /v1/moderation/decisions``), escalation to the admins, and the spam allow/deny
domain lists admins edit at run time.

Thin handlers, like ``moderation.api.moderation``: parse, check, call ``moderation.review``.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from moderation.api import schemas_review as sr
from moderation.api import schemas_tools as st
from moderation.api.access import require_principal
from moderation.api.auth import ADMINS, MODERATORS
from moderation.api.moderation import _body, review_of, search_query, site_review
from moderation.api.responses import JSON
from moderation.api.schemas import typed
from moderation.errors import NotFound, ValidationFailed
from moderation.ids import is_comment_id
from moderation.review import domains, escalation, groups
from moderation.review.items import item_view, load_items
from moderation.review.published import published_page
from moderation.store.codec import encode_cursor
from moderation.store.domainlists import check_domain_kind, load_domains

P = "/v1/moderation"


async def get_published(request: Request) -> Response:
    """``GET /v1/moderation/published?article=&q=&author=&from=&to=&limit=&cursor=``: an
    article's published comments, newest first (Redis and the record)."""
    await require_principal(request, MODERATORS)
    query = search_query(request)
    if query.article_id is None:
        raise ValidationFailed("article is required: the article whose comments to list",
                               field="article")  # fmt: skip
    review = await site_review(request)  # an article is its site's
    page = await published_page(review, request.app.state.record, query)
    return JSON(
        typed(
            sr.ReviewPage,
            {
                "comments": [item_view(i) for i in page.items],
                "next_cursor": encode_cursor(page.next_before) if page.next_before else None,
            },
        )
    )


async def get_copies(request: Request) -> Response:
    """``GET /v1/moderation/comments/{id}/copies``: the held comment and its held near
    duplicates (``ids`` to decide together), ``{"ids": [id], ...}`` when it has none."""
    await require_principal(request, MODERATORS)
    review = review_of(request)
    comment_id = request.path_params["comment_id"]
    item = (
        (await load_items(review.redis, review.keys, [comment_id]))[0]
        if is_comment_id(comment_id)
        else None
    )
    if item is None:
        raise NotFound(f"no comment with id {comment_id!r}", field="comment_id")
    group = await groups.copies_of(review, item)
    ids = group.ids if group else [comment_id]
    return JSON(
        typed(
            st.Copies,
            {
                "ids": ids,
                "copies": len(ids),
                "articles": group.articles if group else 1,
                "summary": group.words() if group else "no held copies",
            },
        )
    )


async def post_escalate(request: Request) -> Response:
    """``POST /v1/moderation/comments/{id}/escalate`` ``{"note"}`` → 201: sent to the admins."""
    principal = await require_principal(request, MODERATORS)
    body = await _body(request, escalation.EscalateIn)
    sent = await escalation.escalate(
        review_of(request), request.path_params["comment_id"], body.note, principal.actor
    )
    return JSON(
        typed(
            st.Escalated,
            {"id": request.path_params["comment_id"], "escalation": msgspec.to_builtins(sent)},
        ),
        status_code=201,
    )


async def get_escalated(request: Request) -> Response:
    """``GET /v1/moderation/escalated`` (admin): escalated comments still held, oldest first."""
    await require_principal(request, ADMINS)
    rows = await escalation.escalated(review_of(request))
    return JSON(
        typed(
            st.EscalatedList,
            {
                "comments": [
                    item_view(r.item) | {"escalation": msgspec.to_builtins(r.escalation)}
                    for r in rows
                ]
            },
        )
    )


async def get_spam_domains(request: Request) -> Response:
    """``GET /v1/moderation/spam-domains`` (admin): the run-time lists and the settings'."""
    await require_principal(request, ADMINS)
    review = review_of(request)
    s = review.settings
    return JSON(
        typed(
            st.SpamDomains,
            {
                **await load_domains(review.redis, review.keys),
                "settings": {
                    "allow": list(s.spam_allow_domains),
                    "deny": list(s.spam_deny_domains),
                },
            },
        )
    )


async def patch_spam_domains(request: Request) -> Response:
    """``PATCH /v1/moderation/spam-domains/{kind}`` (admin) ``{"add", "remove", "note"}``"""
    principal = await require_principal(request, ADMINS)
    kind = check_domain_kind(request.path_params["kind"])
    edit = await _body(request, domains.DomainsEditIn)
    return JSON(
        typed(
            st.DomainsEdit,
            await domains.edit_domains(review_of(request), kind, edit, principal.actor),
        )
    )


def routes() -> list[BaseRoute]:
    return [
        Route(f"{P}/published", get_published, methods=["GET"]),
        Route(f"{P}/comments/{{comment_id}}/copies", get_copies, methods=["GET"]),
        Route(f"{P}/comments/{{comment_id}}/escalate", post_escalate, methods=["POST"]),
        Route(f"{P}/escalated", get_escalated, methods=["GET"]),
        Route(f"{P}/spam-domains", get_spam_domains, methods=["GET"]),
        Route(f"{P}/spam-domains/{{kind}}", patch_spam_domains, methods=["PATCH"]),
    ]
