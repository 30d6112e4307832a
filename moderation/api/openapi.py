"""The API described: an OpenAPI 3.1 document at ``/openapi.json``, a readable page at
``/docs`` (rendered here, server-side, from the same document: no CDN, no script) and ``/``.

:data:`OPERATIONS` says, for each JSON route, who may call it, what it takes and what it
answers; the schemas come from the msgspec structs of ``moderation.api.schemas`` and
``moderation.messages`` (``msgspec.json.schema_components``). Routes that do not speak JSON
(the review UI's pages, the event streams, static files, ``/metrics``, ``count.js``) are listed
as what they are. :func:`document` builds from the app's *mounted* routes and refuses a route
it cannot describe, so a new route without an entry fails the tests rather than going
undocumented.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from moderation.api import schemas as s
from moderation.api import schemas_admin as sa
from moderation.api import schemas_review as sr
from moderation.api import schemas_tools as st
from moderation.api.accounts import AccountIn, AccountPatch
from moderation.api.dsa import GroundsIn
from moderation.api.responses import JSON
from moderation.api.webhooks import EndpointIn, EndpointPatch, ReplayIn
from moderation.messages import ArticleIn, CommentEditIn, CommentIn
from moderation.record.transparency import TransparencyReport
from moderation.review.appeals import AppealDecisionIn, AppealIn
from moderation.review.authors import AuthorStateIn
from moderation.review.decisions import BulkDecisionIn, DecisionIn, UndoIn
from moderation.review.domains import DomainsEditIn
from moderation.review.escalation import EscalateIn
from moderation.review.notes import NoteIn
from moderation.review.overrides import OverridesIn
from moderation.review.reports import ReportDecisionIn, ReportIn
from moderation.review.words import WordsEditIn

TITLE = "Comment moderation API"

#: Who may call a route: the OpenAPI security requirement of each kind.
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "public": [],
    "site": [{"bearer": []}],
    "readers": [{"bearer": []}],
    "moderator": [{"bearer": []}, {"session": []}],
    "admin": [{"bearer": []}, {"session": []}],
    "coral": [],
}
_WHO = {
    "public": "anyone (no key)",
    "site": "a site key",
    "readers": "a site, moderator or admin key",
    "moderator": "a moderator or admin key, or a signed-in session (+ X-CSRF-Token to change)",
    "admin": "an admin key or an admin's session",
    "coral": "Coral Talk, signing the body with the phase's secret (X-Coral-Signature)",
}


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: str  # "query" | "header"
    description: str
    type: str = "string"
    repeated: bool = False


@dataclass(frozen=True, slots=True)
class Op:
    """One JSON route."""

    summary: str
    auth: str
    response: Any
    status: int = 200
    request: Any = None
    errors: tuple[int, ...] = ()
    params: tuple[Param, ...] = ()
    #: Further success statuses and what they carry.
    also: dict[int, Any] = field(default_factory=dict)


_CURSOR = Param("cursor", "query", "`next_cursor` of the previous page")
#: The site a request without a site key acts on (see the README, "Sites"): optional while
#: only one site exists; 400 without it once there are several, 404 for an unknown site.
_SITE = Param(
    "site",
    "query",
    "the site's id (optional while only one site exists); a site key's own site always wins",
)
#: The routes that take :data:`_SITE`: every public route about articles or comments, and what
#: moderators do to one site's authors, articles, policy and held counts.
SITE_ROUTES = frozenset(
    {
        ("POST", "/v1/comments"),
        ("GET", "/v1/counts"),
        ("GET", "/v1/articles/{article_id:path}/comments"),
        ("GET", "/v1/articles/{article_id:path}"),
        ("PUT", "/v1/articles/{article_id:path}"),
        ("POST", "/v1/comments/{comment_id}/reports"),
        ("POST", "/v1/coral/moderate"),
        ("GET", "/v1/moderation/queue"),
        ("GET", "/v1/moderation/queue/counts"),
        ("GET", "/v1/moderation/authors/{author_id:path}"),
        ("POST", "/v1/moderation/authors/{author_id:path}/notes"),
        ("POST", "/v1/moderation/authors/{author_id:path}/state"),
        ("POST", "/v1/moderation/authors/{author_id:path}/forget"),
        ("GET", "/v1/moderation/articles"),
        ("GET", "/v1/moderation/articles/{article_id:path}"),
        ("PATCH", "/v1/moderation/articles/{article_id:path}/settings"),
        ("GET", "/v1/moderation/policy"),
        ("PATCH", "/v1/moderation/policy"),
        ("GET", "/v1/moderation/published"),
    }
)
_LIMIT = Param("limit", "query", "page size, 1–100 (default 20)", "integer")
_READ_ERRORS = (400, 422, 503)
_MOD = (401, 403, 503)

#: Every JSON route: (method, path as Starlette declares it) -> what it does.
OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/v1/comments"): Op(
        "Submit a comment; 202 while pending, 201 with the decision within ?wait",
        "site",
        s.Accepted,
        202,
        CommentIn,
        (400, 401, 403, 409, 413, 415, 422, 429, 503),
        (
            Param("wait", "query", "seconds (0 < S ≤ 10) to wait for the decision", "number"),
            Param("Idempotency-Key", "header", "retries with the same key return the original"),
        ),
        {201: s.Comment, 200: s.Comment},
    ),
    ("GET", "/v1/comments/{comment_id}"): Op(
        "A comment with its decision and explanation",
        "readers",
        s.Comment,
        errors=(401, 403, 404, 503),
    ),
    ("PATCH", "/v1/comments/{comment_id}"): Op(
        "Edit a comment's text: a new revision, hidden until its own automatic decision "
        "(202); the same text again changes nothing (200); a rejected or deleted comment "
        "cannot be edited (409)",
        "site",
        s.Comment,
        202,
        CommentEditIn,
        (400, 401, 403, 404, 409, 413, 415, 422, 503),
        also={200: s.Comment},
    ),
    ("DELETE", "/v1/comments/{comment_id}"): Op(
        "Delete a comment: terminal status `deleted`, out of every count, list and queue at "
        "once, text and personal data erased; answers the stub, the same on every repeat",
        "site",
        s.Comment,
        errors=(401, 403, 404, 503),
    ),
    ("GET", "/v1/articles/{article_id:path}/comments"): Op(
        "An article's approved comments, flat or threaded (public, CORS)",
        "public",
        {"oneOf": [s.CommentPage, s.ThreadPage]},
        errors=_READ_ERRORS,
        params=(
            _LIMIT,
            _CURSOR,
            Param("order", "query", "`oldest` (default) or `newest`"),
            Param("thread", "query", "`true`: top-level comments with replies nested"),
            Param("replies", "query", "replies shown per thread, 0–100 (default 20)", "integer"),
            Param("replies_of", "query", "list one thread's replies (a top-level comment id)"),
        ),
    ),
    ("GET", "/v1/articles/{article_id:path}"): Op(
        "Whether an article is open, its title, link and count (public, CORS)",
        "public",
        s.Article,
        errors=(422, 503),
    ),
    ("PUT", "/v1/articles/{article_id:path}"): Op(
        "Record an article's title, link and publication time",
        "site",
        s.Article,
        request=ArticleIn,
        errors=(400, 401, 403, 413, 415, 422, 503),
    ),
    ("GET", "/v1/counts"): Op(
        "Approved-comment counts of up to 100 articles (public, CORS, ETag)",
        "public",
        s.Counts,
        errors=(422, 503),
        params=(Param("article", "query", "an article id (repeat it)", repeated=True),),
    ),
    ("GET", "/healthz"): Op("Liveness: the process answers", "public", s.Health),
    ("GET", "/readyz"): Op(
        "Readiness: Redis reachable, workers alive (503 with the problems otherwise)",
        "public",
        sa.Readiness,
        also={503: sa.Readiness},
    ),
    ("GET", "/v1/stats"): Op("Queue and decision figures", "moderator", sa.Stats, errors=_MOD),
    ("GET", "/v1/moderation/queue"): Op(
        "The held queue, filtered and ordered",
        "moderator",
        sr.ReviewPage,
        errors=(*_MOD, 400, 422),
        params=(_LIMIT, _CURSOR),
    ),
    ("GET", "/v1/moderation/queue/counts"): Op(
        "Held counts: total, per article, per reason", "moderator", sr.QueueCounts, errors=_MOD
    ),
    ("GET", "/v1/moderation/comments/{comment_id}"): Op(
        "A comment with its explanation, author history and audit",
        "moderator",
        sr.ReviewCommentAudited,
        errors=(*_MOD, 404),
    ),
    ("POST", "/v1/moderation/comments/{comment_id}/decision"): Op(
        "Approve or reject one comment",
        "moderator",
        sr.DecisionResult,
        request=DecisionIn,
        errors=(*_MOD, 404, 409, 415, 422),
    ),
    ("POST", "/v1/moderation/decisions"): Op(
        "Approve or reject many comments",
        "moderator",
        sr.BulkResult,
        request=BulkDecisionIn,
        errors=(*_MOD, 415, 422),
    ),
    ("POST", "/v1/moderation/decisions/undo"): Op(
        "Undo the caller's own decisions of the last few minutes (back to held)",
        "moderator",
        sr.UndoResult,
        request=UndoIn,
        errors=(*_MOD, 415, 422),
    ),
    ("GET", "/v1/moderation/authors/{author_id:path}"): Op(
        "An author's standing, tallies and comments",
        "moderator",
        sr.AuthorPage,
        errors=(*_MOD, 422),
    ),
    ("POST", "/v1/moderation/authors/{author_id:path}/notes"): Op(
        "Add a moderators' note on an author (shown on the author's page, audited)",
        "moderator",
        sr.AuthorNote,
        request=NoteIn,
        errors=(*_MOD, 415, 422),
        status=201,
    ),
    ("POST", "/v1/moderation/authors/{author_id:path}/state"): Op(
        "Ban, pre-moderate, trust or reset an author",
        "moderator",
        sr.AuthorStateResult,
        request=AuthorStateIn,
        errors=(*_MOD, 415, 422),
    ),
    ("GET", "/v1/moderation/articles"): Op(
        "Articles with held comments or settings", "moderator", sr.ArticleList, errors=_MOD
    ),
    ("GET", "/v1/moderation/articles/{article_id:path}"): Op(
        "One article's settings and audit", "moderator", sr.ArticleOverview, errors=(*_MOD, 422)
    ),
    ("PATCH", "/v1/moderation/articles/{article_id:path}/settings"): Op(
        "Change an article's settings",
        "moderator",
        sr.ArticleOverview,
        request=OverridesIn,
        errors=(*_MOD, 415, 422),
    ),
    ("GET", "/v1/moderation/policy"): Op(
        "The site-wide policy", "moderator", sr.PolicyView, errors=_MOD
    ),
    ("PATCH", "/v1/moderation/policy"): Op(
        "Change the site-wide policy",
        "admin",
        sr.PolicyView,
        request=OverridesIn,
        errors=(*_MOD, 415, 422),
    ),
    ("GET", "/v1/moderation/words"): Op("The word lists", "admin", sr.WordLists, errors=_MOD),
    ("PATCH", "/v1/moderation/words/{kind}"): Op(
        "Add or remove banned or suspect words",
        "admin",
        sr.WordsEdit,
        request=WordsEditIn,
        errors=(*_MOD, 404, 415, 422),
    ),
    ("GET", "/v1/moderation/audit"): Op(
        "The audit trail, newest first",
        "moderator",
        sr.AuditPage,
        errors=(*_MOD, 400, 422),
        params=(_LIMIT, _CURSOR),
    ),
    ("POST", "/v1/moderation/authors/{author_id:path}/forget"): Op(
        "Erase an author's texts and personal data (Redis and the record; audited)",
        "admin",
        sr.Erasure,
        errors=(*_MOD, 422),
    ),
    ("GET", "/v1/moderation/search"): Op(
        "Search decided comments in the record (SQL), newest first",
        "moderator",
        sr.ReviewPage,
        errors=(*_MOD, 400, 422),
        params=(
            Param("q", "query", "words that must all occur in the text"),
            Param("author", "query", "an author id"),
            Param("article", "query", "an article id"),
            Param("site", "query", "only this site's comments (default: every site's)"),
            Param("status", "query", "`approved`, `rejected`, `held`, comma-separated"),
            Param("from", "query", "created at or after (ISO 8601; UTC if no offset)"),
            Param("to", "query", "created before (ISO 8601; UTC if no offset)"),
            _LIMIT,
            _CURSOR,
        ),
    ),
    # Moderators' tools (moderation.api.tools)
    ("GET", "/v1/moderation/published"): Op(
        "An article's published comments, newest first (Redis and the record), searchable",
        "moderator",
        sr.ReviewPage,
        errors=(*_MOD, 400, 422),
        params=(
            Param("article", "query", "the article id (required)"),
            Param("q", "query", "words that must all occur in the text"),
            Param("author", "query", "an author id"),
            Param("from", "query", "created at or after (ISO 8601; UTC if no offset)"),
            Param("to", "query", "created before (ISO 8601; UTC if no offset)"),
            _LIMIT,
            _CURSOR,
        ),
    ),
    ("GET", "/v1/moderation/comments/{comment_id}/copies"): Op(
        "A held comment's held near duplicates: the ids to decide together",
        "moderator",
        st.Copies,
        errors=(*_MOD, 404),
    ),
    ("POST", "/v1/moderation/comments/{comment_id}/escalate"): Op(
        "Send a held comment to the admins with a note (audited); 409 if it is not held",
        "moderator",
        st.Escalated,
        201,
        EscalateIn,
        (*_MOD, 404, 409, 415, 422),
    ),
    ("GET", "/v1/moderation/escalated"): Op(
        "Escalated comments still held, oldest first, with who sent them and why",
        "admin",
        st.EscalatedList,
        errors=_MOD,
    ),
    ("GET", "/v1/moderation/spam-domains"): Op(
        "The spam allow and deny domain lists (run-time and from the settings)",
        "admin",
        st.SpamDomains,
        errors=_MOD,
    ),
    ("PATCH", "/v1/moderation/spam-domains/{kind}"): Op(
        "Add or remove domains of the spam `allow` or `deny` list (audited)",
        "admin",
        st.DomainsEdit,
        request=DomainsEditIn,
        errors=(*_MOD, 415, 422),
    ),
    ("GET", "/openapi.json"): Op("This document", "public", s.AnyObject),
    # DSA (moderation.api.dsa)
    ("POST", "/v1/comments/{comment_id}/reports"): Op(
        "A reader reports a published comment (public, CORS); 201 with a receipt id",
        "public",
        sr.ReportReceipt,
        201,
        ReportIn,
        (400, 404, 409, 413, 415, 422, 429, 503),
    ),
    ("GET", "/v1/comments/{comment_id}/statement"): Op(
        "The statement of reasons of the restriction in force (DSA Art. 17)",
        "readers",
        sr.StatementView,
        errors=(401, 403, 404, 503),
    ),
    ("GET", "/v1/moderation/reported"): Op(
        "The Reported queue: comments with open reports, most reported then riskiest",
        "moderator",
        sr.ReportedPage,
        errors=(*_MOD, 400, 422),
        params=(_LIMIT, Param("offset", "query", "position in the queue", "integer")),
    ),
    ("POST", "/v1/moderation/reported/{comment_id}/decision"): Op(
        "Keep a reported comment (reports dismissed) or remove it; reporters are told",
        "moderator",
        sr.ReportOutcome,
        request=ReportDecisionIn,
        errors=(*_MOD, 404, 409, 415, 422),
    ),
    ("GET", "/v1/moderation/transparency"): Op(
        "The DSA Art. 15 transparency report's figures for a period (as `moderation report`)",
        "admin",
        TransparencyReport,
        errors=(*_MOD, 422),
        params=(
            Param("from", "query", "start, YYYY-MM-DD or ISO time (default: 1 January)"),
            Param("to", "query", "end, excluded, YYYY-MM-DD or ISO time (default: tomorrow)"),
        ),
    ),
    ("GET", "/v1/moderation/grounds"): Op(
        "The grounds of restrictions: laws and community-rule clauses",
        "moderator",
        sr.Grounds,
        errors=_MOD,
    ),
    ("PUT", "/v1/moderation/grounds"): Op(
        "Replace the list of grounds",
        "admin",
        sr.Grounds,
        request=GroundsIn,
        errors=(*_MOD, 415, 422),
    ),
    # DSA Art. 20 appeals (moderation.api.appeals)
    ("POST", "/v1/comments/{comment_id}/appeals"): Op(
        "The site files its author's appeal of the decision restricting a comment, within "
        "MODERATION_APPEAL_WINDOW_MONTHS of it; 201 with the appeal",
        "site", st.Appeal, 201, AppealIn, (400, 401, 403, 404, 409, 413, 415, 422, 503),
    ),
    ("GET", "/v1/moderation/appeals"): Op(
        "The Appeals queue (open, oldest first) or the decided appeals (newest first)",
        "moderator", st.AppealList, errors=(*_MOD, 400, 422),
        params=(
            Param("status", "query", "`open` (default) or `decided`"),
            _LIMIT,
            Param("offset", "query", "position in the list", "integer"),
        ),
    ),
    ("GET", "/v1/moderation/appeals/{appeal_id}"): Op(
        "One appeal: the decision appealed with its statement, the author's text, the outcome",
        "moderator", st.AppealWithComment, errors=(*_MOD, 404),
    ),
    ("POST", "/v1/moderation/appeals/{appeal_id}/decision"): Op(
        "Uphold the decision or reverse it (the comment is published again), with a reasoned "
        "answer; 403 for whoever took the decision, 409 once decided",
        "moderator", st.AppealOutcome, request=AppealDecisionIn,
        errors=(*_MOD, 404, 409, 415, 422),
    ),
    ("POST", "/v1/coral/moderate"): Op(
        "Coral Talk's external moderation phase (X-Coral-Signature; see the README)", "coral",
        sa.CoralAnswer, errors=(400, 401, 409, 413, 422, 429, 503),
    ),
    ("GET", "/v1/moderation/webhooks"): Op(
        "Webhook endpoints, with each one's backlog and failures", "admin", sa.EndpointList,
        errors=_MOD,
    ),
    ("POST", "/v1/moderation/webhooks"): Op(
        "Register a webhook endpoint; the answer shows its whsec_ secret once", "admin",
        sa.Endpoint, 201, EndpointIn, (*_MOD, 415, 422),
    ),
    ("GET", "/v1/moderation/webhooks/{endpoint_id}"): Op(
        "One webhook endpoint", "admin", sa.Endpoint, errors=(*_MOD, 404)
    ),
    ("PATCH", "/v1/moderation/webhooks/{endpoint_id}"): Op(
        "Change an endpoint's URL, events or description", "admin", sa.Endpoint,
        request=EndpointPatch, errors=(*_MOD, 404, 409, 415, 422),
    ),
    ("DELETE", "/v1/moderation/webhooks/{endpoint_id}"): Op(
        "Remove an endpoint with its queue and failures", "admin", None, 204,
        errors=(*_MOD, 404, 409),
    ),
    ("POST", "/v1/moderation/webhooks/{endpoint_id}/rotate"): Op(
        "A new secret (shown once); the previous one signs beside it for the grace period",
        "admin", sa.Endpoint, errors=(*_MOD, 404, 409),
    ),
    ("GET", "/v1/moderation/webhooks/{endpoint_id}/failures"): Op(
        "Dead-lettered messages of an endpoint, oldest first", "admin", sa.FailureList,
        errors=(*_MOD, 404, 422), params=(_LIMIT,),
    ),
    ("POST", "/v1/moderation/webhooks/{endpoint_id}/replay"): Op(
        "Send dead-lettered messages again (all, or those named)", "admin", sa.Replayed,
        request=ReplayIn, errors=(*_MOD, 404, 415, 422),
    ),
    ("GET", "/v1/moderation/accounts"): Op(
        "Moderators' and admins' accounts, each with its live web sessions", "admin",
        st.AccountList, errors=_MOD,
    ),
    ("POST", "/v1/moderation/accounts"): Op(
        "Create an account (with a password, or a one-time sign-in link: link=true)", "admin",
        st.Account, 201, AccountIn, (*_MOD, 409, 415, 422),
    ),
    ("PATCH", "/v1/moderation/accounts/{name}"): Op(
        "Disable or enable an account (disabling signs it out), or set its password", "admin",
        st.Account, request=AccountPatch, errors=(*_MOD, 404, 415, 422),
    ),
    ("POST", "/v1/moderation/accounts/{name}/link"): Op(
        "A one-time sign-in link for an account (shown once)", "admin", st.SignInLink, 201,
        errors=(*_MOD, 404, 409),
    ),
    ("DELETE", "/v1/moderation/accounts/{name}/sessions/{session_id}"): Op(
        "Revoke one web session of an account (signed out on its next request)", "admin",
        None, 204, errors=(*_MOD, 404),
    ),
}  # fmt: skip

#: Routes that do not answer JSON: (method, path) -> (media type, what it is).
OTHER: dict[tuple[str, str], tuple[str, str]] = {
    ("GET", "/"): ("text/html", "What this service is, with links"),
    ("GET", "/docs"): ("text/html", "This API, readable"),
    ("GET", "/metrics"): ("text/plain", "Prometheus metrics (text exposition format)"),
    ("GET", "/count.js"): ("text/javascript", "The comment-count embed script"),
    ("GET", "/report.js"): ("text/javascript", "The report-link embed script"),
    ("GET", "/v1/moderation/events"): ("text/event-stream", "Server-Sent Events: held, decided"),
}
_UI_PREFIX = "/moderate"
_STATUS_TEXT = {
    200: "OK", 201: "Decided within the wait", 202: "Accepted", 400: "Bad request",
    401: "No or unknown key", 403: "The key's role may not do this", 404: "Not found",
    409: "Conflict", 413: "Body too large", 415: "Not JSON", 422: "Invalid field",
    429: "Rate limited (see Retry-After)", 503: "Store unavailable (see Retry-After)",
}  # fmt: skip
_CONVERTER = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*):[a-zA-Z_]+}")


def mounted(routes: Sequence[BaseRoute]) -> list[tuple[str, str]]:
    """(method, path) of every route an app mounts (a static mount: ``GET <path>/{path}``)."""
    out: list[tuple[str, str]] = []
    for r in routes:
        if isinstance(r, Mount):
            out.append(("GET", r.path + "/{path}"))
        elif isinstance(r, Route):
            out.extend((m, r.path) for m in sorted(r.methods or ()) if m != "HEAD")
    return out


def document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of an app's routes; a route with no description raises."""
    types: list[Any] = []
    for op in OPERATIONS.values():
        types.extend(_types(op.response) if op.response is not None else [])
        types.extend(_types(op.request) if op.request is not None else [])
        for extra in op.also.values():
            types.extend(_types(extra))
    types.append(s.ErrorBody)
    unique = list(dict.fromkeys(types))
    schemas, components = msgspec.json.schema_components(
        unique, ref_template="#/components/schemas/{name}"
    )
    for component in components.values():
        # The answer structs forbid unknown members (so views cannot drift from them), but
        # clients should accept members added later: the document leaves objects open.
        if component.get("additionalProperties") is False:
            del component["additionalProperties"]
    refs = dict(zip(unique, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for method, path in mounted(routes):
        item = paths.setdefault(_CONVERTER.sub(r"{\1}", path), {})
        item[method.lower()] = _operation(method, path, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": "1",
            "description": "Self-hosted comment moderation for news sites. Errors are "
            '`{"error": {"code", "message", "field"?}}`.',
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API key"},
                "session": {"type": "apiKey", "in": "cookie", "name": "mod_session"},
            },
        },
    }


def _types(t: Any) -> list[Any]:
    if isinstance(t, dict) and "oneOf" in t:
        return list(t["oneOf"])
    return [t]


def _schema(t: Any, refs: dict[Any, Any]) -> dict[str, Any]:
    if isinstance(t, dict) and "oneOf" in t:
        # anyOf, not oneOf: an empty page is both a flat and a threaded page, and oneOf
        # would call that answer invalid.
        return {"anyOf": [refs[x] for x in t["oneOf"]]}
    return dict(refs[t])


def _operation(method: str, path: str, refs: dict[Any, Any]) -> dict[str, Any]:
    params = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
        for n in re.findall(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?}", path)
    ]
    op = OPERATIONS.get((method, path))
    if op is None:
        media, summary = _other(method, path)
        return {
            "summary": summary,
            "parameters": params,
            "responses": {"200": {"description": summary, "content": {media: {}}}},
        }
    site = (_SITE,) if (method, path) in SITE_ROUTES else ()
    for p in (*op.params, *site):
        schema: dict[str, Any] = {"type": p.type}
        if p.repeated:
            schema = {"type": "array", "items": schema}
        params.append({"name": p.name, "in": p.where, "description": p.description,
                       "schema": schema})  # fmt: skip
    responses: dict[str, Any] = {}
    for status, t in {op.status: op.response, **op.also}.items():
        if t is None:  # no body (204)
            responses[str(status)] = {"description": "No content"}
            continue
        responses[str(status)] = {
            "description": _STATUS_TEXT.get(status, "OK"),
            "content": {"application/json": {"schema": _schema(t, refs)}},
        }
    # A route that takes a body may refuse it as malformed (400), too large (413), not JSON
    # (415) or invalid (422), whatever else its entry lists.
    body_errors = (400, 413, 415, 422) if op.request is not None else ()
    # A path parameter the route's pattern cannot match (a line break in an id) leaves the
    # path naming no route: 404 with the error shape.
    path_errors = (404,) if params else ()
    site_errors = (400, 404, 422) if site else ()
    for status in sorted({*op.errors, *body_errors, *path_errors, *site_errors}):
        responses.setdefault(str(status), {
            "description": _STATUS_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": dict(refs[s.ErrorBody])}},
        })  # fmt: skip
    out: dict[str, Any] = {
        "summary": op.summary,
        "description": f"Who: {_WHO[op.auth]}.",
        "parameters": params,
        "security": _SECURITY[op.auth],
        "responses": responses,
    }
    if op.request is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": dict(refs[op.request])}},
        }
    return out


def _other(method: str, path: str) -> tuple[str, str]:
    if (method, path) in OTHER:
        return OTHER[(method, path)]
    if path.startswith(_UI_PREFIX + "/static"):
        return "application/octet-stream", "Static files of the review UI"
    if path.startswith(_UI_PREFIX):
        if path.endswith("/stream"):
            return "text/event-stream", "The dashboard's live figures (Server-Sent Events)"
        return "text/html", f"Review UI page ({method} {path})"
    raise LookupError(f"no description of {method} {path}: add it to moderation.api.openapi")


# --- handlers ----------------------------------------------------------------------------------


def _cached(request: Request) -> dict[str, Any]:
    doc: dict[str, Any] | None = getattr(request.app.state, "openapi", None)
    if doc is None:
        doc = document(request.app.routes)
        request.app.state.openapi = doc
    return doc


async def openapi_json(request: Request) -> Response:
    return JSON(_cached(request))


async def docs(request: Request) -> Response:
    return HTMLResponse(render_docs(_cached(request)), headers=_PAGE_HEADERS)


async def home(request: Request) -> Response:
    return HTMLResponse(_page("Comment moderation", _HOME), headers=_PAGE_HEADERS)


_PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "code,pre{font:14px ui-monospace,monospace}pre{background:#f4f4f4;padding:.5rem;"
    "overflow:auto}h3{margin-bottom:.2rem}.m{font-weight:bold;text-transform:uppercase}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .4rem;"
    "text-align:left}"
)
_HOME = (
    "<h1>Comment moderation</h1><p>A self-hosted moderation service for news sites: your site "
    "posts reader comments here; workers score them for toxicity and spam; your site gets "
    "an approve / hold decision and per-article counts; moderators review what was held.</p>"
    "<ul><li><a href='/docs'>API reference</a> (<a href='/openapi.json'>OpenAPI 3.1</a>)</li>"
    "<li><a href='/moderate'>Moderation</a>: the review queue (sign in with a key)</li>"
    "<li><a href='/moderate/dashboard'>Dashboard</a>: the queue and decisions live</li>"
    "<li><a href='/count.js'>count.js</a>: comment counts on your pages</li></ul>"
)


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><meta name='viewport' content='width=device-width'><style>{_STYLE}</style>"
        f"</head><body>{body}</body></html>"
    )


def render_docs(doc: dict[str, Any]) -> str:
    """The document as one HTML page: each route, who may call it, its parameters, body and
    answers, then the schemas."""
    e = html.escape
    parts = [f"<h1>{e(doc['info']['title'])}</h1><p>{e(doc['info']['description'])}</p>",
             "<p><a href='/openapi.json'>openapi.json</a> · <a href='/'>home</a></p>"]  # fmt: skip
    for path, item in doc["paths"].items():
        for method, op in item.items():
            parts.append(f"<h3><span class='m'>{e(method)}</span> <code>{e(path)}</code></h3>")
            parts.append(f"<p>{e(op['summary'])}. {e(op.get('description', ''))}</p>")
            query = [p for p in op["parameters"] if p["in"] != "path"]
            if query:
                rows = "".join(
                    f"<tr><td><code>{e(p['name'])}</code></td><td>{e(p['in'])}</td>"
                    f"<td>{e(p.get('description', ''))}</td></tr>"
                    for p in query
                )
                parts.append(f"<table>{rows}</table>")
            body = op.get("requestBody")
            if body:
                parts.append(f"<p>Body: {_ref(body['content']['application/json']['schema'])}</p>")
            answers = ", ".join(f"{e(code)} {_answer(r)}" for code, r in op["responses"].items())
            parts.append(f"<p>Answers: {answers}</p>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in doc["components"]["schemas"].items():
        text = json.dumps(schema, indent=2, ensure_ascii=False)
        parts.append(f"<h3 id='{e(name)}'>{e(name)}</h3><pre>{e(text)}</pre>")
    return _page(doc["info"]["title"], "".join(parts))


def _answer(response: dict[str, Any]) -> str:
    content: dict[str, Any] = response.get("content", {})
    for media, body in content.items():
        return _ref(body["schema"]) if "schema" in body else f"<code>{html.escape(media)}</code>"
    return ""


def _ref(schema: dict[str, Any]) -> str:
    names = [x["$ref"].rsplit("/", 1)[1] for x in schema.get("oneOf", [schema]) if "$ref" in x]
    if not names:
        return "<code>object</code>" if schema.get("type") == "object" else ""
    return " or ".join(f"<a href='#{html.escape(n)}'>{html.escape(n)}</a>" for n in names)
