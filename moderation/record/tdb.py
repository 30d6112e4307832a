"""Statements of reasons in the DSA Transparency Database's format (Art. 24(5)), from the record.

Every stored statement (each decision that hid a comment: held or rejected) becomes one
statement in the database's field names and values: ``decision_visibility`` (removed, or
access disabled while a comment is hidden pending review), ``decision_ground`` with the
ground's reference (``illegal_content_legal_ground`` / ``incompatible_content_ground``) and an
explanation, ``category``, ``content_type`` (text), ``source_type`` (an Art. 16 notice, another
notification, or own initiative), ``automated_detection``, ``automated_decision``,
``territorial_scope``, ``content_date``, ``application_date``, ``decision_facts`` and ``puid``
(the comment id and the decision's stream entry: unique, and no personal data).

**No personal data**: nothing of the comment (text, author), the notifier, or a moderator's
note goes out. The facts are written here from the decision's *reason codes* in fixed words,
never from free text (a reason's message may quote the comment; a note may name someone).

The sender (``workers.tdb``) takes :func:`pending` batches of at most 100 and, once the
database answered 201, records them in ``tdb_sent`` (:func:`mark_sent`): a sent statement is
never pending again.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from moderation.messages import Automation, Restriction, Source, Statement, Status
from moderation.record.database import Record
from moderation.record.schema import comments, decisions, tdb_sent

#: The database's limit of statements per request.
MAX_BATCH = 100

VISIBILITY = {
    Restriction.REMOVED: "DECISION_VISIBILITY_CONTENT_REMOVED",
    Restriction.HIDDEN_PENDING_REVIEW: "DECISION_VISIBILITY_CONTENT_DISABLED",
}
SOURCE_TYPE = {
    Source.NOTICE_ILLEGAL: "SOURCE_ARTICLE_16",
    Source.NOTICE: "SOURCE_TYPE_OTHER_NOTIFICATION",
    Source.OWN_INITIATIVE: "SOURCE_VOLUNTARY",
}
AUTOMATED_DECISION = {
    Automation.FULLY: "AUTOMATED_DECISION_FULLY",
    Automation.PARTIALLY: "AUTOMATED_DECISION_PARTIALLY",
    Automation.NOT: "AUTOMATED_DECISION_NOT_AUTOMATED",
}

_TOXICITY = {
    "toxicity",
    "severe_toxicity",
    "obscene",
    "identity_attack",
    "insult",
    "threat",
    "sexual_explicit",
}
_SPAM = {"spam", "links", "duplicate", "flood", "honeypot"}

#: Category by reason code (its part before ``:`` or after it), first match in code order.
_CATEGORY = {
    "threat": "STATEMENT_CATEGORY_VIOLENCE",
    "personal_information": "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "privacy": "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "misinformation": "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
    **{code: "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH" for code in _TOXICITY},
    "banned_words": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "suspect_words": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "harassment": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "toxic": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "illegal": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    **{code: "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE" for code in _SPAM},
}
DEFAULT_CATEGORY = "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE"

#: The codes facts are written from: ids of rules and reasons, never free text.
_CODE = re.compile(r"^[a-z0-9_.-]{1,64}$")

_decision_statement = msgspec.json.Decoder(dict[str, Any])
_statement_decoder = msgspec.json.Decoder(Statement)


def category(statement: Statement) -> str:
    for code in statement.codes:
        for part in code.split(":"):
            if part in _CATEGORY:
                return _CATEGORY[part]
    if statement.ground.kind == "law":
        return "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"
    return DEFAULT_CATEGORY


def _sentence(head: str, label: str | None) -> str | None:
    words = (label or head).replace("_", " ")
    if head in _TOXICITY or (head == "toxicity" and label):
        return f"An automated classifier scored the comment above the site's threshold for {words}."
    if head == "banned_words":
        return "The comment contains an entry of the site's list of banned words."
    if head == "suspect_words":
        return "The comment contains an entry of the site's list of suspect words."
    if head in _SPAM:
        return f"Automated spam signals fired ({words})."
    if head == "reported":
        return "Readers reported the comment."
    if head in ("moderator", "admin"):
        return f"A moderator found the comment in breach ({words})."
    if head == "dead_letter":
        return "The comment could not be scored automatically and was held for review."
    if _CODE.match(head) and (label is None or _CODE.match(label)):
        return f"The site's rule '{head}{':' + label if label else ''}' applied."
    return None


def facts(statement: Statement) -> str:
    """The facts in fixed words from the reason codes (no text, names or notes)."""
    covered: set[str] = set()
    out: list[str] = []
    for code in statement.codes:
        head, _, label = code.partition(":")
        if not label and code in covered:
            continue  # the plain label or head of a ``head:label`` already said
        covered.update((head, label) if label else (head,))
        sentence = _sentence(head, label or None)
        if sentence and sentence not in out:
            out.append(sentence)
    if not out:
        out.append(
            "Removed by a moderator under the ground stated."
            if statement.restriction is Restriction.REMOVED
            else "Hidden pending review under the ground stated."
        )
    return " ".join(out)[:5000]


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()


def puid(comment_id: str, event_id: str) -> str:
    return f"{comment_id}-{event_id}"


def to_tdb(
    statement: Statement,
    *,
    comment_id: str,
    event_id: str,
    decided_at: int,
    created_at: int | None,
    territorial_scope: Sequence[str],
) -> dict[str, Any]:
    """One statement in the database's field names (see the module's docstring)."""
    ground = statement.ground
    reference = (ground.reference or ground.title)[:500]
    explanation = facts(statement)[:2000]
    out: dict[str, Any] = {
        "decision_visibility": [VISIBILITY[statement.restriction]],
        "decision_ground": (
            "DECISION_GROUND_ILLEGAL_CONTENT"
            if ground.kind == "law"
            else "DECISION_GROUND_INCOMPATIBLE_CONTENT"
        ),
    }
    if ground.kind == "law":
        out["illegal_content_legal_ground"] = reference
        out["illegal_content_explanation"] = explanation
    else:
        out["incompatible_content_ground"] = reference
        out["incompatible_content_explanation"] = explanation
    if ground.url:
        out["decision_ground_reference_url"] = ground.url
    out.update(
        {
            "category": category(statement),
            "content_type": ["CONTENT_TYPE_TEXT"],
            "territorial_scope": sorted(territorial_scope),
            "content_date": _day(created_at if created_at is not None else decided_at),
            "application_date": _day(decided_at),
            "decision_facts": facts(statement),
            "source_type": SOURCE_TYPE[statement.source],
            "automated_detection": "Yes" if statement.automated_detection else "No",
            "automated_decision": AUTOMATED_DECISION[statement.automated_decision],
            "puid": puid(comment_id, event_id),
        }
    )
    return out


def _statement_of(raw: str | None) -> Statement | None:
    if not raw:
        return None
    try:
        doc = _decision_statement.decode(raw)
        inner = doc.get("statement")
        return None if inner is None else _statement_decoder.decode(msgspec.json.encode(inner))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _query() -> sa.Select[Any]:
    return (
        sa.select(
            decisions.c.event_key,
            decisions.c.event_id,
            decisions.c.comment_id,
            decisions.c.decided_at,
            decisions.c.decision,
            comments.c.created_at,
        )
        .select_from(decisions.outerjoin(comments, comments.c.id == decisions.c.comment_id))
        .where(decisions.c.status.in_([Status.HELD.value, Status.REJECTED.value]))
        .where(decisions.c.decision.like('%"statement":%'))
    )


def _rows_to_tdb(
    rows: Sequence[Any], territorial_scope: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for row in rows:
        statement = _statement_of(row.decision)
        if statement is None:
            continue
        doc = to_tdb(
            statement,
            comment_id=row.comment_id,
            event_id=row.event_id,
            decided_at=int(row.decided_at),
            created_at=None if row.created_at is None else int(row.created_at),
            territorial_scope=territorial_scope,
        )
        out.append((row.event_key, doc))
    return out


#: How far before the newest statement sent :func:`pending` looks for unsent ones: decisions
#: reach the record out of stream order only by a reclaimed batch (older by about
#: ``MODERATION_RECLAIM_IDLE_MS``), so a day is ample; ``rescan`` looks through everything.
LOOKBACK_MS = 24 * 3600 * 1000


async def pending(
    record: Record,
    territorial_scope: Sequence[str],
    limit: int = MAX_BATCH,
    *,
    rescan: bool = False,
) -> list[tuple[str, dict[str, Any]]]:
    """The oldest statements not sent yet, as ``(decision event_key, statement)``: those from
    :data:`LOOKBACK_MS` before the newest one sent on (every one with ``rescan``), so a run
    reads a bounded index range rather than the whole history."""
    query = (
        _query()
        .outerjoin(tdb_sent, tdb_sent.c.event_key == decisions.c.event_key)
        .where(tdb_sent.c.event_key.is_(None))
        .order_by(decisions.c.event_key)
        .limit(min(limit, MAX_BATCH))
    )
    async with record.engine.connect() as conn:
        if not rescan:
            newest = (await conn.execute(sa.select(sa.func.max(tdb_sent.c.event_key)))).scalar()
            if newest is not None:
                floor = max(int(str(newest).partition("-")[0]) - LOOKBACK_MS, 0)
                query = query.where(decisions.c.event_key >= f"{floor:020d}-")
        rows = list((await conn.execute(query)).all())
    return _rows_to_tdb(rows, territorial_scope)


async def mark_sent(
    record: Record, batch: str, sent: Sequence[tuple[str, dict[str, Any]]], at: int
) -> None:
    """Record a batch the database accepted (idempotent)."""
    if not sent:
        return
    insert = postgresql.insert if record.dialect == "postgresql" else sqlite.insert
    rows = [
        {"event_key": key, "puid": doc["puid"], "batch": batch, "sent_at": at} for key, doc in sent
    ]
    async with record.engine.begin() as conn:
        await conn.execute(insert(tdb_sent).on_conflict_do_nothing(), rows)


async def sent_count(record: Record) -> int:
    async with record.engine.connect() as conn:
        return int(
            (await conn.execute(sa.select(sa.func.count()).select_from(tdb_sent))).scalar_one()
        )


async def batches(
    record: Record, start: int, end: int, territorial_scope: Sequence[str], size: int = MAX_BATCH
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every statement of decisions taken in ``[start, end)``, in batches of at most ``size``
    (sent or not: an export for the file, e.g. for the database's web form or an audit)."""
    size = min(size, MAX_BATCH)
    after = ""
    while True:
        query = (
            _query()
            .where(decisions.c.decided_at >= start, decisions.c.decided_at < end)
            .where(decisions.c.event_key > after)
            .order_by(decisions.c.event_key)
            .limit(size)
        )
        async with record.engine.connect() as conn:
            rows = list((await conn.execute(query)).all())
        if not rows:
            return
        after = rows[-1].event_key
        docs = [doc for _, doc in _rows_to_tdb(rows, territorial_scope)]
        if docs:
            yield docs
