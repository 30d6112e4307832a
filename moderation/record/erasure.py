"""Erasure in the record: one author's texts and personal data, gone from every table.

Comment rows are kept (ids, article, status, times: counts and exports still add up) with the
text, the author's name and the submission document anonymised
(:func:`moderation.messages.anonymised`); the full-text indexes follow the text (PostgreSQL's
expression index by itself, SQLite's FTS5 table through its update trigger). Decisions and audit
entries hold no text or personal data of the author (decisions carry scores and reasons, audit
entries ids), so they stay as they are. Reader reports on the author's comments keep their
counts but lose the notice's explanation (a notifier may quote the comment in it).

On SQLite the transaction runs with ``secure_delete`` on, so the old values are overwritten in
the database file rather than left in free pages, and the WAL is checkpointed and truncated
afterwards. What PostgreSQL keeps until it recycles it (dead row versions until ``VACUUM``, WAL
segments until archived or recycled) is described in the README.
"""

from __future__ import annotations

import msgspec
import sqlalchemy as sa

from moderation.messages import ERASED, CommentRecord, anonymised, json_encoder
from moderation.record.database import Record
from moderation.record.schema import comments, reports

_record_decoder = msgspec.json.Decoder(CommentRecord)


async def forget_author(record: Record, author_id: str) -> int:
    """Anonymise every archived comment of ``author_id``; the number of rows changed.
    Idempotent: a second run finds only anonymised rows and rewrites them identically."""
    select = sa.select(comments.c.id, comments.c.doc).where(comments.c.author_id == author_id)
    update = (
        comments.update()
        .where(comments.c.id == sa.bindparam("cid"))
        .values(text=ERASED, author_name=ERASED, doc=sa.bindparam("new_doc"))
    )
    async with record.engine.begin() as conn:
        if record.dialect == "sqlite":
            await conn.execute(sa.text("PRAGMA secure_delete = ON"))
        rows = (await conn.execute(select)).all()
        params = []
        for row in rows:
            try:
                doc = json_encoder.encode(anonymised(_record_decoder.decode(row.doc))).decode()
            except msgspec.DecodeError:
                doc = "{}"  # a corrupt document: nothing of it may remain either
            params.append({"cid": row.id, "new_doc": doc})
        if params:
            await conn.execute(update, params)
            await conn.execute(
                reports.update()
                .where(
                    reports.c.comment_id.in_(
                        sa.select(comments.c.id).where(comments.c.author_id == author_id)
                    )
                )
                .where(reports.c.notice_explanation.is_not(None))
                .values(notice_explanation=ERASED)
            )
    if record.dialect == "sqlite":
        async with record.engine.connect() as conn:
            # Rebuild FTS5's segments so deleted tokens leave its shadow tables too.
            optimize = "INSERT INTO comments_fts(comments_fts) VALUES ('optimize')"
            await conn.execute(sa.text(optimize))
            await conn.commit()
            await conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
    return len(params)
