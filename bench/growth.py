"""Cost growth: do ingest, counts and the moderator's queue get slower as comments pile up?

Starts a redis-server (AOF always), the API and one worker process (``bench/soak.py``'s
service), then two phases:

1. **stored comments** over ``--articles`` (10,000) articles: the store is filled through the API
   (every comment decided by the worker) up to each size of ``--sizes`` (10k and 100k by
   default; add 1,000,000 for the long run), and at each size the script measures
   - *ingest*: ``--ingest`` more comments posted by 64 connections, req/s as the client sees it
     (the median of ``--ingest-runs`` such bursts, each drained before the next);
   - *counts*: ``GET /v1/counts`` for 50 articles, p50/p99 over ``--requests`` requests;
   - *queue*: ``GET /v1/moderation/queue?limit=50`` (a moderator key; 50 comments are held in
     each store first, so the page is full at every size), p50/p99;

   the reads are timed after each burst is drained, and each figure is the median of the
   ``--ingest-runs`` rounds' (one round's reads last under a second: a noisy neighbour could
   move a single round's p50 by 40%);
2. **held comments**: the site is set to pre-moderate everything, and the held queue is grown to
   each size of ``--held`` (1k, 10k, 50k); at each size ``GET /v1/moderation/queue/counts``
   and ``GET /v1/moderation/queue?limit=50`` are timed, p50/p99, in rounds alternating with
   the same reads on a baseline store holding the smallest size.

Each phase runs a second service beside the first, its **baseline**: a store filled to
the smallest size only. At each size the rounds alternate between the two (on one, then on the
other: a burst and the reads in the stored phase, the reads in the held phase), so each size
is compared with a small store measured in the same
minutes; a VM's speed drifts by more than the goal over a run (one run's reads at 100,000
stored were twice as slow as the next run's, on the same code). The worsening it prints is each
figure's ratio to the baseline at the largest size, and beside it the same ratio at the
smallest size, where the two stores hold about as many comments (the noise floor). The stored
phase's baseline grows by its own rounds' bursts (15,000 comments a size by default): against
1,000,000 that is nothing, against 100,000 it understates the growth a little.

It prints one table per phase with each figure's change from the smallest size (the issue's
goal: none degrades by more than 15% from 10k to 1M; held counts O(1) in the queue's size),
the process RSS of the API and the worker at each size, and the command. Figures are from a
machine whose cores the load generator shares; compare sizes within one run.

    python -m bench.growth                                   # 10k, 100k; held 1k, 10k, 50k
    python -m bench.growth --sizes 10000,100000,1000000      # the long run
    python -m bench.growth --sizes 500,2000 --held 100,400 --ingest 300 --requests 50  # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shlex
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from redis.asyncio import Redis as AsyncRedis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.httpclient import Connection  # noqa: E402
from bench.load import article_name, post_all, wait_until  # noqa: E402
from bench.soak import (  # noqa: E402
    Service,
    add_setting_option,
    percentile,
    rss_bytes,
    settings_given,
    settled,
    started_service,
)
from moderation.evaluation.corpus import news_prose  # noqa: E402
from moderation.keys import Keys  # noqa: E402
from moderation.messages import Role  # noqa: E402
from moderation.store.apikeys import create_key  # noqa: E402

K = Keys()
T = TypeVar("T")
#: The issue's bound on degradation from the smallest to the largest size.
GOAL_PCT = 15.0
#: Comments the moderator's queue page lists (``?limit=``), held in each store before the
#: stored phase's first size.
PAGE = 50


@dataclass
class Timing:
    p50_ms: float
    p99_ms: float
    #: Answers other than 200 (a 503 when Redis stalled past ``redis_timeout_s``, say).
    errors: int = 0


@dataclass
class Baseline:
    """The small store's figures, from the rounds alternating with a stage's."""

    stored: int
    ingest_per_s: float
    counts: Timing
    queue: Timing


@dataclass
class Stage:
    size: int
    ingest_per_s: float
    counts: Timing
    queue: Timing
    api_rss_mb: float
    worker_rss_mb: float
    #: Comments in the held queue at this size (the queue page lists up to 50 of them: its
    #: time follows how full the page is, so compare sizes whose pages hold as many).
    held: int = 0
    #: The same figures on the baseline store, measured in rounds alternating with these.
    baseline: Baseline | None = None


@dataclass
class HeldBaseline:
    """The baseline's held-queue reads, from the rounds alternating with a stage's."""

    held: int
    queue_counts: Timing
    queue: Timing


@dataclass
class HeldStage:
    held: int
    queue_counts: Timing
    queue: Timing
    baseline: HeldBaseline | None = None


async def timed_gets(base: str, path: str, headers: dict[str, str], n: int) -> Timing:
    """``n`` sequential GETs on one keep-alive connection (a moderator polling)."""
    conn = Connection(base)
    took: list[float] = []
    errors = 0
    try:
        for _ in range(n):
            started = time.perf_counter()
            reply = await conn.request("GET", path, headers=headers)
            took.append(time.perf_counter() - started)
            if reply.status != 200:
                errors += 1
                print(f"  GET {path[:60]}: {reply.status} {reply.body[:120]!r}", flush=True)
    finally:
        await conn.close()
    return Timing(
        round(percentile(took, 0.5) * 1000, 2), round(percentile(took, 0.99) * 1000, 2), errors
    )


def median_timing(rounds: list[Timing]) -> Timing:
    """The median of each percentile over the rounds, and their errors summed."""
    return Timing(
        round(statistics.median(t.p50_ms for t in rounds), 2),
        round(statistics.median(t.p99_ms for t in rounds), 2),
        sum(t.errors for t in rounds),
    )


def counts_path(articles: int) -> str:
    """50 articles spread over all of them (fewer when there are fewer)."""
    step = max(1, articles // 50)
    chosen = range(0, articles, step)[:50]
    return "/v1/counts?" + "&".join(f"article={article_name(a)}" for a in chosen)


async def moderator_key(service: Service) -> str:
    kwargs = service.redis.connection_pool.connection_kwargs
    client = AsyncRedis(host=kwargs["host"], port=kwargs["port"], db=kwargs.get("db", 0))
    try:
        return await create_key(client, K, "growth-moderator", Role.MODERATOR)
    finally:
        await client.aclose()


class Posted:
    """How many comments this run has posted (each call posts new ones)."""

    n = 0


def distinct_comment(i: int, rng: random.Random, articles: int) -> dict[str, Any]:
    """A civil news-length comment of its own (:func:`news_prose`: no two are near duplicates,
    and they overlap as little as real comments do, so the near-duplicate index finds as many
    chance candidates as in real traffic; words drawn from a few hundred gave six times as
    many, and they grew with the store)."""
    text = news_prose(rng)
    return {
        "article_id": article_name(i % articles),
        "text": text,
        "author": {"id": f"growth-{i}", "name": "Bench Reader"},
    }


async def post(service: Service, n: int, articles: int) -> None:
    await post_all(
        service.base, service.key, n, 64, articles, 0.0, start=Posted.n, make=distinct_comment
    )
    Posted.n += n


async def fill(service: Service, n: int, articles: int) -> None:
    """``n`` more comments through the API, then wait until the worker has decided them all and
    no AOF rewrite is running (one the fill set off must not land in the next measurement)."""
    if n > 0:
        await post(service, n, articles)
    await asyncio.to_thread(wait_until, lambda: settled(service.redis), 3600, "the queue to drain")


@dataclass(frozen=True)
class Side:
    """One of the two stores a phase compares, with the moderator key its reads use."""

    service: Service
    moderator: dict[str, str]


async def side_of(service: Service) -> Side:
    return Side(service, {"Authorization": f"Bearer {await moderator_key(service)}"})


def premoderate(service: Service, on: bool) -> None:
    """Hold every comment from now on (``on``), or decide them as the policy says again."""
    if on:
        service.redis.hset(K.policy, "premoderate", "1")
    else:
        service.redis.hdel(K.policy, "premoderate")


async def queue_page(args: argparse.Namespace, side: Side) -> Timing:
    """The moderator's queue page, a full one (:data:`PAGE` items), timed."""
    path = f"/v1/moderation/queue?limit={PAGE}"
    return await timed_gets(side.service.base, path, side.moderator, args.requests)


@dataclass
class Round:
    """One round on one store: an ingest burst, drained, then the reads."""

    ingest_per_s: float
    counts: Timing
    queue: Timing


async def one_round(args: argparse.Namespace, side: Side) -> Round:
    service = side.service
    site = {"Authorization": f"Bearer {service.key}"}
    posted_at = time.perf_counter()
    await post(service, args.ingest, args.articles)
    rate = args.ingest / (time.perf_counter() - posted_at)
    await fill(service, 0, args.articles)
    counts = await timed_gets(service.base, counts_path(args.articles), site, args.requests)
    return Round(rate, counts, await queue_page(args, side))


def summed(rounds: list[Round]) -> tuple[float, Timing, Timing]:
    """The rounds' median ingest rate and read timings."""
    rate = round(statistics.median(r.ingest_per_s for r in rounds), 1)
    return rate, median_timing([r.counts for r in rounds]), median_timing([r.queue for r in rounds])


def show(label: str, rounds: list[Round]) -> None:
    rates = " / ".join(f"{r.ingest_per_s:,.0f}" for r in rounds)
    print(f"  {label} ingest bursts: {rates} req/s", flush=True)
    print(f"  {label} counts p50s: {' / '.join(str(r.counts.p50_ms) for r in rounds)} ms")
    print(f"  {label} queue p50s: {' / '.join(str(r.queue.p50_ms) for r in rounds)} ms")


async def stored_phase(args: argparse.Namespace, grown: Side, base: Side) -> list[Stage]:
    """Grow ``grown``'s store through the sizes; at each, rounds alternate between it and
    ``base``'s, a second store filled to the smallest size only (it grows by its rounds'
    bursts alone): the figures of both come from the same minutes of a machine whose speed
    drifts (on a noisy VM, one run's reads at 100,000 came out twice as slow as the run
    before's, on the same code)."""
    service, baseline = grown.service, base.service
    stages: list[Stage] = []
    # A full queue page in both stores from the start: the page's time follows how many items
    # it lists, and a comment held by chance as a store grows (one in 100,000 here) made an
    # empty page one of one item, three times as slow.
    for store in (service, baseline):
        premoderate(store, True)
        await fill(store, PAGE, args.articles)
        premoderate(store, False)
    stored = PAGE
    await fill(baseline, args.sizes[0] - PAGE, args.articles)
    base_stored = args.sizes[0]
    for size in args.sizes:
        started = time.perf_counter()
        await fill(service, size - stored, args.articles)
        stored = size
        print(
            f"stored {size:,} comments ({time.perf_counter() - started:.0f} s to fill); "
            f"the baseline {base_stored:,}",
            flush=True,
        )
        # The median of a few rounds, each an ingest burst drained before the reads are timed:
        # one burst of a few thousand lasts about a second here, and single bursts varied by
        # ±20%.
        mine: list[Round] = []
        theirs: list[Round] = []
        for _ in range(args.ingest_runs):
            mine.append(await one_round(args, grown))
            theirs.append(await one_round(args, base))
        # Both stores' sizes as the rounds began (the table's first column is the grown one's).
        base_at = base_stored
        stored += args.ingest * args.ingest_runs
        base_stored += args.ingest * args.ingest_runs
        show("grown", mine)
        show("baseline", theirs)
        rate, counts, queue = summed(mine)
        b_rate, b_counts, b_queue = summed(theirs)
        stage = Stage(
            size,
            rate,
            counts,
            queue,
            round(rss_bytes(service.api_pid) / 2**20, 1),
            round(rss_bytes(service.worker_pid) / 2**20, 1),
            int(service.redis.zcard(K.held)),
            Baseline(base_at, b_rate, b_counts, b_queue),
        )
        print(f"  {stage}", flush=True)
        stages.append(stage)
    return stages


async def held_reads(args: argparse.Namespace, side: Side) -> tuple[Timing, Timing]:
    path = "/v1/moderation/queue/counts"
    counts = await timed_gets(side.service.base, path, side.moderator, args.requests)
    return counts, await queue_page(args, side)


async def held_phase(args: argparse.Namespace, grown: Side, base: Side) -> list[HeldStage]:
    """Grow ``grown``'s held queue through the sizes; at each, ``--ingest-runs`` rounds of
    reads alternate with the same reads on ``base``'s store, holding the smallest size
    (reads add nothing to it), as in :func:`stored_phase`."""
    service, baseline = grown.service, base.service
    stages: list[HeldStage] = []
    for store in (service, baseline):
        premoderate(store, True)
    await fill(baseline, args.held[0], args.articles)
    base_held = int(baseline.redis.zcard(K.held))
    held = int(service.redis.zcard(K.held))
    for size in args.held:
        started = time.perf_counter()
        await fill(service, size - held, args.articles)
        held = int(service.redis.zcard(K.held))
        print(f"held {held:,} comments ({time.perf_counter() - started:.0f} s to fill)", flush=True)
        mine: list[tuple[Timing, Timing]] = []
        theirs: list[tuple[Timing, Timing]] = []
        for _ in range(args.ingest_runs):
            mine.append(await held_reads(args, grown))
            theirs.append(await held_reads(args, base))
        stage = HeldStage(
            held,
            median_timing([c for c, _ in mine]),
            median_timing([p for _, p in mine]),
            HeldBaseline(
                base_held,
                median_timing([c for c, _ in theirs]),
                median_timing([p for _, p in theirs]),
            ),
        )
        print(f"  {stage}", flush=True)
        stages.append(stage)
    for store in (service, baseline):
        premoderate(store, False)
    return stages


def change(first: float, last: float, higher_is_better: bool = False) -> str:
    """The worsening from ``first`` to ``last`` in percent (negative: it got better)."""
    if not first:
        return "n/a"
    pct = 100.0 * ((first - last) if higher_is_better else (last - first)) / first
    return f"{pct:+.0f}%"


def against(stage: Stage) -> tuple[float, float, float]:
    """A stage's ingest rate, counts p50 and queue p50 each over the baseline's alongside
    (1.0: as fast; the ingest ratio inverted, so above 1 is always slower)."""
    b = stage.baseline
    if b is None:
        return 1.0, 1.0, 1.0
    return (
        b.ingest_per_s / stage.ingest_per_s if stage.ingest_per_s else 0.0,
        stage.counts.p50_ms / b.counts.p50_ms if b.counts.p50_ms else 0.0,
        stage.queue.p50_ms / b.queue.p50_ms if b.queue.p50_ms else 0.0,
    )


def report(stages: list[Stage], held: list[HeldStage]) -> None:
    print()
    print(
        "| stored | ingest req/s | counts p50/p99 ms | queue p50/p99 ms (held) "
        "| baseline alongside: stored, ingest req/s, counts p50, queue p50 "
        "| API RSS MB | worker RSS MB | errors |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for s in stages:
        base = s.baseline
        alongside = (
            f"{base.stored:,}, {base.ingest_per_s}, {base.counts.p50_ms}, {base.queue.p50_ms}"
            if base
            else "—"
        )
        print(
            f"| {s.size:,} | {s.ingest_per_s} | {s.counts.p50_ms}/{s.counts.p99_ms} "
            f"| {s.queue.p50_ms}/{s.queue.p99_ms} ({s.held:,}) | {alongside} | {s.api_rss_mb} "
            f"| {s.worker_rss_mb} | {s.counts.errors + s.queue.errors} |"
        )
    if len(stages) > 1:
        a, b = stages[0], stages[-1]

        def pct(ratios: tuple[float, float, float]) -> str:
            ingest, counts, queue = (f"{100.0 * (x - 1.0):+.0f}%" for x in ratios)
            return f"ingest {ingest}, counts p50 {counts}, queue p50 {queue}"

        alongside = f"{b.baseline.stored:,} comments" if b.baseline else "none"
        print(
            f"worsening {a.size:,} → {b.size:,} (goal ≤ {GOAL_PCT:.0f}%), the largest size against "
            f"the baseline store measured alongside ({alongside}): {pct(against(b))}; at "
            f"{a.size:,}, two stores of about one size (the noise floor): {pct(against(a))}; "
            f"RSS API {change(a.api_rss_mb, b.api_rss_mb)}, "
            f"worker {change(a.worker_rss_mb, b.worker_rss_mb)}"
        )
    print()
    print(
        "| held | queue counts p50/p99 ms | queue page p50/p99 ms "
        "| baseline alongside: held, queue counts p50, queue page p50 | errors |"
    )
    print("|---|---|---|---|---|")
    for h in held:
        hb = h.baseline
        beside = f"{hb.held:,}, {hb.queue_counts.p50_ms}, {hb.queue.p50_ms}" if hb else "—"
        print(
            f"| {h.held:,} | {h.queue_counts.p50_ms}/{h.queue_counts.p99_ms} "
            f"| {h.queue.p50_ms}/{h.queue.p99_ms} | {beside} "
            f"| {h.queue_counts.errors + h.queue.errors} |"
        )
    if len(held) > 1:
        a2, b2 = held[0], held[-1]

        def vs(h: HeldStage) -> str:
            hb = h.baseline
            if hb is None or not hb.queue_counts.p50_ms or not hb.queue.p50_ms:
                return "n/a"
            counts = 100.0 * (h.queue_counts.p50_ms / hb.queue_counts.p50_ms - 1.0)
            page = 100.0 * (h.queue.p50_ms / hb.queue.p50_ms - 1.0)
            return f"queue counts p50 {counts:+.0f}%, queue page p50 {page:+.0f}%"

        print(
            f"worsening {a2.held:,} → {b2.held:,} held, the largest size against the baseline "
            f"measured alongside: {vs(b2)}; at {a2.held:,} (the noise floor): {vs(a2)}"
        )


async def run_phase(
    phase: Callable[[argparse.Namespace, Side, Side], Awaitable[T]],
    args: argparse.Namespace,
    service: Service,
    baseline: Service,
) -> T:
    return await phase(args, await side_of(service), await side_of(baseline))


def sizes(text: str) -> list[int]:
    return sorted(int(part) for part in text.split(",") if part.strip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=sizes, default=[10_000, 100_000], help="stored comments")
    ap.add_argument("--held", type=sizes, default=[1_000, 10_000, 50_000], help="held comments")
    ap.add_argument("--articles", type=int, default=10_000)
    ap.add_argument("--ingest", type=int, default=3_000, help="comments posted to time ingest")
    ap.add_argument(
        "--ingest-runs", type=int, default=5, help="rounds per size: a burst, then the reads"
    )
    ap.add_argument("--requests", type=int, default=200, help="GETs timed per figure and round")
    add_setting_option(ap)
    args = ap.parse_args(argv)
    settings = settings_given(ap, args)
    command = "python -m bench.growth " + shlex.join(sys.argv[1:] if argv is None else argv)
    # Each phase on a fresh store: the held queue grows from nothing.
    with (
        started_service("linear", settings) as service,
        started_service("linear", settings) as baseline,
    ):
        stages = asyncio.run(run_phase(stored_phase, args, service, baseline))
    with (
        started_service("linear", settings) as service,
        started_service("linear", settings) as baseline,
    ):
        held = asyncio.run(run_phase(held_phase, args, service, baseline))
    report(stages, held)
    print(f"command: {command}")
    errors = sum(s.counts.errors + s.queue.errors for s in stages)
    errors += sum(h.queue_counts.errors + h.queue.errors for h in held)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
