"""``moderation stats``: the ``/v1/stats`` figures in a terminal, optionally refreshing."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from redis.exceptions import RedisError

from moderation.keys import Keys
from moderation.ops.stats import read_state, summarize
from moderation.settings import Settings
from moderation.store.client import api_client


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("stats", help="queue and decision statistics")
    p.add_argument(
        "--watch",
        type=float,
        nargs="?",
        const=2.0,
        metavar="SECONDS",
        help="refresh every SECONDS (default 2)",
    )
    p.add_argument("--json", action="store_true", help="the /v1/stats document as JSON")
    p.set_defaults(handler=cmd_stats)


def cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    return run(settings, watch=args.watch, as_json=args.json)


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}{unit}"
    return f"{value:,}{unit}"


def render_text(doc: dict[str, Any]) -> str:
    q, t, d, h = doc["queue"], doc["throughput"], doc["decisions"], doc["held"]
    m, a = doc["moderators"], doc["auto_time_to_decision_ms"]
    rows = [
        ("Queue", ""),
        ("  stream length", _fmt(q["stream_length"])),
        ("  undecided", _fmt(q["undecided"])),
        ("  not yet read / read, unacked", f"{_fmt(q['undelivered'])} / {_fmt(q['pending'])}"),
        ("  oldest undecided", _fmt(q["oldest_undecided_age_s"], " s")),
        ("Throughput (per minute: 1m / 5m / 60m)", ""),
        ("  accepted", " / ".join(_fmt(v) for v in t["accepted_per_minute"].values())),
        ("  decided automatically", " / ".join(_fmt(v) for v in t["decided_per_minute"].values())),
        (
            "  decided by moderators",
            " / ".join(_fmt(v) for v in t["moderator_decisions_per_minute"].values()),
        ),
        ("Decisions (automatic, all time)", ""),
        (
            "  approved / held / rejected",
            " / ".join(_fmt(d["auto"][s]) for s in ("approved", "held", "rejected")),
        ),
        (
            "  hold rate (last hour / all time)",
            f"{_pct(doc['hold_rate']['last_hour'])} / {_pct(doc['hold_rate']['all_time'])}",
        ),
        ("  why (held or rejected)", _reasons(d["by_reason"])),
        ("  auto time-to-decision p50 / p99", f"{_fmt(a['p50'], ' ms')} / {_fmt(a['p99'], ' ms')}"),
        ("Moderation", ""),
        ("  held backlog", _fmt(h["backlog"])),
        ("  oldest held", _fmt(h["oldest_age_s"], " s")),
        ("  actions in the last hour", _fmt(m["actions_last_hour"])),
        (
            "  approved / rejected (all time)",
            f"{_fmt(d['moderator']['approved'])} / {_fmt(d['moderator']['rejected'])}",
        ),
        ("  reasons given", _reasons(d.get("moderator_by_reason", {}))),
        (
            "  human time-to-decision p50 / p90",
            f"{_fmt(m['time_to_decision_s']['p50'], ' s')} / "
            f"{_fmt(m['time_to_decision_s']['p90'], ' s')}",
        ),
        ("Problems", ""),
        ("  dead letters", _fmt(doc["dead_letters"])),
        (
            "  webhook backlog / failures",
            f"{_fmt(doc['webhooks']['backlog'])} / {_fmt(doc['webhooks']['failures'])}",
        ),
        (
            "  rate-limited (last hour / total)",
            f"{_fmt(doc['rate_limited']['last_hour'])} / {_fmt(doc['rate_limited']['total'])}",
        ),
        ("  degraded", ", ".join(doc["degraded"]) or "none"),
    ]
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{label:<{width}}{value}" for label, value in rows]
    alerts = doc.get("alerts", [])
    if alerts:
        lines.insert(0, "")
        for alert in reversed(alerts):
            lines.insert(0, f"!! {alert['message']}")
    lines.append("")
    lines.append(
        f"{'Worker':<28}{'model':<12}{'device':<8}{'batch':>6}{'processed':>11}{'beat':>8}  state"
    )
    for w in doc["workers"]:
        state = "STALE" if w["stale"] else ("degraded" if w["degraded"] else "ok")
        lines.append(
            f"{w['id'][:27]:<28}{(w['model'] or '')[:11]:<12}{(w['device'] or '')[:7]:<8}"
            f"{w['batch_size']:>6}{w['processed']:>11,}{w['last_heartbeat_age_s']:>7.1f}s  {state}"
        )
    if not doc["workers"]:
        lines.append("(no workers)")
    return "\n".join(lines)


def _reasons(counts: dict[str, int]) -> str:
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:5]
    return ", ".join(f"{k} {v:,}" for k, v in top) or "–"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def run(settings: Settings, *, watch: float | None, as_json: bool) -> int:
    async def once(redis: Any) -> dict[str, Any]:
        return summarize(await read_state(redis, Keys(settings.key_prefix), settings), settings)

    async def main() -> int:
        redis = api_client(settings.with_overrides(redis_timeout_s=5.0))
        try:
            while True:
                try:
                    doc = await once(redis)
                    out = json.dumps(doc, indent=2) if as_json else render_text(doc)
                except (RedisError, OSError) as exc:
                    if not watch:
                        raise
                    # Watching through an outage: say so, keep trying.
                    out = f"!! Redis unreachable ({exc}); retrying every {watch:g}s"
                if watch:
                    sys.stdout.write("\x1b[H\x1b[2J")  # home + clear: a refreshing table
                    stamp = time.strftime("%H:%M:%S")
                    out = f"moderation stats — {stamp} (every {watch:g}s, Ctrl-C to stop)\n\n{out}"
                print(out, flush=True)
                if not watch:
                    return 0
                await asyncio.sleep(watch)
        finally:
            await redis.aclose()

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 0
    except (RedisError, OSError) as exc:
        print(
            f"moderation stats: Redis at {settings.resolved_redis_url()} is unreachable ({exc})",
            file=sys.stderr,
        )
        return 1
