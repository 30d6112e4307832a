"""One route described: who may call it (:data:`SECURITY`, :data:`WHO`), its parameters
(:class:`Param`) and what it takes and answers (:class:`Op`), with the parameters and error sets
many routes share. The catalogue (``operations``, ``operations_more``) is made of these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Who may call a route: the OpenAPI security requirement of each kind.
SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "public": [],
    "site": [{"bearer": []}],
    "readers": [{"bearer": []}],
    "moderator": [{"bearer": []}, {"session": []}],
    "admin": [{"bearer": []}, {"session": []}],
    "coral": [],
}
WHO = {
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


CURSOR = Param("cursor", "query", "`next_cursor` of the previous page")
#: The site a request without a site key acts on (see the README, "Sites"): optional while
#: only one site exists; 400 without it once there are several, 404 for an unknown site.
SITE = Param(
    "site",
    "query",
    "the site's id (optional while only one site exists); a site key's own site always wins",
)
#: The routes that take :data:`SITE`: every public route about articles or comments, and what
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
LIMIT = Param("limit", "query", "page size, 1–100 (default 20)", "integer")
READ_ERRORS = (400, 422, 503)
MOD = (401, 403, 503)

#: Every JSON route: (method, path as Starlette declares it) -> what it does.
