"""The DSA routes: reader reports (Art. 16), statements of reasons (Art. 17), the Reported
queue and the grounds list.

* ``POST /v1/comments/{id}/reports`` — public (CORS, any origin the site allows), 201 with a
  receipt id; 409 for a duplicate (with the first receipt) or an unpublished comment, 429 past
  the reporter's rate limit.
* ``GET /v1/comments/{id}/statement`` — the statement of reasons of the decision in force
  (site, moderator or admin key); 404 when no restriction is in force.
* ``GET /v1/moderation/reported`` and ``POST /v1/moderation/reported/{id}/decision``.
* ``GET /v1/moderation/grounds`` (moderators) and ``PUT`` (admins, the whole list).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from moderation.api import schemas_review as r
from moderation.api.access import require_principal
from moderation.api.auth import ADMINS, MODERATORS, READERS, may_see, require, site_of
from moderation.api.moderation import review_of
from moderation.api.responses import JSON
from moderation.api.schemas import typed
from moderation.api.validation import check_json_media_type, decode_json, query_int, read_body
from moderation.errors import NotFound
from moderation.ids import is_comment_id
from moderation.messages import Ground
from moderation.review import appeals, reports
from moderation.settings import Settings
from moderation.statements import hides
from moderation.store.grounds import load_grounds, save_grounds

T = TypeVar("T")

#: Paths of the report route, for its CORS (``moderation.api.routing.PublicCORS``).
REPORTS_PATH = r"^/v1/comments/[^/]+/reports$"


async def _body(request: Request, kind: type[T]) -> T:
    settings: Settings = request.app.state.settings
    check_json_media_type(request)
    return decode_json(
        await read_body(request, settings.max_body_bytes, settings.body_timeout_s), kind
    )


async def post_report(request: Request) -> Response:
    body = await _body(request, reports.ReportIn)
    address = request.client.host if request.client else "unknown"
    site = await site_of(request)
    receipt = await reports.file(
        review_of(request), request.path_params["comment_id"], body, address, site
    )
    answer = r.ReportReceipt(receipt.receipt, "received", receipt.hidden)
    return JSON(answer, 201)


async def get_statement(request: Request) -> Response:
    key = await require(request, READERS)
    comment_id = request.path_params["comment_id"]
    stored = await request.app.state.store.get(comment_id) if is_comment_id(comment_id) else None
    if stored is None and is_comment_id(comment_id):
        stored = (await request.app.state.record.get_many([comment_id])).get(comment_id)
    if stored is None or not may_see(key, stored.record.site):
        raise NotFound(f"no comment with id {comment_id!r}", field="comment_id")
    d = stored.decision
    if d is None or not hides(stored.status) or d.statement is None:
        raise NotFound(
            f"comment {comment_id} is {stored.status.value}: no restriction is in force",
            field="comment_id",
        )
    return JSON(
        r.StatementView(
            comment_id=comment_id,
            status=stored.status.value,
            decided_at=d.decided_at,
            decided_by="automatic" if d.by.split(":", 1)[0] != "moderator" else "moderator",
            statement=d.statement,
            # How and until when the author may appeal it (DSA Art. 20).
            appeal=typed(r.AppealInfo, await appeals.appeal_info(review_of(request), stored)),
        )
    )


async def get_reported(request: Request) -> Response:
    await require_principal(request, MODERATORS)
    q = request.query_params
    limit = query_int(q.get("limit"), "limit", default=50, low=1, high=100)
    offset = query_int(q.get("offset"), "offset", default=0, low=0, high=100_000)
    page = await reports.reported_page(review_of(request), offset, limit)
    more = offset + limit if len(page) == limit else None
    return JSON(typed(r.ReportedPage, {"comments": page, "next_offset": more}))


async def post_reported_decision(request: Request) -> Response:
    principal = await require_principal(request, MODERATORS)
    body = await _body(request, reports.ReportDecisionIn)
    outcome = await reports.decide(
        review_of(request), request.path_params["comment_id"], body, principal.actor
    )
    return JSON(typed(r.ReportOutcome, outcome))


async def get_grounds(request: Request) -> Response:
    await require_principal(request, MODERATORS)
    review = review_of(request)
    grounds = await load_grounds(review.redis, review.keys)
    return JSON(r.Grounds(list(grounds)))


async def put_grounds(request: Request) -> Response:
    await require_principal(request, ADMINS)
    review = review_of(request)
    body = await _body(request, GroundsIn)
    saved = await save_grounds(review.redis, review.keys, body.grounds)
    return JSON(r.Grounds(list(saved)))


class GroundsIn(msgspec.Struct, forbid_unknown_fields=True):
    grounds: list[Ground]


@cache
def _report_js() -> bytes:
    return resources.files("moderation").joinpath("static/report.js").read_bytes()


async def report_js(request: Request) -> Response:
    return Response(
        _report_js(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/comments/{comment_id}/reports", post_report, methods=["POST"]),
        Route("/v1/comments/{comment_id}/statement", get_statement, methods=["GET"]),
        Route("/v1/moderation/reported", get_reported, methods=["GET"]),
        Route(
            "/v1/moderation/reported/{comment_id}/decision",
            post_reported_decision,
            methods=["POST"],
        ),
        Route("/v1/moderation/grounds", get_grounds, methods=["GET"]),
        Route("/v1/moderation/grounds", put_grounds, methods=["PUT"]),
        Route("/report.js", report_js, methods=["GET"]),
    ]
