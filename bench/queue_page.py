"""Server time of the review queue page with 500 held comments (target: under 300 ms).

Builds a realistic queue through the real pipeline: an embedded redis-server, the real app,
500 comments (tweets from the Davidson data set, 1–4 joined per comment, when
``../shared/data`` is present; generated text otherwise) posted by a site key to a site set to
pre-moderate everything, decided ``held`` by a real scoring worker (linear scorer), with a
suspect-word list so highlighting has work to do. Then a signed-in moderator requests the
queue page repeatedly through the ASGI app (no network), and the script prints p50/p95 of
the whole request and of its two phases (``Server-Timing``: loading from Redis, rendering),
next to baselines measured in the same run (``/healthz``; a 50-item page; the JSON API).

    python bench/queue_page.py [--comments 500] [--runs 40]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moderation.app import create_app  # noqa: E402
from moderation.keys import Keys  # noqa: E402
from moderation.messages import Role  # noqa: E402
from moderation.scoring.linear import LinearScorer  # noqa: E402
from moderation.settings import Settings  # noqa: E402
from moderation.store.apikeys import create_key  # noqa: E402
from moderation.store.embedded import EmbeddedRedis  # noqa: E402
from moderation.ui import highlight, present  # noqa: E402
from workers.scoring import ScoringWorker  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "davidson-hate-offensive" / "labeled_data.csv"
SUSPECT = ["idiot", "trash", "stupid", "ugly", "liar", "clown"]
_TIMING = re.compile(r"(\w+);dur=([\d.]+)")


def texts(n: int, rng: random.Random) -> list[str]:
    if DATA.exists():
        with DATA.open(newline="", encoding="utf-8") as f:
            pool = [row["tweet"] for row in csv.DictReader(f)]
        source = f"{DATA.name} ({len(pool)} tweets)"
    else:
        words = ["the", "council", "budget", "vote", "story", "town", "tax", "unfair", "idiot"]
        pool = [" ".join(rng.choices(words, k=rng.randint(8, 40))) for _ in range(2000)]
        source = "generated text (shared data absent)"
    print(f"comment text: {source}")
    return [" ".join(rng.sample(pool, rng.randint(1, 4)))[:2000] for _ in range(n)]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(
    client: httpx.AsyncClient,
    url: str,
    runs: int,
    headers: dict[str, str] | None = None,
    cold: bool = False,
) -> tuple[list[float], list[float], dict[str, list[float]], int]:
    for _ in range(3):  # warm-up: templates compiled, connections open
        await client.get(url, headers=headers)
    totals: list[float] = []
    cpu: list[float] = []
    phases: dict[str, list[float]] = {}
    size = 0
    for _ in range(runs):
        if cold:  # as if these comments had never been shown by this process
            highlight._chunk_words.cache_clear()
            present._text_html.cache_clear()
        started, cpu_started = time.perf_counter(), time.process_time()
        r = await client.get(url, headers=headers)
        totals.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
        size = len(r.content)
        for name, dur in _TIMING.findall(r.headers.get("server-timing", "")):
            phases.setdefault(name, []).append(float(dur))
    return totals, cpu, phases, size


async def main(n: int, runs: int) -> None:
    rng = random.Random(5)
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        embedded = EmbeddedRedis(Settings(data_dir=Path(tmp)))
        url = embedded.start()
        try:
            await run(url, n, runs, rng)
        finally:
            embedded.stop()


async def run(url: str, n: int, runs: int, rng: random.Random) -> None:
    # Flood control off: the bench posts hundreds of comments from a few readers in a second.
    settings = Settings(
        redis_url=url,
        scorer="linear",
        batch_size=64,
        block_ms=100,
        flood_author_interval_s=0.0,
        flood_ip_interval_s=0.0,
    )
    keys = Keys(settings.key_prefix)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        redis: Redis = app.state.redis
        site = await create_key(redis, keys, "bench-site", Role.SITE)
        await create_key(redis, keys, "bench-admin", Role.ADMIN)
        moderator = await create_key(redis, keys, "bench-moderator", Role.MODERATOR)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            bearer = {"Authorization": f"Bearer {moderator}"}
            await redis.hset(keys.policy, "premoderate", "1")
            await redis.sadd(keys.words("suspect"), *SUSPECT)
            await redis.set(keys.words_version, "bench")
            started = time.perf_counter()
            for i, text in enumerate(texts(n, rng)):
                body = {
                    "article_id": f"news/story-{i % 25}",
                    "text": text,
                    "author": {"id": f"reader-{i % 120}", "name": f"Reader {i % 120}"},
                }
                r = await client.post(
                    "/v1/comments", json=body, headers={"Authorization": f"Bearer {site}"}
                )
                assert r.status_code == 202, r.text
            worker_redis = Redis.from_url(url)
            worker = ScoringWorker(settings, worker_redis, LinearScorer(), name="bench")
            task = asyncio.create_task(worker.run())
            while await redis.zcard(keys.held) < n:  # noqa: ASYNC110 - polling Redis
                await asyncio.sleep(0.05)
            worker.request_stop()
            await task
            await worker_redis.aclose()
            print(f"built a queue of {n} held comments in {time.perf_counter() - started:.1f}s")

            r = await client.post("/moderate/login", data={"key": moderator})
            assert r.status_code == 303, r.text
            rows = []
            page = f"/moderate/queue?limit={n}"
            cases = [
                ("GET /healthz (baseline)", "/healthz", None, False),
                ("queue page, 50 items", "/moderate/queue?limit=50", None, False),
                (f"queue page, {n} items", page, None, False),
                (f"queue page, {n} items, cold caches", page, None, True),
                (f"queue page, {n} items, riskiest", f"{page}&order=riskiest", None, False),
                (f"JSON API queue, {n} items", f"/v1/moderation/queue?limit={n}", bearer, False),
            ]
            for label, path, headers, cold in cases:
                totals, cpu, phases, size = await measure(client, path, runs, headers, cold)
                rows.append((label, totals, cpu, phases, size))

    base = statistics.median(rows[0][1])
    print(f"\n{runs} requests each, server time through the ASGI app (ms);")
    print("cpu: this process's CPU time per request (server and in-process client together;")
    print("on a busy machine wall time also counts waiting for a core)")
    print("load / present / template: medians of the page's Server-Timing phases")
    print(
        f"{'request':40} {'p50':>8} {'p95':>8} {'cpu p50':>8} {'load':>7} {'present':>8} "
        f"{'template':>9} "
        f"{'KB':>7} {'x healthz':>10}"
    )
    for label, totals, cpu, phases, size in rows:
        med = {k: statistics.median(v) for k, v in phases.items()}
        nan = float("nan")
        print(
            f"{label:40} {pct(totals, 50):8.1f} {pct(totals, 95):8.1f} {pct(cpu, 50):8.1f} "
            f"{med.get('load', nan):7.1f} {med.get('present', nan):8.1f} "
            f"{med.get('template', nan):9.1f} {size / 1024:7.0f} "
            f"{statistics.median(totals) / base:10.1f}"
        )
    for label, totals, cpu, _, _ in rows[2:4]:
        verdict = "meets" if pct(totals, 95) < 300 else "MISSES"
        print(
            f"{label}: p50 {pct(totals, 50):.1f} ms, p95 {pct(totals, 95):.1f} ms "
            f"({verdict} the 300 ms target at p95); CPU p50 {pct(cpu, 50):.1f} ms, "
            f"p95 {pct(cpu, 95):.1f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comments", type=int, default=500)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(main(args.comments, args.runs))
