"""End-to-end load: post N comments to a running service, wait for every decision, verify.

Starts a redis-server (AOF, ``appendfsync everysec``, like production), the API
(``moderation serve``) and scoring workers (``moderation worker``) as separate processes, then:

1. posts N comments over C keep-alive connections to ``POST /v1/comments`` (spread over many
   articles and authors, a share of them toxic), timing acceptance;
2. waits until no comment is pending, timing the decisions;
3. verifies that every accepted comment has exactly one automatic decision (one transition out
   of ``pending`` in the event stream, a final status on the comment) and that every article's
   count from ``GET /v1/counts`` equals a recount of its approved comments.

Prints comments/s accepted, comments/s decided and seconds to drain (from the last acceptance to
the last decision). Exits non-zero if any check fails. Not a test: figures vary with the machine.

    python bench/load.py                   # 10,000 comments, linear scorer
    python bench/load.py -n 2000 --quick   # smaller, for a smoke run
    python bench/load.py --url http://127.0.0.1:8000 --site-key "$SITE_KEY" \
        --redis-url redis://127.0.0.1:6379/0       # against a service already running

Against a running service the run's articles and readers carry a run id, and only this run's
comments and events are checked, so earlier traffic does not disturb the verification.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.httpclient import Connection  # noqa: E402
from moderation.evaluation.corpus import news_stream_text  # noqa: E402
from moderation.keys import CommentField, Keys  # noqa: E402
from moderation.store.embedded import SERVER_TUNING, find_redis_server  # noqa: E402
from moderation.store.records import decode_record  # noqa: E402

K = Keys()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


#: Distinguishes this run's articles and readers from earlier runs on the same service.
RUN = f"{int(time.time()):x}"


def article_name(a: int) -> str:
    return f"bench-{RUN}-{a}"


def make_comment(i: int, rng: random.Random, articles: int) -> dict[str, Any]:
    return {
        "article_id": article_name(i % articles),
        # News-length, a tenth with a toxic remark, every text distinct and overlapping others
        # as little as real comments do, so the spam checks see no campaign and the
        # near-duplicate index as many chance candidates as real traffic gives.
        "text": news_stream_text(rng, toxic_share=0.1),
        "author": {"id": f"reader-{RUN}-{i}", "name": "Bench Reader"},
        "context": {"ip": f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}"},
    }


async def post_all(
    base: str,
    key: str,
    n: int,
    concurrency: int,
    articles: int,
    wait_s: float,
    start: int = 0,
    make: Callable[[int, random.Random, int], dict[str, Any]] | None = None,
) -> tuple[list[str], float]:
    """Post comments ``start`` .. ``start + n - 1`` (each its own author and idempotency key),
    built by ``make`` (default :func:`make_comment`)."""
    rng = random.Random(7 + start)
    make = make or make_comment
    payloads = [make(start + i, rng, articles) for i in range(n)]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    ids: list[str] = [""] * n
    headers = {"Authorization": f"Bearer {key}"}
    path = "/v1/comments" + (f"?wait={wait_s}" if wait_s else "")

    async def client() -> None:
        conn = Connection(base)
        try:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                for _attempt in range(5):
                    reply = await conn.post_json(
                        path,
                        payloads[i],
                        {**headers, "Idempotency-Key": f"bench-{RUN}-{start + i}"},
                    )
                    # 200: a retry's idempotent replay (the first try was stored though it
                    # answered 503: a 503 does not always mean "not stored").
                    if reply.status in (200, 201, 202):
                        ids[i] = reply.json()["id"]
                        break
                    if reply.status in (429, 503):
                        await asyncio.sleep(float(reply.headers.get("retry-after", "1")))
                        continue
                    raise SystemExit(f"unexpected {reply.status}: {reply.body[:200]!r}")
                else:
                    raise SystemExit(f"comment {i} never accepted")
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return ids, time.perf_counter() - started


def undecided(r: redis.Redis, ids: list[str]) -> int:
    """How many of this run's comments are still pending (other traffic does not count)."""
    left = 0
    for start in range(0, len(ids), 5000):
        pipe = r.pipeline(transaction=False)
        for cid in ids[start : start + 5000]:
            pipe.hget(K.comment(cid), CommentField.STATUS)
        left += sum(status == b"pending" for status in pipe.execute())
    return left


def verify(r: redis.Redis, base: str, ids: list[str], articles: int, since_ms: int) -> list[str]:
    problems: list[str] = []
    if len(set(ids)) != len(ids):
        problems.append("duplicate comment ids were returned")
    pipe = r.pipeline(transaction=False)
    for cid in ids:
        pipe.hmget(K.comment(cid), CommentField.STATUS, CommentField.DOC)
    rows = pipe.execute()
    approved_by_article: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for cid, (status, doc) in zip(ids, rows, strict=True):
        if status is None:
            problems.append(f"comment {cid} is missing")
            continue
        statuses[status.decode()] += 1
        if status == b"approved":
            approved_by_article[decode_record(doc, cid).article_id] += 1
    if statuses.get("pending"):
        problems.append(f"{statuses['pending']} comments still pending")

    decisions: Counter[str] = Counter()
    last = f"{since_ms}-0"  # this run's events only (a live service has a long history)
    first = True
    while True:
        batch = r.xrange(K.events, min=last, count=10_000)
        if not first:
            batch = batch[1:]
        first = False
        if not batch:
            break
        for _, fields in batch:
            if fields[b"from"] == b"pending":
                decisions[fields[b"id"].decode()] += 1
        last = batch[-1][0].decode()
    wanted = set(ids)
    multiple = [cid for cid, n in decisions.items() if cid in wanted and n != 1]
    missing = [cid for cid in ids if decisions[cid] == 0]
    if multiple:
        problems.append(f"{len(multiple)} comments decided more than once")
    if missing:
        problems.append(f"{len(missing)} comments have no decision event")

    import httpx

    names = [article_name(a) for a in range(articles)]
    for start in range(0, len(names), 100):
        chunk = names[start : start + 100]
        got = httpx.get(
            f"{base}/v1/counts", params=[("article", a) for a in chunk], timeout=10
        ).json()["counts"]
        for a in chunk:
            if got[a] != approved_by_article[a]:
                problems.append(f"count of {a}: API {got[a]} != recount {approved_by_article[a]}")
    print(f"statuses: {dict(statuses)}")
    return problems


def measure(args: argparse.Namespace, base: str, key: str, r: redis.Redis, what: str) -> int:
    """Post, wait for every decision, verify; print the figures. Returns the exit code."""
    print(f"posting {args.comments} comments over {args.concurrency} connections ({what})")
    since_ms = int(time.time() * 1000) - 1000
    t0 = time.perf_counter()
    ids, accept_s = asyncio.run(
        post_all(base, key, args.comments, args.concurrency, args.articles, args.wait)
    )
    accepted_at = time.perf_counter()
    wait_until(lambda: undecided(r, ids) == 0, 3600, "every decision", interval=0.2)
    decided_at = time.perf_counter()
    drain_s = decided_at - accepted_at
    total_s = decided_at - t0

    problems = verify(r, base, ids, args.articles, since_ms)
    latencies = sorted(int(x) for x in r.lrange(K.auto_latency, 0, -1))
    print(f"accepted:  {len(ids)} in {accept_s:.2f}s = {len(ids) / accept_s:,.0f} comments/s")
    print(
        f"decided:   {len(ids)} in {total_s:.2f}s from the first POST = "
        f"{len(ids) / total_s:,.0f} comments/s"
    )
    print(f"drain:     {drain_s:.2f}s after the last acceptance")
    if latencies:
        print(
            f"auto time-to-decision (last {len(latencies)}): "
            f"p50 {latencies[len(latencies) // 2]} ms, "
            f"p99 {latencies[int(len(latencies) * 0.99) - 1]} ms"
        )
    if problems:
        print("FAILED checks:")
        for p in problems[:20]:
            print("  -", p)
        return 1
    print("verified: every comment has exactly one decision; every article count equals a recount")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--comments", type=int, default=10_000)
    ap.add_argument("-c", "--concurrency", type=int, default=64)
    ap.add_argument("--articles", type=int, default=500)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--api-processes", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--scorer", default="linear")
    ap.add_argument("--wait", type=float, default=0.0, help="?wait= on every POST")
    ap.add_argument("--quick", action="store_true", help="small run for smoke tests")
    ap.add_argument("--url", help="an already running service (then --site-key and --redis-url)")
    ap.add_argument("--site-key", help="a site API key of that service")
    ap.add_argument("--redis-url", help="its Redis, read to verify the decisions")
    args = ap.parse_args()
    if args.quick:
        args.comments = min(args.comments, 500)
        args.articles = min(args.articles, 50)
    if args.url:
        if not (args.site_key and args.redis_url):
            ap.error("--url needs --site-key and --redis-url")
        r = redis.Redis.from_url(args.redis_url)
        return measure(args, args.url.rstrip("/"), args.site_key, r, f"service at {args.url}")
    return start_and_measure(args)


def start_and_measure(args: argparse.Namespace) -> int:
    """Start Redis, the API and the workers here, measure, stop them."""
    tmp = Path(tempfile.mkdtemp(prefix="mod-bench-"))
    redis_port, api_port = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    find_redis_server(),
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(tmp),
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "everysec",
                    *SERVER_TUNING,
                    "--save",
                    "",
                    "--maxmemory-policy",
                    "noeviction",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        url = f"redis://127.0.0.1:{redis_port}/0"
        r = redis.Redis.from_url(url)
        wait_until(r.ping, 10, "redis")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
        env.update(
            {
                "MODERATION_REDIS_URL": url,
                "MODERATION_METRICS_PORT": "0",  # no /metrics listener: not measured here
                "MODERATION_SCORER": args.scorer,
                "MODERATION_BATCH_SIZE": str(args.batch_size),
                "MODERATION_LOG_LEVEL": "WARNING",
                "MODERATION_KEY_CACHE_TTL_S": "60",
                # The load comes from one machine at thousands of comments per second: flood
                # control (per author and IP) would rightly refuse most of it. This measures the
                # pipeline, so it is off here.
                "MODERATION_FLOOD_AUTHOR_INTERVAL_S": "0",
                "MODERATION_FLOOD_IP_INTERVAL_S": "0",
            }
        )
        key = subprocess.run(
            [
                sys.executable,
                "-m",
                "moderation",
                "keys",
                "create",
                "--role",
                "site",
                "--name",
                "bench",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "moderation",
                    "serve",
                    "--port",
                    str(api_port),
                    "--processes",
                    str(args.api_processes),
                ],
                env=env,
            )
        )
        for _ in range(args.workers):
            procs.append(subprocess.Popen([sys.executable, "-m", "moderation", "worker"], env=env))
        base = f"http://127.0.0.1:{api_port}"
        import httpx

        wait_until(
            lambda: httpx.get(base + "/readyz", timeout=1).status_code == 200,
            120,
            "the API and a worker",
        )

        what = (
            f"{args.api_processes} API process(es), {args.workers} worker(s), "
            f"scorer {args.scorer}, batch {args.batch_size}"
        )
        return measure(args, base, key, r, what)
    finally:
        for proc in reversed(procs):  # workers and API first, Redis last
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
