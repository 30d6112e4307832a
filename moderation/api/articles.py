"""Public reads: an article's approved comments and comment counts for many articles."""

from __future__ import annotations

import hashlib

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from moderation.api.responses import JSON
from moderation.api.validation import query_int
from moderation.errors import ValidationFailed
from moderation.messages import StoredComment
from moderation.record import Reader
from moderation.settings import Settings
from moderation.store.codec import encode_cursor
from moderation.store.comments import Store, decode_comment_cursor
from moderation.store.views import comment_view

#: Most article ids in one counts request (a front page rarely links more).
MAX_COUNT_IDS = 100

_ORDERS = {"oldest": False, "newest": True}


def _article_id(value: str, settings: Settings, field: str) -> str:
    if not value.strip() or len(value) > settings.max_id_chars:
        raise ValidationFailed(f"{field} must be 1–{settings.max_id_chars} characters", field=field)
    return value


async def list_article_comments(request: Request) -> Response:
    """``GET /v1/articles/{article_id}/comments?limit=&cursor=&order=oldest|newest``."""
    settings: Settings = request.app.state.settings
    store: Store = request.app.state.store
    article_id = _article_id(request.path_params["article_id"], settings, "article_id")
    q = request.query_params
    limit = query_int(q.get("limit"), "limit", default=20, low=1, high=settings.max_page_size)
    order = q.get("order", "oldest")
    if order not in _ORDERS:
        raise ValidationFailed("order must be 'oldest' or 'newest'", field="order")
    cursor = q.get("cursor") or None
    newest_first = _ORDERS[order]
    comments, next_cursor = await store.list_approved(
        article_id, limit=limit, cursor=cursor, newest_first=newest_first
    )
    comments, next_cursor = await _with_archived(
        request, article_id, comments, next_cursor, cursor=cursor, limit=limit, newest=newest_first
    )
    return JSON(
        {
            "comments": [comment_view(c, private=False) for c in comments],
            "next_cursor": next_cursor,
        },
        headers={"Cache-Control": "no-cache"},
    )


async def _with_archived(
    request: Request,
    article_id: str,
    page: list[StoredComment],
    next_cursor: str | None,
    *,
    cursor: str | None,
    limit: int,
    newest: bool,
) -> tuple[list[StoredComment], str | None]:
    """Merge into a Redis page the approved comments found only in the record (left Redis):
    one ordered page by id, as if every comment were still in Redis. A comment Redis still
    holds is shown (or not) as Redis says: its status there is the newest."""
    store: Store = request.app.state.store
    reader: Reader = request.app.state.record
    after = decode_comment_cursor(cursor) if cursor else None
    archived = await reader.approved_page(
        article_id, after=after, limit=limit + 1, newest_first=newest
    )
    shown = {c.record.id for c in page}
    extra = [cid for cid in archived if cid not in shown]
    if not extra:
        return page, next_cursor
    in_redis = await store.get_many(extra)
    only_archived = [cid for cid, s in zip(extra, in_redis, strict=True) if s is None]
    if not only_archived:
        return page, next_cursor
    found = await reader.get_many(only_archived)
    merged = {c.record.id: c for c in page} | found
    ordered = sorted(merged, reverse=newest)
    more = next_cursor is not None or len(archived) > limit or len(ordered) > limit
    out = [merged[cid] for cid in ordered[:limit]]
    return out, (encode_cursor(out[-1].record.id) if more and out else None)


async def counts(request: Request) -> Response:
    """``GET /v1/counts?article=A&article=B`` → ``{"counts": {"A": 12, "B": 0}}``.

    Public and cacheable: ``Cache-Control: public, max-age=N`` and a strong ``ETag`` over the
    body, so ``If-None-Match`` revalidations cost a 304 with no body.
    """
    settings: Settings = request.app.state.settings
    store: Store = request.app.state.store
    ids = request.query_params.getlist("article")
    if not ids:
        raise ValidationFailed("give at least one ?article=<id>", field="article")
    unique = list(dict.fromkeys(_article_id(a, settings, "article") for a in ids))
    if len(unique) > MAX_COUNT_IDS:
        raise ValidationFailed(
            f"at most {MAX_COUNT_IDS} article ids per request, got {len(unique)}",
            field="article",
        )
    body = msgspec.json.encode({"counts": await store.counts(unique)})
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {
        "Cache-Control": f"public, max-age={settings.counts_max_age_s}",
        "ETag": etag,
        "Vary": "Origin",
    }
    inm = request.headers.get("if-none-match")
    if inm is not None and etag in {t.strip() for t in inm.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
