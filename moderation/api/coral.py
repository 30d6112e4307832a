"""``POST /v1/coral/moderate``: Coral Talk's external moderation phase, answered by our pipeline.

Coral (checked against its source, ``services/comments/pipeline/phases/external.ts``) POSTs
``{action: NEW|EDIT, comment: {body, parentID}, author: {id, role}, story: {id, url},
site: {id}, tenantID, tenantDomain}`` with ``X-Coral-Signature: sha256=<hex>[,sha256=<hex>…]``
(HMAC-SHA256 of the raw body, keyed with each active secret string). It fails open on any
non-2xx, timeout or invalid reply, and reads ``{}``/204 as no opinion, else ``{status,
actions: [{actionType: "FLAG", reason: COMMENT_DETECTED_TOXIC|COMMENT_DETECTED_SPAM}]}``.

Order, so a forged or replayed request changes nothing: the signature is checked on the raw
bytes before anything is parsed (401); then the body's SHA-256 is remembered for
``coral_replay_window_s`` (``SET NX``) and a repeat is refused (409: Coral signs no timestamp).
Then the comment goes through the normal path (article = story id, author = author id, site =
our ``?site=`` on the phase's URL, optional while only one site exists) and we wait up to
``coral_budget_ms`` for its decision: approved → ``{}``;
held or rejected → ``SYSTEM_WITHHELD`` with the flag of its reason; no decision in time → hold
(``SYSTEM_WITHHELD``, the fail-safe default) or ``{}`` (``coral_on_timeout=none``), counted
as ``coral:missed``. Coral's parent ids are Coral's own, so replies are scored as top-level.

Every comment taken here is **linked** (``moderation.store.coral``: story, author, body digest,
then what Coral was told), written before the comment is queued so that no decision can come
before its link; with ``coral_api_url`` set, ``workers.coral`` writes later decisions back.
"""

from __future__ import annotations

import hashlib
import hmac

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from moderation.api.auth import site_of
from moderation.api.gates import flood_ip, refusal_error
from moderation.api.responses import JSON
from moderation.api.schemas_admin import CoralAction, CoralAnswer
from moderation.api.validation import decode_json, read_body, to_record
from moderation.errors import Conflict, Unauthorized
from moderation.ids import new_id
from moderation.keys import Counter
from moderation.messages import AuthorIn, CommentIn, Decision, Status
from moderation.settings import Settings
from moderation.store import coral as links
from moderation.store.comments import Store, now_ms
from moderation.store.waiters import DecisionWaiters

SIGNATURE_HEADER = "x-coral-signature"
WITHHELD = "SYSTEM_WITHHELD"


class CoralComment(msgspec.Struct):
    body: str
    parentID: str | None = None


class CoralAuthor(msgspec.Struct):
    id: str
    role: str = "COMMENTER"


class CoralStory(msgspec.Struct):
    id: str
    url: str = ""


class CoralSite(msgspec.Struct):
    id: str = ""


class CoralRequest(msgspec.Struct):
    """Coral's request; unknown fields are ignored (a newer Coral may add some)."""

    action: str
    comment: CoralComment
    author: CoralAuthor
    story: CoralStory
    site: CoralSite = msgspec.field(default_factory=CoralSite)
    tenantID: str = ""
    tenantDomain: str = ""


def signature_valid(secrets: tuple[str, ...], header: str, body: bytes) -> bool:
    """True when one ``sha256=<hex>`` of the header is the HMAC of ``body`` under a secret."""
    given = [
        p.strip()[len("sha256=") :] for p in header.split(",") if p.strip().startswith("sha256=")
    ]
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, g) for g in given):
            return True
    return False


def withheld(decision: Decision | None) -> CoralAnswer:
    codes = [r.code for r in decision.reasons] if decision is not None else []
    reason = "COMMENT_DETECTED_SPAM" if any(c.startswith("spam") for c in codes) else (
        "COMMENT_DETECTED_TOXIC")  # fmt: skip
    actions = [CoralAction("FLAG", reason)] if decision is not None else []
    return CoralAnswer(WITHHELD, actions)


async def coral_moderate(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    store: Store = request.app.state.store
    body = await read_body(request, settings.max_body_bytes, settings.body_timeout_s)
    header = request.headers.get(SIGNATURE_HEADER, "")
    if not settings.coral_secrets or not signature_valid(settings.coral_secrets, header, body):
        raise Unauthorized(
            "missing or wrong X-Coral-Signature (set MODERATION_CORAL_SECRETS to the phase's "
            "signing secret)",
            field="X-Coral-Signature",
        )
    digest = hashlib.sha256(body).hexdigest()
    fresh = await store.redis.set(
        store.keys.coral_seen(digest), 1, nx=True, ex=settings.coral_replay_window_s
    )
    if not fresh:
        raise Conflict("this signed request was already received (replay)", field="body")
    coral = decode_json(body, CoralRequest)
    payload = CommentIn(
        article_id=coral.story.id,
        text=coral.comment.body,
        author=AuthorIn(id=coral.author.id, name=coral.author.id),
    )
    created_at = now_ms()
    record = to_record(
        payload, settings, comment_id=new_id(created_at), site=await site_of(request),
        created_at=created_at,
    )  # fmt: skip
    link = links.Link(
        record.id, coral.story.id, coral.author.id, links.fingerprint(coral.comment.body)
    )
    await links.save_link(store.redis, store.keys, link)
    checks = request.app.state.admission
    result = await store.submit(record, "", None, settings.idempotency_ttl_s, checks,
                                flood_ip(record, checks))  # fmt: skip
    if result.refusal is not None:
        await links.drop_link(store.redis, store.keys, record.id)
        raise refusal_error(result.refusal, record)
    waiters: DecisionWaiters = request.app.state.waiters
    status, _ = await waiters.wait(
        result.comment_id, settings.coral_budget_ms / 1000, lambda: store.status(result.comment_id)
    )
    counters = store.keys.counters

    async def told(what: str) -> None:
        await links.update_link(store.redis, store.keys, result.comment_id, told=what)

    if status is None or status is Status.PENDING:
        await store.redis.hincrby(counters, Counter.CORAL_MISSED, 1)
        hold = settings.coral_on_timeout == "hold"
        # "No opinion": Coral goes on with its own rules, as good as approved for us.
        await told(links.WITHHELD if hold else links.APPROVED)
        return JSON(withheld(None) if hold else CoralAnswer())
    await store.redis.hincrby(counters, Counter.CORAL_ANSWERED, 1)
    if status is Status.APPROVED:
        await told(links.APPROVED)
        return JSON(CoralAnswer())
    await told(links.WITHHELD)
    stored = await store.get(result.comment_id)
    return JSON(withheld(stored.decision if stored is not None else None))
