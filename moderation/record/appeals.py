"""Archiving appeals (DSA Art. 20): ``appeal.filed`` and ``appeal.decided`` events.

``appeal.decided`` carries the filing time too, so either event alone makes the row (an appeal
filed before its ``appeal.filed`` existed still reaches the record when decided). Writes are
idempotent and commute: ``appeal.filed`` inserts the row or leaves it; ``appeal.decided``
inserts it or sets its outcome, once. No text: the author's statement and the moderator's
answer stay with the appeal in Redis (``moderation.store.appeals``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from moderation.record.schema import appeals

FILED = "appeal.filed"
DECIDED = "appeal.decided"


@dataclass(frozen=True, slots=True)
class AppealRow:
    """One typed events-stream entry about an appeal (``kind``: ``appeal.filed`` or
    ``appeal.decided``; then ``outcome``, ``decided_at`` and ``decided_by`` are set)."""

    entry_id: str
    kind: str
    appeal_id: str
    comment_id: str
    article_id: str
    filed_at: int
    outcome: str | None = None
    decided_at: int | None = None
    decided_by: str | None = None


def _row(r: AppealRow) -> dict[str, Any]:
    decided = r.kind == DECIDED
    return {
        "appeal_id": r.appeal_id,
        "comment_id": r.comment_id,
        "article_id": r.article_id,
        "filed_at": r.filed_at,
        "outcome": r.outcome if decided else None,
        "decided_at": r.decided_at if decided else None,
        "decided_by": r.decided_by if decided else None,
    }


async def write_appeals(
    conn: AsyncConnection, insert: Callable[[Any], Any], rows: Sequence[AppealRow]
) -> None:
    """Write a batch's appeal entries inside the caller's transaction."""
    filed: dict[str, dict[str, Any]] = {}
    decided: dict[str, dict[str, Any]] = {}
    for r in rows:
        if not r.appeal_id:
            continue
        # One statement may touch a row once: one row per appeal and kind.
        (decided if r.kind == DECIDED else filed).setdefault(r.appeal_id, _row(r))
    if filed:
        stmt = insert(appeals).on_conflict_do_nothing(index_elements=["appeal_id"])
        await conn.execute(stmt, list(filed.values()))
    if decided:
        stmt = insert(appeals)
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["appeal_id"],
            set_={
                "outcome": excluded.outcome,
                "decided_at": excluded.decided_at,
                "decided_by": excluded.decided_by,
            },
            where=appeals.c.outcome.is_(None),
        )
        await conn.execute(stmt, list(decided.values()))
