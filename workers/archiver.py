"""The archiver: every transition and audit entry, written to the record (SQL), never lost.

It reads the events stream (``keys.events``: one entry per transition, carrying its decision,
and the typed entries of reader reports and appeals: ``report.filed`` / ``report.decided``,
``appeal.filed`` / ``appeal.decided``) and the audit stream (``keys.audit``) through its own
consumer group (``keys.ARCHIVE_GROUP``, created from the start of each stream), writes each
batch to the database in one transaction (``moderation.record.archive``: idempotent upserts
keyed by comment id and entry id), and only
then acknowledges it. A kill before ``XACK`` leaves the batch pending: the archiver reads its own
pending entries first when it starts again, and any archiver reclaims entries idle longer than
``MODERATION_RECLAIM_IDLE_MS`` (``XAUTOCLAIM``). A database that is down makes the batch wait
and retry; Redis keeps the entries meanwhile.

Submissions emit no event: the archiver reads a comment's submission (the immutable ``doc`` of
its hash) when it archives the comment's first transition. Every accepted comment gets a
transition (its automatic decision), so every comment reaches the record, and the hot path
(``submit.lua``) writes nothing more. A comment still pending lives only in Redis.

After acknowledging, the archiver trims both streams, never past what any group (webhooks
included) has not acknowledged (``store.trim``), keeping the newest ``EVENTS_KEEP`` events and
``MODERATION_AUDIT_MAX_ENTRIES`` audit entries for the live views and the audit page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy.exc import SQLAlchemyError

from moderation.errors import REDIS_UNAVAILABLE
from moderation.keys import ARCHIVE_GROUP, SCORING_GROUP, CommentField, Keys
from moderation.record import (
    AppealRow,
    Archive,
    AuditRow,
    EventRow,
    Record,
    ReportRow,
    retention,
)
from moderation.settings import Settings
from moderation.store import decisions, records
from moderation.store.codec import as_str
from moderation.store.comment_reads import hmget_many
from moderation.store.trim import trim_acknowledged

log = logging.getLogger("moderation.archiver")

#: The one field of a comment's hash the archiver reads (its submission).
_DOC = (CommentField.DOC,)
#: Batches written to the database at once, by dialect (others: one). PostgreSQL writes
#: each in its own server process, so two use two cores; SQLite has one writer, a second
#: would only wait for its lock.
WRITERS = {"postgresql": 2}
#: Newest events kept in the stream once archived (live views replay recent ones).
EVENTS_KEEP = 10_000
#: Seconds between trims.
TRIM_INTERVAL_S = 1.0
#: Seconds between retention passes (each bounded; a backlog is caught up pass by pass).
RETENTION_INTERVAL_S = 10.0


@dataclass(frozen=True, slots=True)
class _Batch:
    """One batch read from the streams: its entry ids (to acknowledge) and its rows."""

    events: list[Any]
    audits: list[Any]
    event_rows: list[EventRow]
    audit_rows: list[AuditRow]
    report_rows: list[ReportRow]
    appeal_rows: list[AppealRow]


class Archiver:
    def __init__(self, settings: Settings, redis: Redis, record: Record, *, name: str) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = Keys(settings.key_prefix)
        self.record = record
        self.archive = Archive(record)
        self.name = name
        self.archived = 0
        self._stop = asyncio.Event()
        # The batches being written to the database while the next one is read (``run``),
        # oldest first; at most ``_writers`` at once.
        self._writing: deque[asyncio.Task[int]] = deque()
        self._writers = WRITERS.get(record.dialect, 1)

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def streams(self) -> tuple[str, str]:
        return self.keys.events, self.keys.audit

    async def ensure_groups(self) -> None:
        for stream in self.streams:
            try:
                # From "0": whatever happened before the archiver first ran is archived too.
                await self.redis.xgroup_create(stream, ARCHIVE_GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def run(self) -> None:
        """Archive until asked to stop; Redis or the database being down only delays."""
        own_pending = True  # first, what this consumer read before a restart
        next_reclaim = next_trim = next_retention = next_beat = 0.0
        beat_file = Path(self.settings.heartbeat_file) if self.settings.heartbeat_file else None
        while not self._stop.is_set():
            try:
                await self.ensure_groups()
                if own_pending:
                    own_pending = await self._step("0") > 0
                else:
                    if time.monotonic() >= next_reclaim:
                        await self._reclaim()
                        next_reclaim = time.monotonic() + self.settings.reclaim_interval_s
                    await self._step_overlapped()
                    if time.monotonic() >= next_trim:
                        await self.trim()
                        next_trim = time.monotonic() + TRIM_INTERVAL_S
                    if time.monotonic() >= next_retention:
                        await self.retain(int(time.time() * 1000))
                        next_retention = time.monotonic() + RETENTION_INTERVAL_S
                if beat_file is not None and time.monotonic() >= next_beat:
                    # Only after a step that succeeded: an archiver that cannot reach Redis, or
                    # cannot write what it read to the database, looks unhealthy.
                    beat_file.touch()
                    next_beat = time.monotonic() + self.settings.heartbeat_interval_s
            except REDIS_UNAVAILABLE as exc:
                # A refused connection to the database is a ConnectionError too (asyncpg
                # raises it unwrapped): either way the batch in hand may be ours, pending.
                log.warning("redis or the database unavailable (%s); retrying", exc)
                own_pending = True
                await self._written(raise_errors=False)
                await self._pause(0.5)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("database unavailable (%s); retrying", exc)
                own_pending = True  # the failed batch is ours, pending: write it first
                await self._written(raise_errors=False)
                await self._pause(1.0)
        await self._written(raise_errors=False)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _step(self, start: str) -> int:
        """Read one batch (``start`` ``>``: new entries; ``0``: this consumer's pending ones),
        archive and acknowledge it; the number of entries handled."""
        reply: Any = await self.redis.xreadgroup(
            ARCHIVE_GROUP,
            self.name,
            {stream: start for stream in self.streams},
            count=self.settings.archiver_batch_size,
            block=None if start == "0" else self.settings.block_ms,
        )
        by_stream = {as_str(name): entries for name, entries in reply or []}
        return await self.handle(
            by_stream.get(self.keys.events, []), by_stream.get(self.keys.audit, [])
        )

    async def _step_overlapped(self) -> None:
        """Read and prepare the next batch of new entries while earlier ones are written to
        the database, then start writing it: reading and decoding (Redis, Python) overlap the
        database's work, and on PostgreSQL two batches are written at once (``WRITERS``). Each
        batch is acknowledged only after its own write, so a failure leaves every batch in
        hand pending, to be archived again (idempotently; the writes commute: statuses move
        only forward, whatever order the transactions commit in)."""
        reply: Any = await self.redis.xreadgroup(
            ARCHIVE_GROUP,
            self.name,
            {stream: ">" for stream in self.streams},
            count=self.settings.archiver_batch_size,
            block=None if self._writing else self.settings.block_ms,
        )
        by_stream = {as_str(name): entries for name, entries in reply or []}
        events = by_stream.get(self.keys.events, [])
        audits = by_stream.get(self.keys.audit, [])
        if not events and not audits:
            await self._written()  # caught up: finish (and acknowledge) what is in hand
            return
        prepared = await self._prepare(events, audits)
        while len(self._writing) >= self._writers:
            await self._writing.popleft()
        self._writing.append(asyncio.create_task(self._write_and_ack(prepared)))

    async def _written(self, *, raise_errors: bool = True) -> None:
        """Wait for every batch being written (the first failure raised unless
        ``raise_errors`` is false: the caller is already recovering, and the batch stays
        pending). All of them are awaited either way."""
        failure: Exception | None = None
        while self._writing:
            try:
                await self._writing.popleft()
            except Exception as exc:
                failure = failure or exc
        if failure is not None and raise_errors:
            raise failure

    async def _reclaim(self) -> None:
        for stream in self.streams:
            reply: Any = await self.redis.xautoclaim(
                stream,
                ARCHIVE_GROUP,
                self.name,
                min_idle_time=self.settings.reclaim_idle_ms,
                start_id="0-0",
                count=self.settings.archiver_batch_size,
            )
            if reply[1]:
                if stream == self.keys.events:
                    await self.handle(reply[1], [])
                else:
                    await self.handle([], reply[1])

    async def handle(self, events: Sequence[Any], audits: Sequence[Any]) -> int:
        """Archive raw stream entries, then acknowledge them (entries trimmed away while pending
        come back without fields: nothing to archive, acknowledge them too)."""
        return await self._write_and_ack(await self._prepare(events, audits))

    async def _prepare(self, events: Sequence[Any], audits: Sequence[Any]) -> _Batch:
        """The rows of a batch of raw entries (reads the comments' submissions from Redis)."""
        typed = [(i, f) for i, f in events if f and (b"type" in f or "type" in f)]
        return _Batch(
            events=[e[0] for e in events],
            audits=[a[0] for a in audits],
            event_rows=await self._event_rows(events),
            audit_rows=[_audit_row(entry_id, fields) for entry_id, fields in audits if fields],
            report_rows=[row for row in (_report_row(i, f) for i, f in typed) if row],
            appeal_rows=[row for row in (_appeal_row(i, f) for i, f in typed) if row],
        )

    async def _write_and_ack(self, batch: _Batch) -> int:
        await self.archive.write(
            batch.event_rows, batch.audit_rows, batch.report_rows, batch.appeal_rows
        )
        pipe = self.redis.pipeline(transaction=False)
        if batch.events:
            pipe.xack(self.keys.events, ARCHIVE_GROUP, *batch.events)
        if batch.audits:
            pipe.xack(self.keys.audit, ARCHIVE_GROUP, *batch.audits)
        await pipe.execute()
        n = len(batch.events) + len(batch.audits)
        self.archived += n
        return n

    async def _event_rows(self, events: Sequence[Any]) -> list[EventRow]:
        decoded = [
            (as_str(entry_id), {as_str(k): v for k, v in fields.items()})
            for entry_id, fields in events
            # Typed entries (``report.decided``, ``appeal.decided``) are no transitions.
            if fields and b"type" not in fields and "type" not in fields
        ]
        ids = list(dict.fromkeys(as_str(f.get("id", b"")) for _, f in decoded))
        # One script call for all the submissions: a single reply, not one per comment.
        found = await hmget_many(self.redis, [self.keys.comment(cid) for cid in ids], _DOC)
        # The record keeps submissions as JSON (Redis holds them compact: store.records).
        docs = {cid: records.as_json(row[0], cid) for cid, row in zip(ids, found, strict=True)}
        # Decisions travel as blobs (store.decisions); the record keeps their JSON.
        await decisions.load_facts(self.redis, self.keys, (f.get("decision") for _, f in decoded))
        rows = []
        for entry_id, f in decoded:
            cid = as_str(f.get("id", b""))
            decision = f.get("decision")
            rows.append(
                EventRow(
                    entry_id=entry_id,
                    comment_id=cid,
                    article_id=as_str(f.get("article", b"")),
                    from_status=as_str(f.get("from", b"")),
                    status=as_str(f.get("to", b"")),
                    actor=as_str(f.get("by", b"")),
                    reason=as_str(f.get("reason", b"")),
                    at=int(as_str(f.get("at", b"0")) or 0),
                    decision=decisions.as_json(decision) or None,
                    doc=docs.get(cid),
                )
            )
        return rows

    async def retain(self, now_ms: int) -> tuple[int, int]:
        """One retention pass (``record.retention``): decided comments past
        ``retention_days`` leave Redis, personal data past ``personal_data_days`` leaves both
        stores. Returns (comments swept, submissions stripped)."""
        swept = await retention.sweep_decided(
            self.record, self.redis, self.keys, self.settings, now_ms=now_ms
        )
        stripped = await retention.strip_personal_data(
            self.record, self.redis, self.keys, self.settings, now_ms=now_ms
        )
        return swept.swept, stripped

    async def trim(self) -> None:
        await trim_acknowledged(self.redis, self.keys.events, keep=EVENTS_KEEP)
        # The comment stream: entries the scorers acknowledged are decided (or dead-lettered).
        # Only once their group exists: a stream no group reads yet is all unread.
        try:
            groups: Any = await self.redis.xinfo_groups(self.keys.stream)
        except ResponseError:
            return  # no stream yet
        if any(as_str(g["name"]) == SCORING_GROUP for g in groups):
            await trim_acknowledged(self.redis, self.keys.stream, keep=0)
        if self.settings.audit_max_entries > 0:
            await trim_acknowledged(
                self.redis, self.keys.audit, keep=self.settings.audit_max_entries
            )


def _audit_row(entry_id: Any, fields: dict[Any, Any]) -> AuditRow:
    f = {as_str(k): v for k, v in fields.items()}
    return AuditRow(
        entry_id=as_str(entry_id),
        doc=bytes(f.get("doc", b"{}")),
        from_status=as_str(f["from"]) if "from" in f else None,
        to_status=as_str(f["to"]) if "to" in f else None,
    )


def _report_row(entry_id: Any, fields: dict[Any, Any] | None) -> ReportRow | None:
    """A ``report.filed`` / ``report.decided`` entry as a row (other entries: ``None``)."""
    if not fields:
        return None
    f = {as_str(k): v for k, v in fields.items()}
    kind = as_str(f.get("type", b""))
    if kind not in ("report.filed", "report.decided"):
        return None
    return ReportRow(
        entry_id=as_str(entry_id),
        kind=kind,
        article_id=as_str(f.get("article", b"")),
        doc=bytes(f.get("report", b"{}")),
        outcome=as_str(f["outcome"]) if "outcome" in f else None,
        automated=as_str(f["automated"]) == "1" if "automated" in f else None,
        by=as_str(f["by"]) if "by" in f else None,
        at=int(as_str(f["at"])) if "at" in f else None,
    )


def _appeal_row(entry_id: Any, fields: dict[Any, Any] | None) -> AppealRow | None:
    """An ``appeal.filed`` / ``appeal.decided`` entry as a row (other entries: ``None``)."""
    if not fields:
        return None
    raw = {as_str(k): v for k, v in fields.items()}
    kind = as_str(raw.get("type", b""))
    if kind not in ("appeal.filed", "appeal.decided"):
        return None
    # Only now decode every value: a transition's entry carries a binary decision.
    f = {k: as_str(v) for k, v in raw.items()}
    at = int(f.get("at") or 0)
    decided = kind == "appeal.decided"
    return AppealRow(
        entry_id=as_str(entry_id),
        kind=kind,
        appeal_id=f.get("appeal", ""),
        comment_id=f.get("id", ""),
        article_id=f.get("article", ""),
        filed_at=int(f.get("filed_at") or 0) if decided else at,
        outcome=f.get("outcome") if decided else None,
        decided_at=at if decided else None,
        decided_by=f.get("by") if decided else None,
    )


async def serve_archiver(settings: Settings, redis: Redis, record: Record, name: str) -> None:
    archiver = Archiver(settings, redis, record, name=name)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, archiver.request_stop)
    await archiver.run()
