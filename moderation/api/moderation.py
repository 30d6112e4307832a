"""The review API, ``/v1/moderation/…``: queue, decisions, authors, articles, policy, word
lists, audit. Moderators and admins; site-wide policy and word lists need an admin.

Callers authenticate with a Bearer key or a web session (+ CSRF token), see
``moderation.api.access``. Every handler is thin: parse, check, call ``moderation.review``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from moderation.api import schemas_review as r
from moderation.api.access import require_principal
from moderation.api.auth import ADMINS, MODERATORS, site_of
from moderation.api.events import events
from moderation.api.responses import JSON
from moderation.api.routing import IdRoute
from moderation.api.schemas import typed
from moderation.api.validation import check_json_media_type, decode_json, query_int, read_body
from moderation.errors import BadRequest, NotFound, ValidationFailed
from moderation.ids import check_site_id, is_comment_id
from moderation.keys import DEFAULT_SITE
from moderation.messages import Status
from moderation.record import Reader, SearchQuery
from moderation.review import authors, decisions, erasure, history, notes, overrides, words
from moderation.review.context import Review
from moderation.review.items import item_view
from moderation.review.queue import QueueQuery, queue_counts, queue_page
from moderation.settings import Settings
from moderation.store.audit import check_cursor, entry_view
from moderation.store.codec import decode_cursor, encode_cursor
from moderation.store.sites import SiteDirectory
from moderation.store.wordlists import KINDS, check_kind, load_lists

T = TypeVar("T")

AUDIT_TARGETS = (
    "comment",
    "author",
    "article",
    "policy",
    "words",
    "spam_domains",
    "session",
    "key",
    "account",
)


def review_of(request: Request) -> Review:
    """The app's :class:`Review`, made once (the Redis client exists only after start-up)."""
    state = request.app.state
    review: Review | None = getattr(state, "review", None)
    if review is None or review.redis is not state.redis:
        review = Review(state.redis, state.keys, state.settings, state.store)
        state.review = review
    return review


async def site_review(request: Request) -> Review:
    """The review bound to the site the request names (``?site=``, optional while only one
    site exists): what names an author or an article, or reads or edits a site's policy."""
    return review_of(request).for_site(await site_of(request))


async def queue_review(request: Request, q: QueueQuery) -> Review:
    """The review a queue read uses: the held queue is every site's, but narrowing it to an
    article or an author (their held sets are their site's) names the site."""
    return await site_review(request) if q.article or q.author else review_of(request)


async def audit_review(request: Request, target_type: str | None, target: str | None) -> Review:
    """The review an audit trail is read with: an author's or an article's trail is its
    site's (``?site=``, as on their pages), any other one the whole installation's."""
    if history.site_trail(target_type, target):
        return await site_review(request)
    return review_of(request)


async def counted_sites(request: Request) -> list[str]:
    """The sites whose held counts a moderator sees: the one ``?site=`` names, else all."""
    if request.query_params.get("site"):
        return [await site_of(request)]
    sites: SiteDirectory = request.app.state.sites
    return sorted(await sites.all() | {DEFAULT_SITE})


async def _body(request: Request, kind: type[T]) -> T:
    settings: Settings = request.app.state.settings
    check_json_media_type(request)
    return decode_json(
        await read_body(request, settings.max_body_bytes, settings.body_timeout_s), kind
    )


def _id_param(request: Request, name: str) -> str:
    settings: Settings = request.app.state.settings
    return authors.check_id(request.path_params[name], settings.max_id_chars, name)


def query_unit(value: str | None, field: str) -> float | None:
    """An optional number within [0, 1] from the query string."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise ValidationFailed(f"{field} must be a number within [0, 1]", field=field) from None
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise ValidationFailed(f"{field} must be a number within [0, 1]", field=field)
    return number


def queue_query(request: Request, *, default_limit: int) -> QueueQuery:
    """The queue filters of a request's query string (shared by the API and the page)."""
    settings: Settings = request.app.state.settings
    q = request.query_params
    article = q.get("article") or None
    author = q.get("author") or None
    if article is not None:
        authors.check_id(article, settings.max_id_chars, "article")
    if author is not None:
        authors.check_id(author, settings.max_id_chars, "author")
    reason = q.get("reason") or None
    if reason is not None and (len(reason) > 100 or not reason.isprintable()):
        raise ValidationFailed("reason is not a reason code", field="reason")
    return QueueQuery(
        order=q.get("order") or "oldest",
        article=article,
        author=author,
        reason=reason,
        min_score=query_unit(q.get("min_score"), "min_score"),
        max_score=query_unit(q.get("max_score"), "max_score"),
        limit=query_int(
            q.get("limit"), "limit", default=default_limit, low=1, high=settings.max_queue_page
        ),
        cursor=q.get("cursor") or None,
    )


# --- queue and decisions ------------------------------------------------------------------


async def get_queue(request: Request) -> Response:
    """``GET /v1/moderation/queue?order=&article=&author=&reason=&min_score=&max_score=``"""
    await require_principal(request, MODERATORS)
    query = queue_query(request, default_limit=50)
    review = await queue_review(request, query)
    page = await queue_page(review.redis, review.keys, query)
    return JSON(
        typed(
            r.ReviewPage,
            {"comments": [item_view(i) for i in page.items], "next_cursor": page.next_cursor},
        )
    )


async def get_counts(request: Request) -> Response:
    await require_principal(request, MODERATORS)
    review = review_of(request)
    sites = await counted_sites(request)
    return JSON(typed(r.QueueCounts, await queue_counts(review.redis, review.keys, sites=sites)))


async def get_comment(request: Request) -> Response:
    await require_principal(request, MODERATORS)
    review = review_of(request)
    comment_id = request.path_params["comment_id"]
    reader = request.app.state.record
    item = await history.load_item(review, reader, comment_id)
    if item is None:
        raise NotFound(f"no comment with id {comment_id!r}", field="comment_id")
    entries = await history.comment_trail(review, reader, comment_id, limit=50)
    view = item_view(item)
    view["audit"] = [entry_view(e) for e in entries]
    return JSON(typed(r.ReviewCommentAudited, view))


async def post_decision(request: Request) -> Response:
    """``POST /v1/moderation/comments/{id}/decision`` ``{"action", "reason", "note"}``"""
    principal = await require_principal(request, MODERATORS)
    body = await _body(request, decisions.DecisionIn)
    ask = decisions.validate(body.action, body.reason, body.note, body.expected_status, body.ground)
    item, previous = await decisions.decide(
        review_of(request), request.path_params["comment_id"], ask, principal.actor
    )
    return JSON(
        typed(r.DecisionResult, {"previous_status": previous.value, "comment": item_view(item)})
    )


async def post_bulk(request: Request) -> Response:
    """``POST /v1/moderation/decisions`` ``{"ids": [...], "action", "reason", "note"}``"""
    principal = await require_principal(request, MODERATORS)
    body = await _body(request, decisions.BulkDecisionIn)
    ask = decisions.validate(body.action, body.reason, body.note, body.expected_status, body.ground)
    outcomes = await decisions.decide_many(review_of(request), body.ids, ask, principal.actor)
    tally = {"applied": 0, "conflict": 0, "not_found": 0}
    for o in outcomes:
        tally[o.outcome] += 1
    return JSON(
        typed(
            r.BulkResult,
            {
                "results": [
                    {
                        "id": o.id,
                        "outcome": o.outcome,
                        "status": o.status,
                        "previous_status": o.previous,
                        "decided_by": o.decided_by,
                    }
                    for o in outcomes
                ],
                "applied": tally["applied"],
                "conflicts": tally["conflict"],
                "not_found": tally["not_found"],
            },
        )
    )


async def post_undo(request: Request) -> Response:
    """``POST /v1/moderation/decisions/undo`` ``{"ids": [...], "note"}``: the caller's own
    recent decisions back to held (see :func:`moderation.review.decisions.undo_many`)."""
    principal = await require_principal(request, MODERATORS)
    body = await _body(request, decisions.UndoIn)
    outcomes = await decisions.undo_many(review_of(request), body.ids, principal.actor, body.note)
    tally = {"applied": 0, "conflict": 0, "not_found": 0, "refused": 0}
    for o in outcomes:
        tally[o.outcome] += 1
    return JSON(
        typed(
            r.UndoResult,
            {
                "results": [
                    {"id": o.id, "outcome": o.outcome, "status": o.status, "undone": o.previous}
                    for o in outcomes
                ],
                "window_s": request.app.state.settings.undo_window_s,
                **tally,
            },
        )
    )


# --- authors -------------------------------------------------------------------------------


async def get_author(request: Request) -> Response:
    await require_principal(request, MODERATORS)
    review = await site_review(request)
    author_id = _id_param(request, "author_id")
    q = request.query_params
    limit = query_int(q.get("limit"), "limit", default=20, low=1, high=100)
    page = await authors.author_page(
        review, author_id, limit=limit, cursor=q.get("cursor"), reader=request.app.state.record
    )
    entries, _ = await review.audit.read(limit=20, target_type="author", target=author_id)
    return JSON(
        typed(
            r.AuthorPage,
            {
                "author": {"id": author_id, "name": page.name, "standing": page.standing.view()},
                "notes": msgspec.to_builtins(await notes.read_notes(review, author_id)),
                "comments": [item_view(i) for i in page.history],
                "next_cursor": page.next_cursor,
                "audit": [entry_view(e) for e in entries],
            },
        )
    )


async def post_author_note(request: Request) -> Response:
    """``POST /v1/moderation/authors/{id}/notes`` ``{"text"}`` → 201 and the note."""
    principal = await require_principal(request, MODERATORS)
    author_id = _id_param(request, "author_id")
    body = await _body(request, notes.NoteIn)
    note = await notes.add_note(await site_review(request), author_id, body.text, principal.actor)
    return JSON(typed(r.AuthorNote, msgspec.to_builtins(note)), status_code=201)


async def post_author_state(request: Request) -> Response:
    """``POST /v1/moderation/authors/{id}/state`` ``{"state", "note", "reject_pending"}``"""
    principal = await require_principal(request, MODERATORS)
    author_id = _id_param(request, "author_id")
    body = await _body(request, authors.AuthorStateIn)
    before, after, swept = await authors.set_state(
        await site_review(request), author_id, body, principal.actor
    )
    return JSON(
        typed(
            r.AuthorStateResult,
            {"author_id": author_id, "previous_state": before, "state": after, "rejected": swept},
        )
    )


# --- articles and site policy ---------------------------------------------------------------


async def post_author_forget(request: Request) -> Response:
    """``POST /v1/moderation/authors/{id}/forget`` (admin): erase the author's texts and
    personal data from Redis and the record; counts stay, an audit entry says it happened."""
    principal = await require_principal(request, ADMINS)
    author_id = _id_param(request, "author_id")
    reader: Reader = request.app.state.record
    record = reader.record if await reader.ready() else None
    review = await site_review(request)
    result = await erasure.forget_author(review, record, author_id, principal.actor)
    return JSON(typed(r.Erasure, result.view()))


async def get_articles(request: Request) -> Response:
    await require_principal(request, MODERATORS)
    overview = await overrides.articles_overview(await site_review(request))
    return JSON(typed(r.ArticleList, {"articles": overview}))


async def get_article(request: Request) -> Response:
    await require_principal(request, MODERATORS)
    review = await site_review(request)
    article_id = _id_param(request, "article_id")
    view = await overrides.article_overview(review, article_id)
    entries, _ = await review.audit.read(limit=20, target_type="article", target=article_id)
    view["audit"] = [entry_view(e) for e in entries]
    return JSON(typed(r.ArticleOverview, view))


async def patch_article(request: Request) -> Response:
    """``PATCH /v1/moderation/articles/{id}/settings``: pre-moderate, close, thresholds."""
    principal = await require_principal(request, MODERATORS)
    review = await site_review(request)
    article_id = _id_param(request, "article_id")
    edit = await _body(request, overrides.OverridesIn)
    await overrides.apply(
        review,
        review.keys.article_settings(article_id),
        edit,
        principal.actor,
        action="article.settings",
        target_type="article",
        target=article_id,
        index_set=review.keys.configured_articles,
    )
    return JSON(typed(r.ArticleOverview, await overrides.article_overview(review, article_id)))


async def _policy_view(review: Review) -> dict[str, Any]:
    raw, policy = await overrides.site_policy(review)
    s = review.settings
    return {
        "defaults": {
            "thresholds": dict(sorted(s.thresholds.items())),
            "spam_threshold": s.spam_threshold,
            "max_links": s.max_links,
        },
        "overrides": overrides.parse(raw),
        "effective": overrides.effective(policy),
        "labels": overrides.known_labels(s),
    }


async def get_policy(request: Request) -> Response:
    await require_principal(request, MODERATORS)
    return JSON(typed(r.PolicyView, await _policy_view(await site_review(request))))


async def patch_policy(request: Request) -> Response:
    """``PATCH /v1/moderation/policy`` (admin): site-wide overrides."""
    principal = await require_principal(request, ADMINS)
    review = await site_review(request)
    edit = await _body(request, overrides.OverridesIn)
    await overrides.apply(
        review,
        review.keys.policy,
        edit,
        principal.actor,
        action="policy.update",
        target_type="policy",
        target=review.keys.site,
    )
    return JSON(typed(r.PolicyView, await _policy_view(review)))


# --- word lists -----------------------------------------------------------------------------


async def get_words(request: Request) -> Response:
    await require_principal(request, ADMINS)
    review = review_of(request)
    lists = await load_lists(review.redis, review.keys)
    version = await review.redis.get(review.keys.words_version)
    return JSON(
        typed(
            r.WordLists,
            {
                **{kind: lists[kind] for kind in KINDS},
                "version": version.decode() if isinstance(version, bytes) else version,
            },
        )
    )


async def patch_words(request: Request) -> Response:
    """``PATCH /v1/moderation/words/{kind}`` (admin) ``{"add": [...], "remove": [...]}``"""
    principal = await require_principal(request, ADMINS)
    kind = check_kind(request.path_params["kind"])
    edit = await _body(request, words.WordsEditIn)
    return JSON(
        typed(r.WordsEdit, await words.edit_words(review_of(request), kind, edit, principal.actor))
    )


# --- audit ----------------------------------------------------------------------------------


async def get_audit(request: Request) -> Response:
    """``GET /v1/moderation/audit?target_type=&target=&actor=&limit=&cursor=`` newest first."""
    await require_principal(request, MODERATORS)
    settings: Settings = request.app.state.settings
    q = request.query_params
    target_type = q.get("target_type") or None
    target = q.get("target") or None
    if target_type is not None and target_type not in AUDIT_TARGETS:
        raise ValidationFailed(
            f"target_type must be one of {', '.join(AUDIT_TARGETS)}", field="target_type"
        )
    if target is not None and target_type is None:
        raise ValidationFailed("give the target_type of the target", field="target_type")
    actor = q.get("actor") or None
    for name, value in (("target", target), ("actor", actor)):
        if value is not None:
            authors.check_id(value, settings.max_id_chars, name)
    limit = query_int(q.get("limit"), "limit", default=50, low=1, high=settings.max_page_size)
    cursor = check_cursor(q.get("cursor") or None)
    review = await audit_review(request, target_type, target)
    entries, next_cursor = await history.audit_trail(
        review,
        request.app.state.record,
        limit=limit,
        cursor=cursor,
        target_type=target_type,
        target=target,
        actor=actor,
    )
    return JSON(
        typed(
            r.AuditPage, {"entries": [entry_view(e) for e in entries], "next_cursor": next_cursor}
        )
    )


# --- search (the record) -------------------------------------------------------------------

#: Statuses a search may name (decided comments; the record holds every status it saw).
SEARCH_STATUSES = (Status.APPROVED, Status.REJECTED, Status.HELD)


def _query_time(value: str | None, field: str) -> int | None:
    """An ISO 8601 date or date-time (UTC when it names no offset) as epoch ms."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            f"{field} must be an ISO 8601 date or date-time (2026-01-31, 2026-01-31T12:00:00Z)",
            field=field,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def search_query(request: Request) -> SearchQuery:
    """The search filters of a request's query string."""
    settings: Settings = request.app.state.settings
    q = request.query_params
    text = q.get("q") or None
    if text is not None and len(text) > 500:
        raise ValidationFailed("q must be at most 500 characters", field="q")
    author = q.get("author") or None
    article = q.get("article") or None
    for name, value in (("author", author), ("article", article)):
        if value is not None:
            authors.check_id(value, settings.max_id_chars, name)
    statuses: tuple[Status, ...] = (Status.APPROVED, Status.REJECTED)
    if q.get("status"):
        names = [v.strip() for v in q["status"].split(",") if v.strip()]
        allowed = {s.value for s in SEARCH_STATUSES}
        if not names or any(n not in allowed for n in names):
            raise ValidationFailed(
                f"status must be one or more of {', '.join(sorted(allowed))}", field="status"
            )
        statuses = tuple(Status(n) for n in dict.fromkeys(names))
    start, end = _query_time(q.get("from"), "from"), _query_time(q.get("to"), "to")
    if start is not None and end is not None and end <= start:
        raise ValidationFailed("to must be later than from", field="to")
    cursor = q.get("cursor") or None
    before = decode_cursor(cursor, str) if cursor else None
    if before is not None and not is_comment_id(before):
        raise BadRequest("cursor is not one this service issued", field="cursor")
    return SearchQuery(
        text=text,
        author_id=author,
        article_id=article,
        statuses=statuses,
        created_from=start,
        created_to=end,
        before=before,
        limit=query_int(q.get("limit"), "limit", default=50, low=1, high=settings.max_page_size),
        # Moderators search every site unless they name one.
        site=check_site_id(q["site"]) if q.get("site") else None,
    )


async def get_search(request: Request) -> Response:
    """``GET /v1/moderation/search?q=&author=&article=&status=&from=&to=&limit=&cursor=``:
    decided comments in the record (SQL), newest first."""
    await require_principal(request, MODERATORS)
    query = search_query(request)
    page = await history.search(review_of(request), request.app.state.record, query)
    return JSON(
        typed(
            r.ReviewPage,
            {
                "comments": [item_view(i) for i in page.items],
                "next_cursor": encode_cursor(page.next_cursor) if page.next_cursor else None,
            },
        )
    )


def routes() -> list[BaseRoute]:
    p = "/v1/moderation"
    return [
        Route(f"{p}/queue", get_queue, methods=["GET"]),
        Route(f"{p}/queue/counts", get_counts, methods=["GET"]),
        Route(f"{p}/events", events, methods=["GET"]),
        Route(f"{p}/comments/{{comment_id}}", get_comment, methods=["GET"]),
        Route(f"{p}/comments/{{comment_id}}/decision", post_decision, methods=["POST"]),
        Route(f"{p}/decisions", post_bulk, methods=["POST"]),
        Route(f"{p}/decisions/undo", post_undo, methods=["POST"]),
        IdRoute(f"{p}/authors/{{author_id:path}}/state", post_author_state, methods=["POST"]),
        IdRoute(f"{p}/authors/{{author_id:path}}/notes", post_author_note, methods=["POST"]),
        IdRoute(f"{p}/authors/{{author_id:path}}/forget", post_author_forget, methods=["POST"]),
        IdRoute(f"{p}/authors/{{author_id:path}}", get_author, methods=["GET"]),
        Route(f"{p}/articles", get_articles, methods=["GET"]),
        IdRoute(f"{p}/articles/{{article_id:path}}/settings", patch_article, methods=["PATCH"]),
        IdRoute(f"{p}/articles/{{article_id:path}}", get_article, methods=["GET"]),
        Route(f"{p}/policy", get_policy, methods=["GET"]),
        Route(f"{p}/policy", patch_policy, methods=["PATCH"]),
        Route(f"{p}/words", get_words, methods=["GET"]),
        Route(f"{p}/words/{{kind}}", patch_words, methods=["PATCH"]),
        Route(f"{p}/audit", get_audit, methods=["GET"]),
        Route(f"{p}/search", get_search, methods=["GET"]),
    ]
