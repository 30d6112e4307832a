"""Retention: decided comments by the time of their last decision (the sweep pages through it).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_comments_updated", "comments", ["updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_comments_updated", table_name="comments")
