"""The record: every comment, decision and audit entry, kept in SQL for a newsroom's lifetime.

Redis holds the hot path; this package holds the history. It sits above ``store`` (it reads the
shapes ``store`` and ``messages`` define) and below ``pipeline`` and ``review``. The archiver
(``workers.archiver``) fills it from the events and audit streams through its own consumer
groups; the API reads from it when a comment is no longer (or not only) in Redis.

- ``schema``: the tables (SQLAlchemy Core), one definition for PostgreSQL and SQLite.
- ``database``: the URL, the engine, and schema migrations (Alembic, ``migrations/``).
- ``archive``: idempotent writes (upserts keyed by comment id and stream entry id).
- ``reads``: a comment as ``StoredComment``, an article's approved comments, search, export.
- ``notices``: reader reports (DSA Art. 16) archived from their events, without contact data.
- ``appeals``: appeals (DSA Art. 20) archived from their events, without their texts.
- ``transparency``: the DSA Art. 15 report's figures for a period.
- ``tdb``: statements of reasons in the Transparency Database's format (DSA Art. 24(5)).
"""

from moderation.record.appeals import AppealRow
from moderation.record.archive import Archive, AuditRow, EventRow
from moderation.record.database import Record, open_record, record_url
from moderation.record.notices import ReportRow
from moderation.record.reads import Reader, SearchQuery

__all__ = [
    "AppealRow",
    "Archive",
    "AuditRow",
    "EventRow",
    "Reader",
    "Record",
    "ReportRow",
    "SearchQuery",
    "open_record",
    "record_url",
]
