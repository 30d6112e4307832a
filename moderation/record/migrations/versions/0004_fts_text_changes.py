"""SQLite: the full-text index follows a comment's text only when the text changes.

The archiver's upsert sets ``text`` on every transition (the submission as Redis holds it now),
so the ``AFTER UPDATE OF text`` trigger fired for every status change, deleting and re-adding
the same words in the FTS5 index. With ``WHEN old.text IS NOT new.text`` it fires only for an
edit or an erasure, the cases it exists for (measured: a status-only upsert costs half as much).
PostgreSQL's index is an expression index, maintained by the server: nothing to change.

Revision ID: 0004_fts_text
Revises: 0003_reports
"""

from __future__ import annotations

from alembic import op

revision = "0004_fts_text"
down_revision = "0003_reports"
branch_labels = None
depends_on = None

_BODY = (
    "BEGIN "
    "INSERT INTO comments_fts(comments_fts, rowid, text) "
    "VALUES ('delete', old.seq, old.text); "
    "INSERT INTO comments_fts(rowid, text) VALUES (new.seq, new.text); END"
)


def _replace(when: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS comments_fts_update")
    op.execute(f"CREATE TRIGGER comments_fts_update AFTER UPDATE OF text ON comments {when}{_BODY}")


def upgrade() -> None:
    _replace("WHEN old.text IS NOT new.text ")


def downgrade() -> None:
    _replace("")
