"""Reading the record: comments as the API shows them, search, history and export.

A comment read here is a :class:`~moderation.messages.StoredComment` decoded from the very JSON
Redis held (the submission, the decision in force), so ``store.views.comment_view`` renders it
exactly as it renders one read from Redis.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from moderation.errors import ServiceUnavailable
from moderation.messages import CommentRecord, Decision, Status, StoredComment
from moderation.record.database import Record, head
from moderation.record.schema import audit, comments, decisions, event_key

T = TypeVar("T")

_record_decoder = msgspec.json.Decoder(CommentRecord)
_decision_decoder = msgspec.json.Decoder(Decision)

#: PostgreSQL's text-search configuration: language-neutral (newsrooms write in many languages);
#: the expression index of migration 0001 is built with the same one.
PG_TS_CONFIG = "simple"


def _stored(row: Any) -> StoredComment:
    return StoredComment(
        record=_record_decoder.decode(row.doc),
        status=Status(row.status),
        updated_at=int(row.updated_at),
        decision=_decision_decoder.decode(row.decision) if row.decision else None,
    )


_COLUMNS = (comments.c.id, comments.c.doc, comments.c.status, comments.c.updated_at)


async def get_many(record: Record, comment_ids: Sequence[str]) -> dict[str, StoredComment]:
    """The archived comments among ``comment_ids``, by id."""
    if not comment_ids:
        return {}
    query = sa.select(*_COLUMNS, comments.c.decision).where(comments.c.id.in_(comment_ids))
    async with record.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {row.id: _stored(row) for row in rows}


async def approved_page(
    record: Record,
    article_id: str,
    *,
    after: str | None,
    limit: int,
    newest_first: bool,
    site: str | None = None,
) -> list[str]:
    """Up to ``limit`` ids of an article's archived approved comments after ``after`` (in the
    page's order), of ``site`` only (``None``: any)."""
    query = sa.select(comments.c.id).where(
        comments.c.article_id == article_id, comments.c.status == Status.APPROVED.value
    )
    if site is not None:
        query = query.where(comments.c.site == site)
    if after is not None:
        query = query.where(comments.c.id < after if newest_first else comments.c.id > after)
    query = query.order_by(comments.c.id.desc() if newest_first else comments.c.id).limit(limit)
    async with record.engine.connect() as conn:
        return [row.id for row in (await conn.execute(query)).all()]


async def author_history(
    record: Record,
    author_id: str,
    *,
    before: tuple[int, str] | None,
    limit: int,
    site: str | None = None,
) -> list[StoredComment]:
    """Up to ``limit`` of an author's archived comments on ``site`` (``None``: any), newest
    first (by creation time, then id), strictly before ``before`` = ``(created_at, id)``."""
    query = sa.select(*_COLUMNS, comments.c.decision).where(comments.c.author_id == author_id)
    if site is not None:
        query = query.where(comments.c.site == site)
    if before is not None:
        created, cid = before
        query = query.where(
            sa.or_(
                comments.c.created_at < created,
                sa.and_(comments.c.created_at == created, comments.c.id < cid),
            )
        )
    query = query.order_by(comments.c.created_at.desc(), comments.c.id.desc()).limit(limit)
    async with record.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [_stored(r) for r in rows]


#: Actors whose decision is the automatic one (the decision a moderator's decision overrides).
MACHINE_ACTORS = ("auto", "system")


async def machine_decisions(record: Record, comment_ids: Sequence[str]) -> dict[str, Decision]:
    """The newest automatic (or system) decision of each comment among ``comment_ids``."""
    if not comment_ids:
        return {}
    query = (
        sa.select(decisions.c.comment_id, decisions.c.decision)
        .where(decisions.c.comment_id.in_(comment_ids))
        .where(decisions.c.actor.in_(MACHINE_ACTORS), decisions.c.decision.is_not(None))
        .order_by(decisions.c.event_key)
    )
    async with record.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    out: dict[str, Decision] = {}
    for row in rows:  # oldest first: the newest one wins
        with contextlib.suppress(msgspec.DecodeError):
            out[row.comment_id] = _decision_decoder.decode(row.decision)
    return out


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of the audit trail as the audit API takes them; ``before`` is a stream id."""

    limit: int
    before: str | None = None
    target_type: str | None = None
    target: str | None = None
    actor: str | None = None
    #: Only the entries about this site's authors and articles (their ids are the site's own).
    site: str | None = None


async def audit_page(record: Record, q: AuditQuery) -> list[tuple[str, bytes]]:
    """Up to ``q.limit`` archived audit entries, newest first, as ``(stream id, document)``
    (the document carries ``from``/``to`` for a transition, as the stream entry did)."""
    query = sa.select(audit.c.event_id, audit.c.doc)
    if q.target_type is not None:
        query = query.where(audit.c.target_type == q.target_type)
    if q.target is not None:
        query = query.where(audit.c.target == q.target)
    if q.actor is not None:
        query = query.where(audit.c.actor == q.actor)
    if q.site is not None:
        query = query.where(audit.c.site == q.site)
    if q.before is not None:
        query = query.where(audit.c.event_key < event_key(q.before))
    query = query.order_by(audit.c.event_key.desc()).limit(q.limit)
    async with record.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [(row.event_id, row.doc.encode()) for row in rows]


class Reader:
    """The API's way into the record: reads that fall through from Redis.

    Until the database's schema is at the code's revision (the archiver migrates it at start)
    there is nothing archived to find, so reads find nothing rather than fail; once it is, the
    answer is cached. A database that cannot be reached raises ``ServiceUnavailable`` (503 with
    ``Retry-After``): a comment that may be archived is never answered as missing.
    """

    def __init__(self, record: Record, retry_after_s: int = 1) -> None:
        self.record = record
        self.retry_after_s = retry_after_s
        self._ready = False

    async def _check(self) -> bool:
        if not self._ready and self.record.exists():
            self._ready = await self.record.revision() == head()
        return self._ready

    def _unavailable(self, exc: Exception) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"the record (database) is unreachable: {type(exc).__name__}",
            headers={"Retry-After": str(self.retry_after_s)},
        )

    async def ready(self) -> bool:
        """Whether the record exists at the code's schema (503 when unreachable)."""
        try:
            return await self._check()
        except (SQLAlchemyError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def _read(self, read: Callable[[Record], Awaitable[T]], empty: T) -> T:
        """``read(record)``, or ``empty`` before the schema exists; 503 when unreachable."""
        try:
            return await read(self.record) if await self._check() else empty
        except (SQLAlchemyError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def get_many(self, comment_ids: Sequence[str]) -> dict[str, StoredComment]:
        return await self._read(lambda r: get_many(r, comment_ids), {})

    async def search(self, q: SearchQuery) -> tuple[list[StoredComment], str | None]:
        return await self._read(lambda r: search(r, q), ([], None))

    async def author_history(
        self,
        author_id: str,
        *,
        before: tuple[int, str] | None,
        limit: int,
        site: str | None = None,
    ) -> list[StoredComment]:
        return await self._read(
            lambda r: author_history(r, author_id, before=before, limit=limit, site=site), []
        )

    async def machine_decisions(self, comment_ids: Sequence[str]) -> dict[str, Decision]:
        return await self._read(lambda r: machine_decisions(r, comment_ids), {})

    async def audit_page(self, q: AuditQuery) -> list[tuple[str, bytes]]:
        return await self._read(lambda r: audit_page(r, q), [])

    async def approved_page(
        self,
        article_id: str,
        *,
        after: str | None,
        limit: int,
        newest_first: bool,
        site: str | None = None,
    ) -> list[str]:
        try:
            if not await self._check():
                return []
            return await approved_page(
                self.record, article_id, after=after, limit=limit, newest_first=newest_first,
                site=site,
            )  # fmt: skip
        except (SQLAlchemyError, OSError) as exc:
            raise self._unavailable(exc) from exc


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What a moderator searches by; every given criterion must hold."""

    text: str | None = None
    author_id: str | None = None
    article_id: str | None = None
    statuses: tuple[Status, ...] = (Status.APPROVED, Status.REJECTED)
    created_from: int | None = None  # epoch ms, inclusive
    created_to: int | None = None  # epoch ms, exclusive
    #: Newest first; the id of the last comment of the previous page.
    before: str | None = None
    limit: int = 50
    #: Only this site's comments (``None``: every site's).
    site: str | None = None


def _fts5_query(text: str) -> str:
    """Words as an FTS5 query where every word must occur (quoted: no operator injection)."""
    words = [w for w in text.split() if w]
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


async def search(record: Record, q: SearchQuery) -> tuple[list[StoredComment], str | None]:
    """One page of matching comments, newest first, and the cursor of the next page."""
    query = sa.select(*_COLUMNS, comments.c.decision)
    if q.text and q.text.strip():
        if record.dialect == "postgresql":
            vector = sa.func.to_tsvector(PG_TS_CONFIG, comments.c.text)
            query = query.where(vector.bool_op("@@")(sa.func.plainto_tsquery(PG_TS_CONFIG, q.text)))
        else:
            matches = sa.text("SELECT rowid FROM comments_fts WHERE comments_fts MATCH :fts")
            query = query.where(
                comments.c.seq.in_(
                    matches.bindparams(fts=_fts5_query(q.text)).columns(
                        sa.column("rowid", sa.Integer)
                    )
                )
            )
    if q.author_id is not None:
        query = query.where(comments.c.author_id == q.author_id)
    if q.article_id is not None:
        query = query.where(comments.c.article_id == q.article_id)
    if q.site is not None:
        query = query.where(comments.c.site == q.site)
    if q.statuses:
        query = query.where(comments.c.status.in_([s.value for s in q.statuses]))
    if q.created_from is not None:
        query = query.where(comments.c.created_at >= q.created_from)
    if q.created_to is not None:
        query = query.where(comments.c.created_at < q.created_to)
    if q.before is not None:
        query = query.where(comments.c.id < q.before)
    query = query.order_by(comments.c.id.desc()).limit(q.limit + 1)
    async with record.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    page = [_stored(r) for r in rows[: q.limit]]
    more = len(rows) > q.limit
    return page, (page[-1].record.id if more and page else None)


#: Columns of an export, in order (CSV header, JSON Lines keys).
EXPORT_COLUMNS = (
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


async def decisions_between(
    record: Record, start_ms: int, end_ms: int, *, chunk: int = 1000
) -> AsyncIterator[dict[str, Any]]:
    """Every decision made in ``[start_ms, end_ms)``, oldest first, read in chunks."""
    after = ""
    while True:
        query = (
            sa.select(decisions)
            .where(decisions.c.decided_at >= start_ms, decisions.c.decided_at < end_ms)
            .where(decisions.c.event_key > after)
            .order_by(decisions.c.event_key)
            .limit(chunk)
        )
        async with record.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        for row in rows:
            m = row._mapping
            yield {c: m[c] for c in EXPORT_COLUMNS}
        if len(rows) < chunk:
            return
        after = rows[-1].event_key
