"""Articles: their approved comments (flat or threaded), what they are (title, link, open or
closed, count; the site upserts it) and comment counts for many articles."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import Response

from moderation.api import schemas
from moderation.api.auth import SITE, require, site_of
from moderation.api.responses import JSON
from moderation.api.validation import (
    check_article,
    check_json_media_type,
    decode_json,
    query_int,
    read_body,
)
from moderation.errors import ValidationFailed
from moderation.keys import Keys
from moderation.messages import ArticleIn, Status, StoredComment, iso
from moderation.pipeline.policy import CLOSE_AFTER_DAYS, CLOSED
from moderation.record import Reader
from moderation.settings import Settings
from moderation.store import articles
from moderation.store.articles import ArticleInfo
from moderation.store.codec import as_str, encode_cursor
from moderation.store.comment_reads import decode_comment_cursor
from moderation.store.comments import Store, now_ms
from moderation.store.views import comment_view, hidden_view

#: Most article ids in one counts request (a front page rarely links more).
MAX_COUNT_IDS = 100

#: Most replies one thread shows in a threaded page (more: ``?replies_of=<root id>``).
MAX_REPLIES = 100

_ORDERS = {"oldest": False, "newest": True}
_NO_CACHE = {"Cache-Control": "no-cache"}


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
    newest_first = _ORDERS[order]
    cursor = q.get("cursor") or None
    thread = _flag(q.get("thread"), "thread")
    replies_of = q.get("replies_of") or None
    site = await site_of(request)
    keys = store.keys.for_site(site)
    if replies_of is not None:
        # One thread's approved replies, page by page (after a threaded page's first few).
        key = keys.thread_replies(article_id, replies_of)
        comments, next_cursor = await store.page_of(
            key, limit=limit, cursor=cursor, newest_first=newest_first
        )
        views = [comment_view(c, private=False) for c in comments]
    elif thread:
        replies = query_int(q.get("replies"), "replies", default=20, low=0, high=MAX_REPLIES)
        views, next_cursor = await _threads(
            store, keys, article_id, limit, cursor, newest_first, replies
        )
    else:
        comments, next_cursor = await store.list_approved(
            article_id, limit=limit, cursor=cursor, newest_first=newest_first, site=site
        )
        # Comments that left Redis (retention) are found in the record (SQL) and merged in.
        comments, next_cursor = await _with_archived(
            request, article_id, comments, next_cursor, cursor=cursor, limit=limit,
            newest=newest_first, site=site,
        )  # fmt: skip
        views = [comment_view(c, private=False) for c in comments]
    return JSON({"comments": views, "next_cursor": next_cursor}, headers=_NO_CACHE)


async def _threads(
    store: Store,
    keys: Keys,
    article_id: str,
    limit: int,
    cursor: str | None,
    newest_first: bool,
    replies: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of top-level comments of the site of ``keys``, each with its thread's first
    ``replies`` approved replies (oldest first, as a conversation reads), ``reply_count`` and
    the cursor of the rest."""
    root_ids, next_cursor = await store.page_ids(
        keys.thread_roots(article_id), limit=limit, cursor=cursor, newest_first=newest_first
    )
    # Every thread's first replies and size in one round trip, their comments in another.
    pipe = store.redis.pipeline(transaction=False)
    for root_id in root_ids:
        thread_key = keys.thread_replies(article_id, root_id)
        pipe.zrange(thread_key, "-", "+", bylex=True, offset=0, num=replies + 1)
        pipe.zcard(thread_key)
    rows = await pipe.execute() if root_ids else []
    firsts = [[as_str(i) for i in ids] for ids in rows[0::2]]
    shown = [ids[:replies] for ids in firsts]
    stored = await store.get_many(root_ids + [i for ids in shown for i in ids])
    roots, found = stored[: len(root_ids)], iter(stored[len(root_ids) :])
    views: list[dict[str, Any]] = []
    for n, (root_id, root) in enumerate(zip(root_ids, roots, strict=True)):
        if root is not None and root.status in (Status.APPROVED, Status.DELETED):
            view = comment_view(root, private=False)
        else:
            view = hidden_view(root_id, article_id)
        page = [next(found) for _ in shown[n]]
        view["replies"] = [comment_view(c, private=False) for c in page if c is not None]
        view["reply_count"] = int(rows[2 * n + 1])
        more = len(firsts[n]) > replies and shown[n]
        view["replies_next_cursor"] = encode_cursor(shown[n][-1]) if more else None
        views.append(view)
    return views, next_cursor


def _flag(value: str | None, field: str) -> bool:
    if value is None or value in ("", "false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise ValidationFailed(f"{field} must be true or false", field=field)


@dataclass(frozen=True, slots=True)
class ArticleState:
    """Whether an article takes comments, and why not."""

    info: ArticleInfo
    #: ``None`` (open), ``closed`` (a moderator closed it), ``site_closed`` (the whole site) or
    #: ``expired`` (older than its "close after N days").
    closed: str | None
    #: When it closes by itself (epoch ms), if it will.
    closes_at: int | None


async def article_state(
    redis: Redis, keys: Keys, settings: Settings, article_id: str, *, now: int
) -> ArticleState:
    """One round trip: the closed flags, the "close after N days" setting and the article's
    start (``submit.lua`` applies the same rules to a new comment, atomically)."""
    meta = keys.article(article_id)
    pipe = redis.pipeline(transaction=False)
    pipe.hmget(keys.article_settings(article_id), CLOSED, CLOSE_AFTER_DAYS)
    pipe.hmget(keys.policy, CLOSED, CLOSE_AFTER_DAYS)
    pipe.hmget(meta, *articles.FIELDS)
    replies = await pipe.execute()
    (closed, days_raw), (site_closed, site_days_raw), row = replies[-3:]
    info = articles.decode(article_id, row)
    # The article's own setting, else the site-wide override, else the environment's.
    days = settings.close_after_days
    for raw in (site_days_raw, days_raw):
        if raw is not None and as_str(raw).isdigit():
            days = int(as_str(raw))
    opened = info.opened_at
    closes_at = opened + days * 86_400_000 if days > 0 and opened is not None else None
    reason = None
    if closed == b"1":
        reason = "closed"
    elif site_closed == b"1":
        reason = "site_closed"
    elif closes_at is not None and now >= closes_at:
        reason = "expired"
    return ArticleState(info, reason, closes_at)


def article_view(state: ArticleState, count: int) -> schemas.Article:
    info = state.info
    return schemas.Article(
        id=info.id,
        title=info.title,
        url=info.url,
        published_at=iso(info.published_at),
        open=state.closed is None,
        closed_reason=state.closed,
        closes_at=iso(state.closes_at),
        count=count,
    )


async def _article_answer(request: Request, article_id: str, site: str) -> Response:
    state = request.app.state
    keys = state.keys.for_site(site)
    found = await article_state(state.redis, keys, state.settings, article_id, now=now_ms())
    count = (await state.store.counts([article_id], site))[article_id]
    return JSON(article_view(found, count), headers=_NO_CACHE)


async def get_article(request: Request) -> Response:
    """``GET /v1/articles/{id}`` (public): title, link, whether it is open, its count."""
    settings: Settings = request.app.state.settings
    article_id = _article_id(request.path_params["article_id"], settings, "article_id")
    return await _article_answer(request, article_id, await site_of(request))


async def put_article(request: Request) -> Response:
    """``PUT /v1/articles/{id}`` (site key): record its title, URL and publication time."""
    settings: Settings = request.app.state.settings
    store: Store = request.app.state.store
    site = await site_of(request, await require(request, SITE))
    article_id = _article_id(request.path_params["article_id"], settings, "article_id")
    check_json_media_type(request)
    raw = await read_body(request, settings.max_body_bytes, settings.body_timeout_s)
    body = decode_json(raw, ArticleIn)
    facts = check_article(body, article_id)
    await articles.upsert(
        store.redis, store.keys.for_site(site), article_id, now=now_ms(), title=facts.title,
        url=facts.url, published_at=facts.published_at,
    )  # fmt: skip
    return await _article_answer(request, article_id, site)


async def _with_archived(
    request: Request,
    article_id: str,
    page: list[StoredComment],
    next_cursor: str | None,
    *,
    cursor: str | None,
    limit: int,
    newest: bool,
    site: str,
) -> tuple[list[StoredComment], str | None]:
    """Merge into a Redis page the approved comments found only in the record (left Redis):
    one ordered page by id, as if every comment were still in Redis. A comment Redis still
    holds is shown (or not) as Redis says: its status there is the newest."""
    store: Store = request.app.state.store
    reader: Reader = request.app.state.record
    after = decode_comment_cursor(cursor) if cursor else None
    archived = await reader.approved_page(
        article_id, after=after, limit=limit + 1, newest_first=newest, site=site
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
    site = await site_of(request)
    body = msgspec.json.encode({"counts": await store.counts(unique, site)})
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
