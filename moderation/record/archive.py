"""Writing the record: idempotent upserts of stream entries, in one transaction per batch.

The archiver delivers entries at least once (a kill before ``XACK`` delivers them again), so
every write here is keyed so that a second delivery changes nothing:

- a transition (events stream) inserts its ``decisions`` row keyed by the entry id (``ON
  CONFLICT DO NOTHING``) and upserts its comment keyed by comment id, where the status and
  decision move only **forward**: a row keeps the newest event it has seen (``event_key``), so
  entries replayed out of order cannot roll a comment back;
- an audit entry inserts its ``audit`` row keyed by the entry id;
- a reader report (``report.filed`` / ``report.decided``) inserts or completes its ``reports``
  row keyed by its receipt (``moderation.record.notices``); an appeal (``appeal.filed`` /
  ``appeal.decided``) its ``appeals`` row keyed by the appeal id (``moderation.record.appeals``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy.dialects import postgresql, sqlite

from moderation.messages import CommentRecord
from moderation.record.appeals import AppealRow, write_appeals
from moderation.record.database import Record
from moderation.record.notices import ReportRow, write_reports
from moderation.record.schema import audit, comments, decisions, event_key

_record_decoder = msgspec.json.Decoder(CommentRecord)


@dataclass(frozen=True, slots=True)
class EventRow:
    """One transition as the events stream carries it, plus the comment's submission ``doc``
    (``None`` when the comment hash is gone from Redis: the decision is still recorded)."""

    entry_id: str
    comment_id: str
    article_id: str
    from_status: str
    status: str
    actor: str
    reason: str
    at: int
    decision: str | None
    doc: bytes | None


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One audit-stream entry: its document and, for a comment decision, the statuses seen."""

    entry_id: str
    doc: bytes
    from_status: str | None = None
    to_status: str | None = None


class _AuditFields(msgspec.Struct):
    at: int
    actor: str
    role: str
    action: str
    target_type: str
    target: str


_audit_decoder = msgspec.json.Decoder(_AuditFields)


class Archive:
    """The record's writer (the archiver's half of :class:`Record`)."""

    def __init__(self, record: Record) -> None:
        self.record = record
        self._insert = postgresql.insert if record.dialect == "postgresql" else sqlite.insert

    async def write(
        self,
        events: Sequence[EventRow],
        audits: Sequence[AuditRow],
        report_rows: Sequence[ReportRow] = (),
        appeal_rows: Sequence[AppealRow] = (),
    ) -> None:
        """Record a batch in one transaction (all of it, or nothing to acknowledge)."""
        decision_rows = [_decision_row(e) for e in events]
        comment_rows = _comment_rows(events)
        audit_rows = [row for row in (_audit_row(a) for a in audits) if row is not None]
        async with self.record.engine.begin() as conn:
            if decision_rows:
                stmt = self._insert(decisions).on_conflict_do_nothing(index_elements=["event_key"])
                await conn.execute(stmt, decision_rows)
            if comment_rows:
                stmt = self._insert(comments)
                excluded = stmt.excluded
                # The status moves; the text and author move only with an edit (a new revision)
                # or a deletion (erased): the document is read from Redis as it is now.
                stmt = stmt.on_conflict_do_update(
                    index_elements=["id"],
                    set_={
                        "text": excluded.text,
                        "author_name": excluded.author_name,
                        "doc": excluded.doc,
                        "status": excluded.status,
                        "updated_at": excluded.updated_at,
                        "decision": excluded.decision,
                        "event_key": excluded.event_key,
                    },
                    where=comments.c.event_key < excluded.event_key,
                )
                await conn.execute(stmt, comment_rows)
            orphans = [e for e in _latest(events).values() if e.doc is None]
            for e in orphans:  # the hash left Redis: move the row's status if it exists
                await conn.execute(
                    comments.update()
                    .where(comments.c.id == e.comment_id)
                    .where(comments.c.event_key < event_key(e.entry_id))
                    .values(
                        status=e.status,
                        updated_at=e.at,
                        decision=e.decision,
                        event_key=event_key(e.entry_id),
                    )
                )
            if audit_rows:
                stmt = self._insert(audit).on_conflict_do_nothing(index_elements=["event_key"])
                await conn.execute(stmt, audit_rows)
            if report_rows:
                await write_reports(conn, self._insert, report_rows)
            if appeal_rows:
                await write_appeals(conn, self._insert, appeal_rows)


def _latest(events: Sequence[EventRow]) -> dict[str, EventRow]:
    """The newest event of each comment in a batch (one statement may touch a row once)."""
    latest: dict[str, EventRow] = {}
    for e in events:
        seen = latest.get(e.comment_id)
        if seen is None or event_key(seen.entry_id) < event_key(e.entry_id):
            latest[e.comment_id] = e
    return latest


def _decision_row(e: EventRow) -> dict[str, Any]:
    return {
        "event_key": event_key(e.entry_id),
        "event_id": e.entry_id,
        "comment_id": e.comment_id,
        "article_id": e.article_id,
        "from_status": e.from_status,
        "status": e.status,
        "actor": e.actor,
        "reason": e.reason,
        "decided_at": e.at,
        "decision": e.decision,
    }


def _comment_rows(events: Sequence[EventRow]) -> list[dict[str, Any]]:
    rows = []
    for e in _latest(events).values():
        if e.doc is None:
            continue
        try:
            r = _record_decoder.decode(e.doc)
        except msgspec.DecodeError:
            continue  # a corrupt submission: its decision is recorded, the text cannot be
        rows.append(
            {
                "id": r.id,
                "article_id": r.article_id,
                "author_id": r.author.id,
                "author_name": r.author.name,
                "site": r.site,
                "text": r.text,
                "created_at": r.created_at,
                "status": e.status,
                "updated_at": e.at,
                "doc": e.doc.decode(),
                "decision": e.decision,
                "event_key": event_key(e.entry_id),
            }
        )
    return rows


def _audit_row(a: AuditRow) -> dict[str, Any] | None:
    try:
        f = _audit_decoder.decode(a.doc)
    except msgspec.DecodeError:
        return None
    doc = a.doc.decode()
    if a.from_status is not None:
        # Keep the statuses the transition observed, as the Redis reader shows them.
        doc = msgspec.json.encode(
            {**msgspec.json.decode(a.doc), "from": a.from_status, "to": a.to_status}
        ).decode()
    return {
        "event_key": event_key(a.entry_id),
        "event_id": a.entry_id,
        "at": f.at,
        "actor": f.actor,
        "role": f.role,
        "action": f.action,
        "target_type": f.target_type,
        "target": f.target,
        "doc": doc,
    }
