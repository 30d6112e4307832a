"""The audit trail knows the site of an author's or an article's entry.

Author and article ids are a site's own: two sites may each have an author ``sam``. Redis keeps
their audit index lists apart (``Keys.audit_index`` is site-scoped for them); the record now
keeps the site beside each entry (``""`` for targets that are not a site's: comments, policy,
keys), so the trail of one site's author read beyond Redis's window is that author's alone.

Revision ID: 0005_audit_site
Revises: 0004_fts_text
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_audit_site"
down_revision = "0004_fts_text"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("site", sa.String(64), nullable=False, server_default=""))
        batch.drop_index("ix_audit_target")
        batch.create_index("ix_audit_target", ["target_type", "site", "target", "event_key"])


def downgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.drop_index("ix_audit_target")
        batch.create_index("ix_audit_target", ["target_type", "target", "event_key"])
        batch.drop_column("site")
