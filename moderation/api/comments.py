"""``POST /v1/comments``, ``GET``, ``PATCH`` (edit) and ``DELETE /v1/comments/{id}``."""

from __future__ import annotations

import asyncio
import logging

import msgspec
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from moderation.api import schemas
from moderation.api.auth import READERS, SITE, may_see, own_site, require, site_of
from moderation.api.gates import flood_ip, refusal_error
from moderation.api.responses import JSON
from moderation.api.schemas import typed
from moderation.api.validation import (
    body_digest,
    check_article,
    check_json_media_type,
    check_text,
    decode_json,
    query_float,
    read_body,
    to_record,
)
from moderation.errors import NotFound, ValidationFailed
from moderation.ids import is_comment_id, new_id
from moderation.messages import (
    CommentEditIn,
    CommentIn,
    CommentRecord,
    Status,
    StoredComment,
    iso,
)
from moderation.record import Reader
from moderation.settings import Settings
from moderation.store import articles, revisions
from moderation.store.admission import Admission
from moderation.store.audit import Actor
from moderation.store.comment_reads import announced
from moderation.store.comments import Store, now_ms
from moderation.store.views import comment_view
from moderation.store.waiters import DecisionWaiters, Published

log = logging.getLogger("moderation.api")

_MAX_IDEM_KEY = 255


async def post_comment(request: Request) -> Response:
    """Accept a comment: 202 while pending; with ``?wait=S``, the decision if it comes in time.

    Status codes: 202 pending; 201 decided within the wait; 200 an idempotent replay (with the
    comment's current state). The comment is durable in Redis before any 2xx is sent.
    """
    settings: Settings = request.app.state.settings
    store: Store = request.app.state.store
    key = await require(request, SITE)
    site = await site_of(request, key)

    wait_s = _wait_param(request, settings)
    idem_key = request.headers.get("idempotency-key")
    if idem_key is not None:
        idem_key = idem_key.strip()
        if not idem_key or len(idem_key) > _MAX_IDEM_KEY or not idem_key.isprintable():
            raise ValidationFailed(
                f"Idempotency-Key must be 1–{_MAX_IDEM_KEY} printable characters",
                field="Idempotency-Key",
            )

    check_json_media_type(request)
    body = await read_body(request, settings.max_body_bytes, settings.body_timeout_s)
    payload = decode_json(body, CommentIn)
    created_at = now_ms()
    record = to_record(
        payload, settings, comment_id=new_id(created_at), site=site, created_at=created_at
    )
    article = None
    if payload.article is not None:
        article = check_article(payload.article, record.article_id, "article.")
    if record.parent_id is not None:
        # A reply names a comment of the same article; it joins that comment's thread (one
        # round trip more, for replies only).
        root = await store.thread_root(record.parent_id, record.article_id, site)
        record = msgspec.structs.replace(record, root_id=root)
    # Python admission gates (none by default); the closed-article and flood-control checks run
    # inside the submit script, in the same round trip that stores the comment.
    for gate in request.app.state.gates:
        await gate(request, record)

    checks: Admission = request.app.state.admission
    waiters: DecisionWaiters = request.app.state.waiters
    # Registered before the comment is stored, so its decision cannot land unseen and the wait
    # needs no first status read.
    expected = waiters.expect(record.id) if wait_s else None
    try:
        result = await store.submit(
            record,
            body_digest(payload) if idem_key else "",  # only an idempotency key needs the digest
            idem_key,
            settings.idempotency_ttl_s,
            checks,
            flood_ip(record, checks),
        )
        if result.refusal is not None:
            raise refusal_error(result.refusal, record)
        if article is not None and result.created:
            # The site sent the article's facts with the comment: keep them (titles for moderators).
            await articles.upsert(
                store.redis, store.keys.for_site(site), record.article_id, now=created_at,
                title=article.title, url=article.url, published_at=article.published_at,
            )  # fmt: skip
        comment_id = result.comment_id
        headers = {"Location": f"/v1/comments/{comment_id}"}
        if not result.created:
            headers["Idempotent-Replayed"] = "true"
            stored = await store.get(comment_id)
            if stored is None:  # the original expired or was purged: answer as accepted
                return JSON(schemas.Accepted(comment_id, Status.PENDING.value), 202, headers)
            code = 202 if stored.status is Status.PENDING else 200
            return JSON(_comment(stored), code, headers)

        if expected is not None:
            decided = await _decided(store, waiters, record, wait_s, expected)
            if decided is not None:
                return JSON(_comment(decided), 201, headers)

        accepted = schemas.Accepted(
            id=comment_id,
            status=Status.PENDING.value,
            article_id=record.article_id,
            created_at=iso(record.created_at) or "",
            links=schemas.Links(self=f"/v1/comments/{comment_id}"),
        )
        return JSON(accepted, 202, headers)
    finally:
        if expected is not None:  # whatever happened (a refusal, a replay, an error)
            waiters.forget(record.id, expected)


async def _decided(
    store: Store,
    waiters: DecisionWaiters,
    record: CommentRecord,
    wait_s: float,
    expected: asyncio.Future[Published | str],
) -> StoredComment | None:
    """The comment ``record`` just stored, once decided within ``wait_s``; ``None`` while it
    is pending (or when the wait failed: the comment is stored, and an error would make the
    site retry and duplicate it)."""
    comment_id = record.id
    try:
        status, published = await waiters.wait(
            comment_id, wait_s, lambda: store.status(comment_id), expected
        )
        if published is not None and published.status is not Status.DELETED:
            # The first transition after the submission (a deletion replaces the document):
            # its message holds all this request lacks, no read back.
            return await announced(
                store.redis, store.keys, record, published.status,
                published.updated_at, published.decision,
            )  # fmt: skip
        if status is not None and status is not Status.PENDING:
            return await store.get(comment_id)
    except (RedisError, OSError) as exc:
        log.warning("wait for %s interrupted: %s", comment_id, exc)
    return None


def _comment(stored: StoredComment) -> schemas.Comment:
    return typed(schemas.Comment, comment_view(stored, private=True))


async def get_comment(request: Request) -> Response:
    store: Store = request.app.state.store
    key = await require(request, READERS)
    comment_id = request.path_params["comment_id"]
    stored = await store.get(comment_id) if is_comment_id(comment_id) else None
    if stored is None and is_comment_id(comment_id):
        # No longer in Redis (retention, or a restore): the record answers the same JSON.
        record: Reader = request.app.state.record
        stored = (await record.get_many([comment_id])).get(comment_id)
    if stored is None or not may_see(key, stored.record.site):
        raise NotFound(f"no comment with id {comment_id!r}", field="comment_id")
    return JSON(_comment(stored))


async def delete_comment(request: Request) -> Response:
    """Delete a comment (a reader retracts it, an erasure request): 200 with its stub, at once
    and on every repeat. It leaves counts, lists, threads and the held queue in one step."""
    key = await require(request, SITE)
    store: Store = request.app.state.store
    stored = await revisions.delete(
        store,
        request.app.state.settings,
        Actor(key.name, key.role),
        request.path_params["comment_id"],
        own_site(key),
    )
    return JSON(_comment(stored))


async def patch_comment(request: Request) -> Response:
    """Edit a comment's text: 202 with the new revision, pending its own automatic decision
    (hidden until then); 200 when the text is unchanged (no new revision)."""
    key = await require(request, SITE)
    settings: Settings = request.app.state.settings
    store: Store = request.app.state.store
    check_json_media_type(request)
    body = await read_body(request, settings.max_body_bytes, settings.body_timeout_s)
    text = check_text(decode_json(body, CommentEditIn).text, settings)
    stored, revised = await revisions.edit(
        store,
        settings,
        Actor(key.name, key.role),
        request.path_params["comment_id"],
        text,
        own_site(key),
    )
    return JSON(_comment(stored), 202 if revised else 200)


def _wait_param(request: Request, settings: Settings) -> float:
    if not request.scope["query_string"]:
        return 0.0  # the common case: no query string to parse
    raw = request.query_params.get("wait")
    if raw is None:
        return 0.0
    return query_float(raw, "wait", low_exclusive=0.0, high=settings.max_wait_s)
