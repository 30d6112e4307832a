"""The archive's bulk writes: a batch larger than one SQLite statement takes, each comment seen
twice in it (newest first), and the whole batch delivered again — against a real PostgreSQL
database and a real SQLite file. Every row lands once, with its newest status, and its text is
searchable; a later status change leaves the full-text index as it is, an edit moves it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from moderation.messages import Author, CommentRecord, json_encoder
from moderation.record import Archive, EventRow, Record
from moderation.record.schema import comments, decisions

#: More comments than one SQLite statement carries (1,000 rows at most), so the rows span chunks.
N = 2_100
T0 = 1_767_225_600_000


def _doc(i: int, text: str = "") -> bytes:
    return json_encoder.encode(
        CommentRecord(
            id=f"c{i}",
            article_id=f"a{i % 7}",
            text=text or f"comment number{i} about the harbour",
            author=Author(id=f"u{i % 13}", name=f"Reader {i % 13}"),
            created_at=T0 + i,
            site="test",
        )
    )


def _event(i: int, seq: int, status: str, text: str = "") -> EventRow:
    return EventRow(
        entry_id=f"{T0 + i}-{seq}",
        comment_id=f"c{i}",
        article_id=f"a{i % 7}",
        from_status="pending" if seq == 0 else "approved",
        status=status,
        actor="auto" if seq == 0 else "moderator:m",
        reason="",
        at=T0 + i + seq,
        decision=None,
        doc=_doc(i, text),
    )


async def test_a_large_batch_with_repeats_lands_each_row_once_with_its_newest_status(
    record: Record,
) -> None:
    # The newer event (seq 1) first: the older one must not roll the comment back.
    batch = [_event(i, 1, "rejected") for i in range(N)] + [
        _event(i, 0, "approved") for i in range(N)
    ]
    archive = Archive(record)
    await archive.write(batch, [])
    await archive.write(batch, [])  # delivered again (a kill before XACK)
    async with record.engine.connect() as conn:
        rows = (await conn.execute(sa.select(comments.c.id, comments.c.status))).all()
        assert len(rows) == N
        assert {status for _, status in rows} == {"rejected"}
        assert (await conn.scalar(sa.select(sa.func.count()).select_from(decisions))) == 2 * N
        assert await _matches(record, conn, "number2099") == 1

    # A status change alone, then an edit: the index follows the text, and only the text.
    await archive.write([_event(i, 2, "approved") for i in range(N)], [])
    await archive.write([_event(5, 3, "approved", text="a lighthouse instead")], [])
    async with record.engine.connect() as conn:
        assert await _matches(record, conn, "number2099") == 1
        assert await _matches(record, conn, "harbour") == N - 1
        assert await _matches(record, conn, "lighthouse") == 1
        assert await _matches(record, conn, "number5") == 0


async def _matches(record: Record, conn: AsyncConnection, word: str) -> int:
    """Comments whose text the full-text index finds ``word`` in."""
    if record.dialect == "sqlite":
        query = sa.text("SELECT count(*) FROM comments_fts WHERE comments_fts MATCH :w")
        return int(await conn.scalar(query, {"w": word}) or 0)
    vector = sa.func.to_tsvector("simple", comments.c.text)
    found = await conn.scalar(
        sa.select(sa.func.count())
        .select_from(comments)
        .where(vector.bool_op("@@")(sa.func.plainto_tsquery("simple", word)))
    )
    return int(found or 0)
