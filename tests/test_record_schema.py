"""The migrations build exactly the schema the code declares (``moderation.record.schema``), on
PostgreSQL and SQLite: a column or index added to one and not the other is caught here, not by
a production database that lacks it."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from moderation.record import Record
from moderation.record.schema import metadata


def _differences(connection: Any) -> list[Any]:
    found = compare_metadata(MigrationContext.configure(connection), metadata)
    # The full-text machinery (PostgreSQL's expression index, SQLite's FTS5 table and its
    # triggers) is made by the migrations alone: no table of the metadata declares it.
    return [d for d in found if "fts" not in repr(d).lower()]


async def test_the_migrated_database_matches_the_declared_schema(record: Record) -> None:
    async with record.engine.connect() as conn:
        assert await conn.run_sync(_differences) == []
