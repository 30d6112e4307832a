"""The record: comments, decisions, audit entries, and full-text search over comment texts.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("article_id", sa.String(255), nullable=False),
        sa.Column("author_id", sa.String(255), nullable=False),
        sa.Column("author_name", sa.Text, nullable=False),
        sa.Column("site", sa.String(255), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
        sa.Column("decision", sa.Text, nullable=True),
        sa.Column("event_key", sa.String(48), nullable=False),
        sa.UniqueConstraint("id", name="uq_comments_id"),
    )
    op.create_index("ix_comments_article_status", "comments", ["article_id", "status", "id"])
    op.create_index("ix_comments_author", "comments", ["author_id", "created_at"])
    op.create_index("ix_comments_status_created", "comments", ["status", "created_at"])
    op.create_index("ix_comments_created", "comments", ["created_at"])

    op.create_table(
        "decisions",
        sa.Column("event_key", sa.String(48), primary_key=True),
        sa.Column("event_id", sa.String(48), nullable=False),
        sa.Column("comment_id", sa.String(64), nullable=False),
        sa.Column("article_id", sa.String(255), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("decided_at", sa.BigInteger, nullable=False),
        sa.Column("decision", sa.Text, nullable=True),
    )
    op.create_index("ix_decisions_comment", "decisions", ["comment_id", "event_key"])
    op.create_index("ix_decisions_decided_at", "decisions", ["decided_at"])

    op.create_table(
        "audit",
        sa.Column("event_key", sa.String(48), primary_key=True),
        sa.Column("event_id", sa.String(48), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_target", "audit", ["target_type", "target", "event_key"])
    op.create_index("ix_audit_actor", "audit", ["actor", "event_key"])
    op.create_index("ix_audit_at", "audit", ["at"])

    # Full-text search over comment texts: a GIN expression index on PostgreSQL (language-
    # neutral 'simple' configuration: newsrooms publish in many languages); on SQLite an FTS5
    # table over ``comments`` kept in step by triggers (its rowid is the comments' rowid).
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_comments_fts ON comments USING gin (to_tsvector('simple', text))"
        )
    else:
        op.execute(
            "CREATE VIRTUAL TABLE comments_fts USING fts5("
            "text, content='comments', content_rowid='seq', tokenize='unicode61')"
        )
        op.execute(
            "CREATE TRIGGER comments_fts_insert AFTER INSERT ON comments BEGIN "
            "INSERT INTO comments_fts(rowid, text) VALUES (new.seq, new.text); END"
        )
        op.execute(
            "CREATE TRIGGER comments_fts_delete AFTER DELETE ON comments BEGIN "
            "INSERT INTO comments_fts(comments_fts, rowid, text) "
            "VALUES ('delete', old.seq, old.text); END"
        )
        op.execute(
            "CREATE TRIGGER comments_fts_update AFTER UPDATE OF text ON comments BEGIN "
            "INSERT INTO comments_fts(comments_fts, rowid, text) "
            "VALUES ('delete', old.seq, old.text); "
            "INSERT INTO comments_fts(rowid, text) VALUES (new.seq, new.text); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for trigger in ("comments_fts_insert", "comments_fts_delete", "comments_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS comments_fts")
    op.drop_table("audit")
    op.drop_table("decisions")
    op.drop_table("comments")
