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

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import msgspec
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

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
    site: str = ""


_audit_decoder = msgspec.json.Decoder(_AuditFields)


#: Columns of the rows this module writes, in the order of the tuples built below.
DECISION_COLUMNS = (
    "event_key",
    "event_id",
    "comment_id",
    "article_id",
    "from_status",
    "status",
    "actor",
    "reason",
    "decided_at",
    "decision",
)
COMMENT_COLUMNS = (
    "id",
    "article_id",
    "author_id",
    "author_name",
    "site",
    "text",
    "created_at",
    "status",
    "updated_at",
    "doc",
    "decision",
    "event_key",
)
AUDIT_COLUMNS = (
    "event_key",
    "event_id",
    "at",
    "actor",
    "role",
    "action",
    "target_type",
    "target",
    "site",
    "doc",
)

#: Bound parameters one SQLite statement may carry (``SQLITE_MAX_VARIABLE_NUMBER``: 32,766
#: since SQLite 3.32, 999 before).
_SQLITE_MAX_VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
#: Rows per SQLite statement at most (bounds the statement's text and memory).
_SQLITE_MAX_ROWS = 1000


class _Bulk:
    """An ``INSERT … ON CONFLICT`` compiled once, then run for many rows at the driver level.

    The statement is SQLAlchemy's (compiled for the engine's dialect, so quoting, casts and
    placeholders are its own); only the per-row work is skipped: rows are plain tuples in
    ``columns`` order, handed to the driver as they are (every value here is a ``str``, an
    ``int`` or ``None``, which no type of these tables processes).

    - PostgreSQL: one ``executemany`` (asyncpg prepares the statement once and sends every row
      in one round trip).
    - SQLite: one multi-row ``VALUES`` statement per chunk, not one statement per row. Every
      statement that writes ``comments`` fires the FTS5 trigger, and FTS5 flushes its pending
      index data into a new segment at the end of each statement: row by row, that flush and
      the merges it causes were most of the write's cost (measured: a 500-row statement makes
      the FTS5 upkeep about 4x cheaper). A multi-row upsert applies its rows in order, as
      ``executemany`` does (callers never send one key twice in a statement).
    """

    def __init__(self, stmt: Insert, dialect: Dialect, columns: Sequence[str]) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(columns), for_executemany=True)
        if list(compiled.positiontup or ()) != list(columns):
            raise RuntimeError(f"unexpected parameter order {compiled.positiontup}")
        self.sql = str(compiled)
        self.sqlite = dialect.name == "sqlite"
        head, _, rest = self.sql.partition(" VALUES ")
        end = rest.index(")") + 1  # the one row's placeholders: "(?, ?, …)"
        self._head, self._group, self._tail = f"{head} VALUES ", rest[:end], rest[end:]
        self._chunk = max(1, min(_SQLITE_MAX_ROWS, _SQLITE_MAX_VARIABLES // len(columns)))

    async def execute(self, conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
        if not self.sqlite:
            await conn.exec_driver_sql(self.sql, list(rows))
            return
        for i in range(0, len(rows), self._chunk):
            chunk = rows[i : i + self._chunk]
            sql = self._head + ",".join([self._group] * len(chunk)) + self._tail
            await conn.exec_driver_sql(sql, tuple(v for row in chunk for v in row))


class Archive:
    """The record's writer (the archiver's half of :class:`Record`)."""

    def __init__(self, record: Record) -> None:
        self.record = record
        self._insert = postgresql.insert if record.dialect == "postgresql" else sqlite.insert
        dialect = record.engine.dialect
        upsert = self._insert(comments)
        excluded = upsert.excluded
        # The status moves; the text and author move only with an edit (a new revision) or a
        # deletion (erased): the document is read from Redis as it is now.
        upsert = upsert.on_conflict_do_update(
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
        self._decisions = _Bulk(
            self._insert(decisions).on_conflict_do_nothing(index_elements=["event_key"]),
            dialect,
            DECISION_COLUMNS,
        )
        self._comments = _Bulk(upsert, dialect, COMMENT_COLUMNS)
        self._audit = _Bulk(
            self._insert(audit).on_conflict_do_nothing(index_elements=["event_key"]),
            dialect,
            AUDIT_COLUMNS,
        )

    async def write(
        self,
        events: Sequence[EventRow],
        audits: Sequence[AuditRow],
        report_rows: Sequence[ReportRow] = (),
        appeal_rows: Sequence[AppealRow] = (),
    ) -> None:
        """Record a batch in one transaction (all of it, or nothing to acknowledge)."""
        keys = [event_key(e.entry_id) for e in events]
        # Rows in key order: two batches written at once (PostgreSQL) lock the rows they share
        # in the same order, so neither waits for the other in a cycle.
        decision_rows = sorted(
            (_decision_row(e, key) for e, key in zip(events, keys, strict=True)),
            key=itemgetter(0),
        )
        latest = dict(sorted(_latest(events, keys).items()))
        comment_rows = _comment_rows(latest.values())
        audit_rows = [row for row in (_audit_row(a) for a in audits) if row is not None]
        async with self.record.engine.begin() as conn:
            if decision_rows:
                await self._decisions.execute(conn, decision_rows)
            if comment_rows:
                await self._comments.execute(conn, comment_rows)
            for e, key in latest.values():
                if e.doc is not None:
                    continue
                # The hash left Redis: move the row's status if it exists.
                await conn.execute(
                    comments.update()
                    .where(comments.c.id == e.comment_id)
                    .where(comments.c.event_key < key)
                    .values(status=e.status, updated_at=e.at, decision=e.decision, event_key=key)
                )
            if audit_rows:
                await self._audit.execute(conn, audit_rows)
            if report_rows:
                await write_reports(conn, self._insert, report_rows)
            if appeal_rows:
                await write_appeals(conn, self._insert, appeal_rows)


def _latest(events: Sequence[EventRow], keys: Sequence[str]) -> dict[str, tuple[EventRow, str]]:
    """The newest event of each comment in a batch, with its ``event_key`` (``keys``: those of
    ``events``, in order): one statement may touch a row once."""
    latest: dict[str, tuple[EventRow, str]] = {}
    for e, key in zip(events, keys, strict=True):
        seen = latest.get(e.comment_id)
        if seen is None or seen[1] < key:
            latest[e.comment_id] = (e, key)
    return latest


def _decision_row(e: EventRow, key: str) -> tuple[Any, ...]:
    """A ``decisions`` row in :data:`DECISION_COLUMNS` order."""
    return (
        key,
        e.entry_id,
        e.comment_id,
        e.article_id,
        e.from_status,
        e.status,
        e.actor,
        e.reason,
        e.at,
        e.decision,
    )


def _comment_rows(latest: Iterable[tuple[EventRow, str]]) -> list[tuple[Any, ...]]:
    """``comments`` rows in :data:`COMMENT_COLUMNS` order, for the events carrying a
    submission."""
    rows = []
    for e, key in latest:
        if e.doc is None:
            continue
        try:
            r = _record_decoder.decode(e.doc)
        except msgspec.DecodeError:
            continue  # a corrupt submission: its decision is recorded, the text cannot be
        rows.append(
            (
                r.id,
                r.article_id,
                r.author.id,
                r.author.name,
                r.site,
                r.text,
                r.created_at,
                e.status,
                e.at,
                e.doc.decode(),
                e.decision,
                key,
            )
        )
    return rows


def _audit_row(a: AuditRow) -> tuple[Any, ...] | None:
    """An ``audit`` row in :data:`AUDIT_COLUMNS` order (``None`` for a corrupt entry)."""
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
    return (
        event_key(a.entry_id),
        a.entry_id,
        f.at,
        f.actor,
        f.role,
        f.action,
        f.target_type,
        f.target,
        f.site,
        doc,
    )
