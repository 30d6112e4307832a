"""Alembic's environment: migrations run on the connection the caller hands over.

``moderation.record.database.upgrade`` opens the connection (async engine, ``run_sync``), takes
the migration lock and puts the connection in ``config.attributes["connection"]``; there is no
``alembic.ini`` and no URL here, so the one place that knows the database is ``database``.
"""

from __future__ import annotations

from alembic import context

from moderation.record.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
