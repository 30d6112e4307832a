"""Alembic migrations of the record (run by ``moderation.record.database.upgrade``)."""
