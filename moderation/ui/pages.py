"""The moderators' web pages: queue, one comment, an author, articles, an article's settings,
site policy, word lists, audit log. Server-rendered; the small script in ``static/app.js``
calls the JSON API (``/v1/moderation``) with the session's CSRF token for every action."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from moderation.api.access import Principal, require_session
from moderation.api.auth import ADMINS, MODERATORS
from moderation.api.moderation import (
    AUDIT_TARGETS,
    audit_review,
    queue_query,
    queue_review,
    review_of,
    site_review,
)
from moderation.api.responses import JSON
from moderation.api.validation import query_int
from moderation.errors import NotFound, ValidationFailed
from moderation.ids import is_comment_id
from moderation.review import authors, history, notes, overrides
from moderation.review.items import load_items
from moderation.review.queue import QueueQuery, queue_page
from moderation.settings import Settings
from moderation.store.audit import check_cursor
from moderation.store.codec import as_str
from moderation.store.wordlists import KINDS, load_lists
from moderation.ui.audit_view import audit_rows, automatic_row
from moderation.ui.explain import explain_spam
from moderation.ui.model_labels import live_label_use
from moderation.ui.present import FILTER_REASONS, REASON_CHOICES, present
from moderation.ui.queue_status import queue_status
from moderation.ui.render import BASE, ENV, SECURITY_HEADERS, render, ui_page, urlpart
from moderation.ui.tools import card_extras


def _filters(q: QueueQuery) -> dict[str, str]:
    """The query's filters as query-string values (no cursor, no limit)."""
    out = {"order": q.order}
    for name in ("article", "author", "reason"):
        value = getattr(q, name)
        if value:
            out[name] = value
    for name in ("min_score", "max_score"):
        value = getattr(q, name)
        if value is not None:
            out[name] = f"{value:g}"
    return out


def _filter_words(q: QueueQuery) -> list[tuple[str, str]]:
    """The active filters in words, for the folded filter box's summary."""
    reasons = dict(FILTER_REASONS)
    out: list[tuple[str, str]] = []
    if q.article:
        out.append(("article", q.article))
    if q.author:
        out.append(("author", q.author))
    if q.reason:
        label = q.reason.removeprefix("toxicity:")
        out.append(("reason", reasons.get(q.reason, f"toxicity: {label}")))
    if q.min_score is not None or q.max_score is not None:
        low = f"{q.min_score:g}" if q.min_score is not None else "0"
        high = f"{q.max_score:g}" if q.max_score is not None else "1"
        out.append(("risk", f"{low}–{high}"))
    return out


@ui_page(MODERATORS)
async def home(request: Request, principal: Principal) -> Response:
    return RedirectResponse(f"{BASE}/queue", 303, headers=SECURITY_HEADERS)


@ui_page(MODERATORS)
async def queue(request: Request, principal: Principal) -> Response:
    settings: Settings = request.app.state.settings
    q = queue_query(request, default_limit=settings.queue_page_size)
    review = await queue_review(request, q)
    started = time.perf_counter()
    # Where the events stream stands *before* the queue is read: the page's live feed resumes
    # from here, so a comment held while the page loads still arrives.
    newest: Any = await review.redis.xrevrange(review.keys.events, "+", "-", count=1)
    events_after = as_str(newest[0][0]) if newest else "0-0"
    page = await queue_page(review.redis, review.keys, q)
    live_parts = await queue_status(request)
    kept, groups, escalated = await card_extras(review, page.items)
    loaded = time.perf_counter()
    items = [present(i) for i in kept]
    presented = time.perf_counter()
    filters = _filters(q)
    if q.article or q.author:
        # The page's script fetches more of the same narrowed queue: of the same site.
        filters["site"] = review.keys.site
    response = render(
        request,
        principal,
        "queue.html",
        {
            "title": "Review queue",
            "items": items,
            "next_cursor": page.next_cursor,
            **live_parts,
            "order": q.order,
            "q": q,
            "filters": filters,
            "filter_query": urlencode(filters),
            "filtered": any(k not in ("order", "site") for k in filters),
            "filter_words": _filter_words(q),
            "reason_filters": FILTER_REASONS,
            "labels": overrides.known_labels(settings),
            "reasons": REASON_CHOICES,
            "limit": q.limit,
            "events_after": events_after,
            "undo_window_s": settings.undo_window_s,
            "groups": groups,
            "escalated": escalated,
        },
    )
    rendered = time.perf_counter()
    # Server-Timing lets anyone see where the time of this page goes (browser dev tools).
    response.headers["Server-Timing"] = ", ".join(
        f"{name};dur={ms:.1f}"
        for name, ms in (
            ("load", (loaded - started) * 1000),
            ("present", (presented - loaded) * 1000),
            ("template", (rendered - presented) * 1000),
        )
    )
    return response


async def queue_items(request: Request) -> Response:
    """JSON ``{"html", "ids", "next_cursor"}``: queue items rendered for the page's script
    (the next page, or named comments that arrived live and match the page's filters)."""
    await require_session(request, MODERATORS)
    settings: Settings = request.app.state.settings
    q = queue_query(request, default_limit=settings.queue_page_size)
    review = await queue_review(request, q)
    narrowed = q.article is not None or q.author is not None
    raw_ids = request.query_params.get("ids")
    next_cursor = None
    if raw_ids:
        ids = [i for i in raw_ids.split(",") if is_comment_id(i)][:100]
        loaded = [i for i in await load_items(review.redis, review.keys, ids) if i is not None]
        items = [
            i
            for i in loaded
            if q.matches(i)
            and (q.article is None or i.stored.record.article_id == q.article)
            and (q.author is None or i.stored.record.author.id == q.author)
            and (not narrowed or i.stored.record.site == review.keys.site)
        ]
    else:
        page = await queue_page(review.redis, review.keys, q)
        items, next_cursor = page.items, page.next_cursor
    items, groups, escalated = await card_extras(review, items)
    html = ENV.get_template("_items.html").render(
        {
            "items": [present(i) for i in items],
            "reasons": REASON_CHOICES,
            "BASE": BASE,
            "groups": groups,
            "escalated": escalated,
        }
    )
    return JSON(
        {"html": html, "ids": [i.id for i in items], "next_cursor": next_cursor},
        headers={"Cache-Control": "no-store"},
    )


@ui_page(MODERATORS)
async def comment(request: Request, principal: Principal) -> Response:
    review = review_of(request)
    comment_id = request.path_params["comment_id"]
    reader = request.app.state.record
    item = await history.load_item(review, reader, comment_id)
    if item is None:
        raise NotFound(f"There is no comment with id {comment_id}.")
    entries = await history.comment_trail(review, reader, comment_id, limit=50)
    record = item.stored.record
    auto_spam = item.evidence.spam if item.evidence else None
    trail = await audit_rows(review.redis, review.keys, entries, request.app.state.record)
    if item.auto is not None and item.auto.by in ("auto", "system"):
        # Newest first, like the audit entries: the automatic decision came before them all.
        trail.append(automatic_row(item.auto, comment_id))
    return render(
        request,
        principal,
        "comment.html",
        {
            "title": f"Comment by {record.author.name}",
            "v": present(item),
            "record": record,
            "decision": item.stored.decision,
            "auto": item.auto,
            "spam_rows": explain_spam(auto_spam.signals) if auto_spam else [],
            "audit": trail,
            "reasons": REASON_CHOICES,
        },
    )


@ui_page(MODERATORS)
async def author(request: Request, principal: Principal) -> Response:
    settings: Settings = request.app.state.settings
    review = await site_review(request)
    author_id = authors.check_id(request.path_params["author_id"], settings.max_id_chars)
    page = await authors.author_page(
        review,
        author_id,
        limit=30,
        cursor=request.query_params.get("cursor") or None,
        reader=request.app.state.record,
    )
    entries, _ = await review.audit.read(limit=30, target_type="author", target=author_id)
    return render(
        request,
        principal,
        "author.html",
        {
            "title": f"Author {page.name or author_id}",
            "author_id": author_id,
            "page": page,
            "history": [present(i) for i in page.history],
            "audit": await audit_rows(review.redis, review.keys, entries, request.app.state.record),
            "states": authors.STATES,
            "notes": await notes.read_notes(review, author_id),
        },
    )


@ui_page(MODERATORS)
async def articles(request: Request, principal: Principal) -> Response:
    wanted = request.query_params.get("id", "").strip()
    if wanted:  # the "open an article by id" form
        site = request.query_params.get("site", "")
        where = f"{BASE}/articles/{urlpart(wanted)}" + (f"?site={quote(site)}" if site else "")
        return RedirectResponse(where, 303, SECURITY_HEADERS)
    rows = await overrides.articles_overview(await site_review(request))
    return render(request, principal, "articles.html", {"title": "Articles", "rows": rows})


@ui_page(MODERATORS)
async def article(request: Request, principal: Principal) -> Response:
    settings: Settings = request.app.state.settings
    review = await site_review(request)
    article_id = authors.check_id(
        request.path_params["article_id"], settings.max_id_chars, "article_id"
    )
    view = await overrides.article_overview(review, article_id)
    entries, _ = await review.audit.read(limit=30, target_type="article", target=article_id)
    return render(
        request,
        principal,
        "article.html",
        {
            "title": f"Article {article_id}",
            "view": view,
            "label_use": await live_label_use(review.redis, review.keys, settings),
            "audit": await audit_rows(review.redis, review.keys, entries, request.app.state.record),
        },
    )


@ui_page(ADMINS)
async def policy(request: Request, principal: Principal) -> Response:
    review = await site_review(request)
    raw, effective_policy = await overrides.site_policy(review)
    s = review.settings
    entries, _ = await review.audit.read(limit=30, target_type="policy", target=review.keys.site)
    return render(
        request,
        principal,
        "policy.html",
        {
            "title": "Site policy",
            "overrides": overrides.parse(raw),
            "effective": overrides.effective(effective_policy),
            "defaults": {
                "thresholds": dict(s.thresholds),
                "spam_threshold": s.spam_threshold,
                "max_links": s.max_links,
            },
            "labels": overrides.known_labels(s),
            "label_use": await live_label_use(review.redis, review.keys, s),
            "audit": await audit_rows(review.redis, review.keys, entries, request.app.state.record),
        },
    )


@ui_page(ADMINS)
async def words(request: Request, principal: Principal) -> Response:
    review = review_of(request)
    lists = await load_lists(review.redis, review.keys)
    entries, _ = await review.audit.read(limit=30, target_type="words", target="banned")
    suspect_entries, _ = await review.audit.read(limit=30, target_type="words", target="suspect")
    merged = sorted(entries + suspect_entries, key=lambda e: e.id, reverse=True)[:30]
    return render(
        request,
        principal,
        "words.html",
        {
            "title": "Word lists",
            "lists": lists,
            "kinds": KINDS,
            "audit": await audit_rows(review.redis, review.keys, merged, request.app.state.record),
        },
    )


@ui_page(MODERATORS)
async def audit_log(request: Request, principal: Principal) -> Response:
    settings: Settings = request.app.state.settings
    q = request.query_params
    target_type = q.get("target_type") or None
    target = q.get("target") or None
    actor = q.get("actor") or None
    if target_type is not None and target_type not in AUDIT_TARGETS:
        raise ValidationFailed(f"target type must be one of {', '.join(AUDIT_TARGETS)}")
    if target is not None and target_type is None:
        raise ValidationFailed("Choose the target type of the target id.")
    for value in (target, actor):
        if value is not None:
            authors.check_id(value, settings.max_id_chars, "filter")
    limit = query_int(q.get("limit"), "limit", default=50, low=1, high=settings.max_page_size)
    review = await audit_review(request, target_type, target)
    # Beyond Redis's window the record's entries follow, as in the audit API.
    entries, next_cursor = await history.audit_trail(
        review,
        request.app.state.record,
        limit=limit,
        cursor=check_cursor(q.get("cursor") or None),
        target_type=target_type,
        target=target,
        actor=actor,
    )
    site = request.query_params.get("site") or None
    named = (("target_type", target_type), ("target", target), ("actor", actor), ("site", site))
    filters = {k: v for k, v in named if v}
    return render(
        request,
        principal,
        "audit.html",
        {
            "title": "Audit log",
            "audit": await audit_rows(review.redis, review.keys, entries, request.app.state.record),
            "next_query": urlencode({**filters, "cursor": next_cursor}) if next_cursor else None,
            "filters": filters,
            "targets": AUDIT_TARGETS,
        },
    )
