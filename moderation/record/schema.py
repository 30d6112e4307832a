"""The record's tables, for PostgreSQL and SQLite alike (SQLAlchemy Core).

Times are epoch milliseconds (``BIGINT``), as everywhere else in the service, so a row and its
Redis original compare equal. Documents (the submission, a decision, an audit entry) are kept
as the exact JSON the service wrote, so a comment read from here renders byte for byte as one
read from Redis; the columns beside them are copies for querying and indexing.

Stream entry ids (``1700000000000-0``) are stored as ``event_key``: both halves zero-padded, so
text order is stream order and "is this event newer" is a string comparison in SQL.

The migrations in ``migrations/versions`` create exactly these tables (a test compares them).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: An auto-incrementing integer key: ``INTEGER PRIMARY KEY`` on SQLite (the rowid itself, which
#: ``VACUUM`` never renumbers, so the FTS5 index can point at it), ``BIGINT`` identity elsewhere.
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: Every comment the archiver has seen, with its current status and decision.
comments = sa.Table(
    "comments",
    metadata,
    #: Row number: the full-text index's reference to the row.
    sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(64), nullable=False),
    sa.Column("article_id", sa.String(255), nullable=False),
    sa.Column("author_id", sa.String(255), nullable=False),
    sa.Column("author_name", sa.Text, nullable=False),
    sa.Column("site", sa.String(255), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    #: The submission as accepted (``CommentRecord`` JSON), verbatim.
    sa.Column("doc", sa.Text, nullable=False),
    #: The decision in force (``Decision`` JSON).
    sa.Column("decision", sa.Text, nullable=True),
    #: ``event_key`` of the transition that set ``status``: an older event never overwrites.
    sa.Column("event_key", sa.String(48), nullable=False),
    sa.UniqueConstraint("id", name="uq_comments_id"),
    sa.Index("ix_comments_article_status", "article_id", "status", "id"),
    sa.Index("ix_comments_author", "author_id", "created_at"),
    sa.Index("ix_comments_status_created", "status", "created_at"),
    sa.Index("ix_comments_created", "created_at"),
    #: The retention sweep's order (migration 0002).
    sa.Index("ix_comments_updated", "updated_at", "id"),
)

#: Every transition (automatic, system or human), keyed by its events-stream entry.
decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("event_key", sa.String(48), primary_key=True),
    sa.Column("event_id", sa.String(48), nullable=False),
    sa.Column("comment_id", sa.String(64), nullable=False),
    sa.Column("article_id", sa.String(255), nullable=False),
    sa.Column("from_status", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    #: ``auto``, ``system``, ``moderator:<name>``, ``admin:<name>``.
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("reason", sa.String(255), nullable=False),
    sa.Column("decided_at", sa.BigInteger, nullable=False),
    sa.Column("decision", sa.Text, nullable=True),
    sa.Index("ix_decisions_comment", "comment_id", "event_key"),
    sa.Index("ix_decisions_decided_at", "decided_at"),
)

#: Every moderator and admin action, keyed by its audit-stream entry.
audit = sa.Table(
    "audit",
    metadata,
    sa.Column("event_key", sa.String(48), primary_key=True),
    sa.Column("event_id", sa.String(48), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target_type", sa.String(32), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    #: The site of an author's or an article's entry (their ids are a site's own); "" for
    #: every other target.
    sa.Column("site", sa.String(64), nullable=False, server_default=""),
    #: The entry as written (``AuditEntry`` JSON), with the statuses a transition observed.
    sa.Column("doc", sa.Text, nullable=False),
    sa.Index("ix_audit_target", "target_type", "site", "target", "event_key"),
    sa.Index("ix_audit_actor", "actor", "event_key"),
    sa.Index("ix_audit_at", "at"),
)

#: Every reader report (DSA Art. 16 notice), from its ``report.filed`` event, with its outcome
#: from ``report.decided``. The notifier is kept only as the keyed hash that stood for them in
#: Redis; an illegal-content notice's name and e-mail are never written here (the explanation
#: and the comment's URL are: they are about the comment, and the notice's record needs them).
reports = sa.Table(
    "reports",
    metadata,
    sa.Column("receipt", sa.String(64), primary_key=True),
    sa.Column("comment_id", sa.String(64), nullable=False),
    sa.Column("article_id", sa.String(255), nullable=False),
    #: ``offensive``, ``harassment``, ``spam``, ``misinformation``, ``illegal``.
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("filed_at", sa.BigInteger, nullable=False),
    sa.Column("reporter", sa.String(64), nullable=False),
    sa.Column("notice_url", sa.Text, nullable=True),
    sa.Column("notice_explanation", sa.Text, nullable=True),
    #: ``kept`` or ``removed``; NULL while the report is open.
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("decided_at", sa.BigInteger, nullable=True),
    sa.Column("decided_by", sa.String(255), nullable=True),
    sa.Column("automated", sa.Boolean, nullable=True),
    sa.Index("ix_reports_filed_at", "filed_at"),
    sa.Index("ix_reports_comment", "comment_id"),
)

#: Every appeal (DSA Art. 20), from its ``appeal.filed`` event, with its outcome from
#: ``appeal.decided`` (which alone makes the row too: it carries the filing time). Neither the
#: author's text nor the moderator's answer is kept here (they stay with the appeal in Redis).
appeals = sa.Table(
    "appeals",
    metadata,
    sa.Column("appeal_id", sa.String(64), primary_key=True),
    sa.Column("comment_id", sa.String(64), nullable=False),
    sa.Column("article_id", sa.String(255), nullable=False),
    sa.Column("filed_at", sa.BigInteger, nullable=False),
    #: ``upheld`` or ``reversed``; NULL while open.
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("decided_at", sa.BigInteger, nullable=True),
    sa.Column("decided_by", sa.String(255), nullable=True),
    sa.Index("ix_appeals_filed_at", "filed_at"),
    sa.Index("ix_appeals_decided_at", "decided_at"),
)

#: Statements of reasons sent to the Commission's Transparency Database (DSA Art. 24(5)), one
#: row per decision (``decisions.event_key``): what was sent is never sent again.
tdb_sent = sa.Table(
    "tdb_sent",
    metadata,
    sa.Column("event_key", sa.String(48), primary_key=True),
    #: The platform unique identifier the statement was sent under.
    sa.Column("puid", sa.String(128), nullable=False),
    sa.Column("batch", sa.String(64), nullable=False),
    sa.Column("sent_at", sa.BigInteger, nullable=False),
    sa.Index("ix_tdb_sent_batch", "batch"),
)


def event_key(entry_id: str) -> str:
    """A stream entry id as a key whose text order is the stream's order."""
    ms, _, seq = entry_id.partition("-")
    return f"{int(ms):020d}-{int(seq or 0):020d}"
