"""Reader reports (DSA Art. 16 notices), appeals (Art. 20) and the statements sent to the
Transparency Database (Art. 24(5)).

Revision ID: 0003_reports
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_reports"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("receipt", sa.String(64), primary_key=True),
        sa.Column("comment_id", sa.String(64), nullable=False),
        sa.Column("article_id", sa.String(255), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("filed_at", sa.BigInteger, nullable=False),
        sa.Column("reporter", sa.String(64), nullable=False),
        sa.Column("notice_url", sa.Text, nullable=True),
        sa.Column("notice_explanation", sa.Text, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("decided_at", sa.BigInteger, nullable=True),
        sa.Column("decided_by", sa.String(255), nullable=True),
        sa.Column("automated", sa.Boolean, nullable=True),
    )
    op.create_index("ix_reports_filed_at", "reports", ["filed_at"])
    op.create_index("ix_reports_comment", "reports", ["comment_id"])

    op.create_table(
        "appeals",
        sa.Column("appeal_id", sa.String(64), primary_key=True),
        sa.Column("comment_id", sa.String(64), nullable=False),
        sa.Column("article_id", sa.String(255), nullable=False),
        sa.Column("filed_at", sa.BigInteger, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("decided_at", sa.BigInteger, nullable=True),
        sa.Column("decided_by", sa.String(255), nullable=True),
    )
    op.create_index("ix_appeals_filed_at", "appeals", ["filed_at"])
    op.create_index("ix_appeals_decided_at", "appeals", ["decided_at"])

    op.create_table(
        "tdb_sent",
        sa.Column("event_key", sa.String(48), primary_key=True),
        sa.Column("puid", sa.String(128), nullable=False),
        sa.Column("batch", sa.String(64), nullable=False),
        sa.Column("sent_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_tdb_sent_batch", "tdb_sent", ["batch"])


def downgrade() -> None:
    op.drop_table("tdb_sent")
    op.drop_table("appeals")
    op.drop_table("reports")
