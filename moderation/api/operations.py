"""What every route of the API does: the catalogue ``moderation.api.openapi`` builds its
document from.

:data:`OPERATIONS` holds the JSON routes (the site's, the readers' and the moderators' core
here; the moderators' tools, the DSA's, appeals, Coral, webhooks and accounts in
``operations_more``), :data:`OTHER` the routes that answer something else. A route mounted
without an entry fails the OpenAPI tests rather than going undocumented.
"""

from __future__ import annotations

from moderation.api import schemas as s
from moderation.api import schemas_admin as sa
from moderation.api import schemas_review as sr
from moderation.api.operation import CURSOR, LIMIT, MOD, READ_ERRORS, Op, Param
from moderation.api.operations_more import MORE
from moderation.messages import ArticleIn, CommentEditIn, CommentIn
from moderation.review.authors import AuthorStateIn
from moderation.review.decisions import BulkDecisionIn, DecisionIn, UndoIn
from moderation.review.notes import NoteIn
from moderation.review.overrides import OverridesIn
from moderation.review.words import WordsEditIn

#: The site's, the readers' and the moderators' core routes: (method, path as Starlette
#: declares it) -> what it does.
_CORE: dict[tuple[str, str], Op] = {
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
        errors=READ_ERRORS,
        params=(
            LIMIT,
            CURSOR,
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
    ("GET", "/v1/stats"): Op("Queue and decision figures", "moderator", sa.Stats, errors=MOD),
    ("GET", "/v1/moderation/queue"): Op(
        "The held queue, filtered and ordered",
        "moderator",
        sr.ReviewPage,
        errors=(*MOD, 400, 422),
        params=(LIMIT, CURSOR),
    ),
    ("GET", "/v1/moderation/queue/counts"): Op(
        "Held counts: total, per article, per reason", "moderator", sr.QueueCounts, errors=MOD
    ),
    ("GET", "/v1/moderation/comments/{comment_id}"): Op(
        "A comment with its explanation, author history and audit",
        "moderator",
        sr.ReviewCommentAudited,
        errors=(*MOD, 404),
    ),
    ("POST", "/v1/moderation/comments/{comment_id}/decision"): Op(
        "Approve or reject one comment",
        "moderator",
        sr.DecisionResult,
        request=DecisionIn,
        errors=(*MOD, 404, 409, 415, 422),
    ),
    ("POST", "/v1/moderation/decisions"): Op(
        "Approve or reject many comments",
        "moderator",
        sr.BulkResult,
        request=BulkDecisionIn,
        errors=(*MOD, 415, 422),
    ),
    ("POST", "/v1/moderation/decisions/undo"): Op(
        "Undo the caller's own decisions of the last few minutes (back to held)",
        "moderator",
        sr.UndoResult,
        request=UndoIn,
        errors=(*MOD, 415, 422),
    ),
    ("GET", "/v1/moderation/authors/{author_id:path}"): Op(
        "An author's standing, tallies and comments",
        "moderator",
        sr.AuthorPage,
        errors=(*MOD, 422),
    ),
    ("POST", "/v1/moderation/authors/{author_id:path}/notes"): Op(
        "Add a moderators' note on an author (shown on the author's page, audited)",
        "moderator",
        sr.AuthorNote,
        request=NoteIn,
        errors=(*MOD, 415, 422),
        status=201,
    ),
    ("POST", "/v1/moderation/authors/{author_id:path}/state"): Op(
        "Ban, pre-moderate, trust or reset an author",
        "moderator",
        sr.AuthorStateResult,
        request=AuthorStateIn,
        errors=(*MOD, 415, 422),
    ),
    ("GET", "/v1/moderation/articles"): Op(
        "Articles with held comments or settings", "moderator", sr.ArticleList, errors=MOD
    ),
    ("GET", "/v1/moderation/articles/{article_id:path}"): Op(
        "One article's settings and audit", "moderator", sr.ArticleOverview, errors=(*MOD, 422)
    ),
    ("PATCH", "/v1/moderation/articles/{article_id:path}/settings"): Op(
        "Change an article's settings",
        "moderator",
        sr.ArticleOverview,
        request=OverridesIn,
        errors=(*MOD, 415, 422),
    ),
    ("GET", "/v1/moderation/policy"): Op(
        "The site-wide policy", "moderator", sr.PolicyView, errors=MOD
    ),
    ("PATCH", "/v1/moderation/policy"): Op(
        "Change the site-wide policy",
        "admin",
        sr.PolicyView,
        request=OverridesIn,
        errors=(*MOD, 415, 422),
    ),
    ("GET", "/v1/moderation/words"): Op("The word lists", "admin", sr.WordLists, errors=MOD),
    ("PATCH", "/v1/moderation/words/{kind}"): Op(
        "Add or remove banned or suspect words",
        "admin",
        sr.WordsEdit,
        request=WordsEditIn,
        errors=(*MOD, 404, 415, 422),
    ),
    ("GET", "/v1/moderation/audit"): Op(
        "The audit trail, newest first",
        "moderator",
        sr.AuditPage,
        errors=(*MOD, 400, 422),
        params=(LIMIT, CURSOR),
    ),
    ("POST", "/v1/moderation/authors/{author_id:path}/forget"): Op(
        "Erase an author's texts and personal data (Redis and the record; audited)",
        "admin",
        sr.Erasure,
        errors=(*MOD, 422),
    ),
    ("GET", "/v1/moderation/search"): Op(
        "Search decided comments in the record (SQL), newest first",
        "moderator",
        sr.ReviewPage,
        errors=(*MOD, 400, 422),
        params=(
            Param("q", "query", "words that must all occur in the text"),
            Param("author", "query", "an author id"),
            Param("article", "query", "an article id"),
            Param("site", "query", "only this site's comments (default: every site's)"),
            Param("status", "query", "`approved`, `rejected`, `held`, comma-separated"),
            Param("from", "query", "created at or after (ISO 8601; UTC if no offset)"),
            Param("to", "query", "created before (ISO 8601; UTC if no offset)"),
            LIMIT,
            CURSOR,
        ),
    ),
}  # fmt: skip

#: Every JSON route: (method, path as Starlette declares it) -> what it does.
OPERATIONS: dict[tuple[str, str], Op] = {**_CORE, **MORE}

#: Routes that do not answer JSON: (method, path) -> (media type, what it is).
OTHER: dict[tuple[str, str], tuple[str, str]] = {
    ("GET", "/"): ("text/html", "What this service is, with links"),
    ("GET", "/docs"): ("text/html", "This API, readable"),
    ("GET", "/metrics"): ("text/plain", "Prometheus metrics (text exposition format)"),
    ("GET", "/count.js"): ("text/javascript", "The comment-count embed script"),
    ("GET", "/report.js"): ("text/javascript", "The report-link embed script"),
    ("GET", "/v1/moderation/events"): ("text/event-stream", "Server-Sent Events: held, decided"),
}
