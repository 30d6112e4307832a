"""Archiving reader reports (DSA Art. 16 notices): ``report.filed`` and ``report.decided``.

Both events carry the report's JSON, so either alone makes the row: a report filed before the
archiver first ran (or whose ``report.filed`` was trimmed away) still reaches the record with
its outcome. Writes are idempotent and commute: ``report.filed`` inserts the row or leaves it
as it is; ``report.decided`` inserts it or sets its outcome, once (the first outcome stays).

Personal data: the notifier is kept only as the keyed hash that stood for them in Redis; the
name and e-mail of an illegal-content notice are dropped here whatever the event carried
(``report.decided`` carries the open report as it was, contact included, for the site).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from moderation.record.schema import reports
from moderation.store.reports import Report

_decoder = msgspec.json.Decoder(Report)

FILED = "report.filed"
DECIDED = "report.decided"


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One typed events-stream entry about a report: ``kind`` is ``report.filed`` or
    ``report.decided`` (then ``outcome``, ``automated``, ``by`` and ``at`` are set)."""

    entry_id: str
    kind: str
    article_id: str
    doc: bytes
    outcome: str | None = None
    automated: bool | None = None
    by: str | None = None
    at: int | None = None


def _row(r: ReportRow) -> dict[str, Any] | None:
    try:
        report = _decoder.decode(r.doc)
    except msgspec.DecodeError:
        return None  # a corrupt entry: nothing of it can be counted
    notice = report.notice
    decided = r.kind == DECIDED
    return {
        "receipt": report.receipt,
        "comment_id": report.comment_id,
        "article_id": r.article_id,
        "reason": report.reason.value,
        "filed_at": report.at,
        "reporter": report.reporter,
        "notice_url": notice.url if notice else None,
        "notice_explanation": notice.explanation if notice else None,
        "outcome": r.outcome if decided else None,
        "decided_at": r.at if decided else None,
        "decided_by": r.by if decided else None,
        "automated": r.automated if decided else None,
    }


async def write_reports(
    conn: AsyncConnection, insert: Callable[[Any], Any], rows: Sequence[ReportRow]
) -> None:
    """Write a batch's report entries inside the caller's transaction."""
    filed: dict[str, dict[str, Any]] = {}
    decided: dict[str, dict[str, Any]] = {}
    for r in rows:
        row = _row(r)
        if row is None:
            continue
        # One statement may touch a row once: one row per receipt and kind.
        target = decided if r.kind == DECIDED else filed
        target.setdefault(row["receipt"], row)
    if filed:
        stmt = insert(reports).on_conflict_do_nothing(index_elements=["receipt"])
        await conn.execute(stmt, list(filed.values()))
    if decided:
        stmt = insert(reports)
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["receipt"],
            set_={
                "outcome": excluded.outcome,
                "decided_at": excluded.decided_at,
                "decided_by": excluded.decided_by,
                "automated": excluded.automated,
            },
            where=reports.c.outcome.is_(None),
        )
        await conn.execute(stmt, list(decided.values()))
