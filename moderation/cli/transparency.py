"""DSA transparency commands: ``report`` (the Art. 15 transparency report of a period, as JSON,
CSV or an HTML page) and ``tdb export|send`` (statements of reasons for the Commission's
Transparency Database, Art. 24(5): to a file, or posted to ``MODERATION_TDB_URL``)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import time
from typing import TextIO

from moderation.messages import iso, json_encoder
from moderation.settings import Settings

# The record's modules are imported inside the commands (SQLAlchemy stays out of the others).


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="the DSA transparency report of a period (UTC)")
    p.add_argument("--from", dest="start", required=True, help="YYYY-MM-DD or ISO time")
    p.add_argument("--to", dest="end", required=True, help="exclusive; YYYY-MM-DD or ISO time")
    p.add_argument("--format", choices=("json", "csv", "html"), default="json")
    p.add_argument("--output", "-o", help="file to write (default: standard output)")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("tdb", help="statements of reasons for the DSA Transparency Database")
    tdb = p.add_subparsers(dest="tdb_command", required=True)
    ex = tdb.add_parser("export", help="write a period's statements, one batch (≤100) a line")
    ex.add_argument("--from", dest="start", required=True, help="YYYY-MM-DD or ISO time")
    ex.add_argument("--to", dest="end", required=True, help="exclusive; YYYY-MM-DD or ISO time")
    ex.add_argument("--output", "-o", help="file to write (default: standard output)")
    ex.set_defaults(handler=cmd_tdb_export)
    se = tdb.add_parser("send", help="post the statements not sent yet to MODERATION_TDB_URL")
    se.add_argument(
        "--every", type=float, default=0.0, help="keep running, sending every this many seconds"
    )
    se.add_argument(
        "--rescan",
        action="store_true",
        help="look through the whole record (default: from a day before the newest sent)",
    )
    se.set_defaults(handler=cmd_tdb_send)


def _open(path: str | None) -> TextIO:
    return open(path, "w", encoding="utf-8", newline="") if path else sys.stdout


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    import msgspec

    from moderation.record import open_record
    from moderation.record.transparency import (
        TransparencyReport,
        compute,
        csv_rows,
        parse_period,
    )

    start, end = parse_period(args.start, args.end)

    async def main() -> TransparencyReport:
        record = await open_record(settings)
        try:
            return await compute(record, start, end)
        finally:
            await record.close()

    report = asyncio.run(main())
    out = _open(args.output)
    try:
        if args.format == "json":
            out.write(json_encoder.encode(report).decode() + "\n")
        elif args.format == "csv":
            writer = csv.writer(out)
            writer.writerow(("section", "figure", "value"))
            writer.writerows(csv_rows(report))
        else:
            from moderation.ui.render import ENV

            out.write(
                ENV.get_template("transparency_report.html").render(
                    report=msgspec.to_builtins(report),
                    site="",
                    generated=iso(int(time.time() * 1000)),
                )
            )
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def cmd_tdb_export(settings: Settings, args: argparse.Namespace) -> int:
    from moderation.record import open_record
    from moderation.record.tdb import batches
    from moderation.record.transparency import parse_period

    start, end = parse_period(args.start, args.end)

    async def main(out: TextIO) -> int:
        record = await open_record(settings)
        n = 0
        try:
            async for batch in batches(
                record, start, end, settings.tdb_territorial_scope, settings.tdb_batch_size
            ):
                out.write(json_encoder.encode({"statements": batch}).decode() + "\n")
                n += len(batch)
        finally:
            await record.close()
        return n

    out = _open(args.output)
    try:
        n = asyncio.run(main(out))
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"moderation: exported {n} statements", file=sys.stderr)
    return 0


def cmd_tdb_send(settings: Settings, args: argparse.Namespace) -> int:
    import httpx

    from moderation.errors import ConfigError
    from moderation.record import open_record
    from workers.tdb import send_pending

    if not settings.tdb_url:
        raise ConfigError("MODERATION_TDB_URL is not set: the Transparency Database sender is off")

    async def main() -> int:
        record = await open_record(settings)
        try:
            async with httpx.AsyncClient() as client:
                while True:
                    result = await send_pending(settings, record, client, rescan=args.rescan)
                    print(
                        f"moderation: sent {result.sent} statements in {result.batches} requests"
                        + (f"; stopped: {result.error}" if result.error else ""),
                        file=sys.stderr,
                    )
                    if args.every <= 0:
                        return 1 if result.error else 0
                    await asyncio.sleep(args.every)
        finally:
            await record.close()

    return asyncio.run(main())
