"""The appeal routes (DSA Art. 20 internal complaints; ``moderation.review.appeals``).

* ``POST /v1/comments/{id}/appeals`` — a site key files its author's appeal: 201 with the
  appeal; 409 when there is nothing to appeal, an appeal is open, the decision was appealed
  already, or the window closed (``appeal_window_closed``); 403 when ``author_id`` is not the
  comment's author.
* ``GET /v1/moderation/appeals`` — the Appeals queue (``?status=open``, oldest first, the
  default) or the decided appeals (``?status=decided``, newest first).
* ``GET /v1/moderation/appeals/{id}`` and ``POST /v1/moderation/appeals/{id}/decision``
  (``{"outcome": "uphold" | "reverse", "answer"}``): 403 ``same_moderator`` for whoever took
  the decision under appeal, 409 when the appeal was decided already.
"""

from __future__ import annotations

from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from moderation.api import schemas_tools as st
from moderation.api.access import require_principal
from moderation.api.auth import MODERATORS, SITE, own_site, require
from moderation.api.moderation import review_of
from moderation.api.responses import JSON
from moderation.api.schemas import typed
from moderation.api.validation import check_json_media_type, decode_json, query_int, read_body
from moderation.errors import ValidationFailed
from moderation.review import appeals
from moderation.settings import Settings

T = TypeVar("T")


async def _body(request: Request, kind: type[T]) -> T:
    settings: Settings = request.app.state.settings
    check_json_media_type(request)
    return decode_json(
        await read_body(request, settings.max_body_bytes, settings.body_timeout_s), kind
    )


async def post_appeal(request: Request) -> Response:
    key = await require(request, SITE)
    body = await _body(request, appeals.AppealIn)
    appeal = await appeals.file(
        review_of(request), request.path_params["comment_id"], body, key.name, own_site(key)
    )
    return JSON(typed(st.Appeal, appeals.appeal_view(appeal)), 201)


async def get_appeals(request: Request) -> Response:
    await require_principal(request, MODERATORS)
    q = request.query_params
    status = q.get("status") or "open"
    if status not in ("open", "decided"):
        raise ValidationFailed("status must be 'open' or 'decided'", field="status")
    limit = query_int(q.get("limit"), "limit", default=50, low=1, high=100)
    offset = query_int(q.get("offset"), "offset", default=0, low=0, high=100_000)
    page, total = await appeals.page(
        review_of(request), decided=status == "decided", offset=offset, limit=limit
    )
    more = offset + limit < total
    return JSON(
        typed(
            st.AppealList,
            {"appeals": page, "total": total, "next_offset": offset + limit if more else None},
        )
    )


async def get_appeal(request: Request) -> Response:
    await require_principal(request, MODERATORS)
    return JSON(
        typed(
            st.AppealWithComment,
            await appeals.get(review_of(request), request.path_params["appeal_id"]),
        )
    )


async def post_appeal_decision(request: Request) -> Response:
    principal = await require_principal(request, MODERATORS)
    body = await _body(request, appeals.AppealDecisionIn)
    return JSON(
        typed(
            st.AppealOutcome,
            await appeals.decide(
                review_of(request), request.path_params["appeal_id"], body, principal.actor
            ),
        )
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/comments/{comment_id}/appeals", post_appeal, methods=["POST"]),
        Route("/v1/moderation/appeals", get_appeals, methods=["GET"]),
        Route("/v1/moderation/appeals/{appeal_id}", get_appeal, methods=["GET"]),
        Route(
            "/v1/moderation/appeals/{appeal_id}/decision", post_appeal_decision, methods=["POST"]
        ),
    ]
