"""The record's commands: ``db upgrade`` (schema migrations), ``db status``, ``db dump`` and
``db restore`` (backups), and ``export`` (decisions of a date range as JSON Lines or CSV, for
the newsroom's own analysis)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from moderation.errors import ValidationFailed
from moderation.messages import iso, json_encoder
from moderation.settings import Settings

# The record's modules (SQLAlchemy, Alembic) are imported inside the commands: every other
# command starts without them.


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="the record's database: schema migrations")
    db = p.add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="bring the schema up to date (idempotent)")
    up.add_argument("--revision", default="head")
    up.set_defaults(handler=cmd_upgrade)
    st = db.add_parser("status", help="the schema revision of the database and of this code")
    st.set_defaults(handler=cmd_status)
    dump = db.add_parser(
        "dump", help="copy the record to a file (pg_dump custom format, or an SQLite file)"
    )
    dump.add_argument("file")
    dump.set_defaults(handler=cmd_dump)
    restore = db.add_parser("restore", help="fill a new, empty record from a `db dump` file")
    restore.add_argument("file")
    restore.set_defaults(handler=cmd_restore)

    p = sub.add_parser("export", help="write the decisions of a date range (UTC)")
    p.add_argument("--from", dest="start", required=True, help="YYYY-MM-DD or ISO time")
    p.add_argument("--to", dest="end", required=True, help="exclusive; YYYY-MM-DD or ISO time")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    p.add_argument("--output", "-o", help="file to write (default: standard output)")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser(
        "forget-author",
        help="erase one author's texts and personal data from Redis and the record (audited)",
    )
    p.add_argument("author_id")
    p.set_defaults(handler=cmd_forget_author)


def cmd_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from moderation.record import open_record

    async def main() -> None:
        record = await open_record(settings, migrate=False)
        try:
            await record.upgrade(args.revision)
            print(f"moderation: record at revision {await record.revision()}")
        finally:
            await record.close()

    asyncio.run(main())
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    from moderation.record import open_record
    from moderation.record.database import head

    async def main() -> str | None:
        record = await open_record(settings, migrate=False)
        try:
            return await record.revision()
        finally:
            await record.close()

    current = asyncio.run(main())
    print(f"database: {current or 'empty'}  code: {head()}")
    return 0 if current == head() else 1


def cmd_dump(settings: Settings, args: argparse.Namespace) -> int:
    from moderation.record import open_record
    from moderation.record.backup import dump

    async def main() -> None:
        record = await open_record(settings, migrate=False)
        try:
            await dump(record, Path(args.file))
        finally:
            await record.close()

    asyncio.run(main())
    print(f"moderation: record copied to {args.file}", file=sys.stderr)
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    from moderation.record import open_record
    from moderation.record.backup import restore

    async def main() -> str | None:
        record = await open_record(settings, migrate=False)
        try:
            await restore(record, Path(args.file))
            await record.upgrade()  # a dump of older code's schema is brought up to date
            return await record.revision()
        finally:
            await record.close()

    revision = asyncio.run(main())
    print(f"moderation: record restored from {args.file} (revision {revision})", file=sys.stderr)
    return 0


def parse_time(value: str, field: str) -> int:
    """``YYYY-MM-DD`` or an ISO-8601 time (UTC unless it says otherwise) → epoch ms."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            f"{field} must be a date (YYYY-MM-DD) or an ISO-8601 time, not {value!r}", field=field
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    start, end = parse_time(args.start, "from"), parse_time(args.end, "to")
    if end <= start:
        raise ValidationFailed("--to must be after --from", field="to")
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            n = asyncio.run(export(settings, start, end, args.format, out))
    else:
        n = asyncio.run(export(settings, start, end, args.format, sys.stdout))
    print(f"moderation: exported {n} decisions", file=sys.stderr)
    return 0


async def export(settings: Settings, start: int, end: int, fmt: str, out: TextIO) -> int:
    from moderation.record import open_record
    from moderation.record.reads import EXPORT_COLUMNS, decisions_between

    record = await open_record(settings)
    n = 0
    try:
        writer = csv.writer(out) if fmt == "csv" else None
        if writer is not None:
            writer.writerow(EXPORT_COLUMNS)
        async for row in decisions_between(record, start, end):
            row["decided_at"] = iso(row["decided_at"])
            if writer is not None:
                writer.writerow([row[c] if row[c] is not None else "" for c in EXPORT_COLUMNS])
            else:
                out.write(json_encoder.encode(row).decode() + "\n")
            n += 1
    finally:
        await record.close()
    return n


def cmd_forget_author(settings: Settings, args: argparse.Namespace) -> int:
    import getpass
    import socket

    from moderation.keys import Keys
    from moderation.messages import Role
    from moderation.record import open_record
    from moderation.review.authors import check_id
    from moderation.review.context import Review
    from moderation.review.erasure import forget_author
    from moderation.store.audit import Actor
    from moderation.store.client import api_client
    from moderation.store.comments import Store

    author_id = check_id(args.author_id, settings.max_id_chars)
    try:
        who = f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        who = "operator"

    async def main() -> dict[str, object]:
        redis = api_client(settings.with_overrides(redis_timeout_s=5.0))
        record = await open_record(settings)
        try:
            keys = Keys(settings.key_prefix)
            review = Review(redis, keys, settings, Store(redis, keys))
            actor = Actor(who, Role.ADMIN, via="cli")
            return (await forget_author(review, record, author_id, actor)).view()
        finally:
            await record.close()
            await redis.aclose()

    print(json_encoder.encode(asyncio.run(main())).decode())
    return 0
