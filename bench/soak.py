"""Soak: find the system's capacity, then run at half of it for a long while and watch for
leaks, errors and latency drift.

Starts here a redis-server (AOF, ``appendfsync always``, as ``docker-compose.yml`` ships it),
the API (``moderation serve``, one process) and one worker process (``moderation worker
--processes 1``), then:

1. **capacity**: open-loop load at a fixed arrival rate (each request starts at its scheduled
   time whether or not earlier ones answered, and its latency counts from that time, so a
   stalled server cannot hide its backlog), rising by ``--factor`` a step of ``--step-s``
   seconds at a time, until the p99 first passes 1 s, then bisecting between the last rate
   that held and that one (three steps narrow it to 5%). Latency is end to end: every request is
   ``POST /v1/comments?wait=5``, answered when the comment is *decided* (201), so the worker
   is measured as well as the API. The queue is drained between steps;
2. **soak** at half that rate for ``--seconds``, sampling every ``--sample-s``: the RSS of the
   API and of the worker (each process with its children), Redis ``used_memory``, comments
   accepted and errors;
3. prints latency percentiles (p50/p99/p99.9), errors (any answer but 201/202, any failed
   request), Redis bytes per accepted comment after warm-up, RSS drift after warm-up (mean of
   the last three samples against the first three after ``--warmup-s``), and the command.

Exit status 1 on any error response, on comments left undecided after the drain, or (runs of
``--seconds`` ≥ 300 only, where warm-up noise has settled) on an RSS drift over
``--max-drift`` percent. Figures vary with the machine; the client shares its cores.

    python -m bench.soak                          # capacity, then 600 s at half of it
    python -m bench.soak --seconds 45 --step-s 3  # the CI-sized run
    python -m bench.soak --capacity 400           # skip the search
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.httpclient import Connection, Reply  # noqa: E402
from bench.load import free_port, make_comment, wait_until  # noqa: E402
from moderation.keys import SCORING_GROUP, Keys  # noqa: E402
from moderation.store.embedded import SERVER_TUNING, find_redis_server  # noqa: E402

K = Keys()
#: The p99 (seconds) past which the system is called saturated.
SATURATED_P99_S = 1.0
#: Bisections of the capacity search between the last rate that held and the first that did
#: not: three narrow a 1.5 step to within 5%.
REFINE_STEPS = 3
#: ``?wait=`` of every request: longer than any latency that matters here.
WAIT_S = 5.0
#: Most connections the load generator opens (open loop: more requests in flight wait).
MAX_CONNECTIONS = 256
#: Keep-alive connections idle longer than this are closed, not reused (uvicorn: 5 s).
IDLE_S = 2.0
PAGE = os.sysconf("SC_PAGE_SIZE")


# --- the service --------------------------------------------------------------------------------


@dataclass
class Service:
    base: str
    key: str
    redis: redis.Redis
    api_pid: int
    worker_pid: int


@contextmanager
def started_service(
    scorer: str,
    extra_env: dict[str, str] | None = None,
    *,
    appendfsync: str = "always",
    unix_socket: bool = False,
    worker_processes: int = 1,
) -> Iterator[Service]:
    """Redis (AOF, ``appendfsync`` as given: ``always`` as ``docker-compose.yml`` ships it),
    the API and one worker process, stopped (SIGTERM) on the way out. ``extra_env`` adds
    ``MODERATION_*`` settings (a model's folder and runtime, say). ``unix_socket``: the API
    and the worker reach Redis over a Unix socket, as on one host with ``moderation run``'s
    embedded Redis, instead of TCP on 127.0.0.1 (as to a Redis on a host of its own).
    ``worker_processes``: ``moderation worker --processes`` (one by default; 0, one per core,
    is what a deployment runs unless told otherwise)."""
    tmp = Path(tempfile.mkdtemp(prefix="mod-soak-"))
    redis_port, api_port = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    sock = tmp / "redis.sock"
    where = ["--port", str(redis_port), "--bind", "127.0.0.1"]
    if unix_socket:
        where = ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
    try:
        procs.append(
            subprocess.Popen(
                [find_redis_server(), *where,
                 "--dir", str(tmp), "--appendonly", "yes", "--appendfsync", appendfsync,
                 "--save", "", "--maxmemory-policy", "noeviction", *SERVER_TUNING],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        url = f"unix://{sock}?db=0" if unix_socket else f"redis://127.0.0.1:{redis_port}/0"
        if unix_socket:
            wait_until(sock.exists, 10, "redis' socket")
        r = redis.Redis.from_url(url)
        wait_until(r.ping, 10, "redis")
        # Redis records every event slower than this (fsync, fork, commands): printed at the
        # end, so a latency spike can be told from the machine's own stalls.
        r.config_set("latency-monitor-threshold", 100)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
        env.update(
            {
                "MODERATION_REDIS_URL": url,
                "MODERATION_METRICS_PORT": "0",
                "MODERATION_SCORER": scorer,
                "MODERATION_LOG_LEVEL": "WARNING",
                "MODERATION_KEY_CACHE_TTL_S": "60",
                # One machine posting hundreds of comments a second: flood control would
                # rightly refuse most of them. The soak measures the pipeline.
                "MODERATION_FLOOD_AUTHOR_INTERVAL_S": "0",
                "MODERATION_FLOOD_IP_INTERVAL_S": "0",
            }
        )
        env.update(extra_env or {})
        key = subprocess.run(
            [sys.executable, "-m", "moderation", "keys", "create", "--role", "site",
             "--name", "soak"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        api = subprocess.Popen(
            [sys.executable, "-m", "moderation", "serve", "--port", str(api_port),
             "--processes", "1"],
            env=env,
        )  # fmt: skip
        procs.append(api)
        worker = subprocess.Popen(
            [sys.executable, "-m", "moderation", "worker", "--processes", str(worker_processes)],
            env=env,
        )
        procs.append(worker)
        base = f"http://127.0.0.1:{api_port}"
        wait_until(
            lambda: httpx.get(base + "/readyz", timeout=1).status_code == 200,
            120,
            "the API and the worker",
        )
        yield Service(base, key, r, api.pid, worker.pid)
    finally:
        for proc in reversed(procs):  # worker and API first, Redis last
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def add_setting_option(ap: argparse.ArgumentParser) -> None:
    """``--setting MODERATION_NAME=VALUE`` (repeatable): a setting for the service's API and
    worker, which :func:`started_service` otherwise starts with the defaults."""
    ap.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="MODERATION_NAME=VALUE",
        help="a setting for the API and the worker (repeatable), e.g. "
        "MODERATION_BATCH_LINGER_AUTO=false",
    )


def settings_given(ap: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    """The ``--setting`` values as environment variables; a name that is not a
    ``MODERATION_*`` setting ends the program with a usage error."""
    settings = dict(item.partition("=")[::2] for item in args.setting)
    if bad := [name for name in settings if not name.startswith("MODERATION_")]:
        ap.error(f"--setting names a MODERATION_* variable, not {bad[0]!r}")
    return settings


def family(pid: int) -> list[int]:
    """``pid`` and all its descendants still alive (Linux ``/proc``)."""
    out: list[int] = []
    stack = [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (Linux ``/proc``)."""
    total = 0
    for p in family(pid):
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants alive now (Linux ``/proc``)."""
    total = 0
    for p in family(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def drained(r: redis.Redis) -> bool:
    """Every entry of the scoring stream delivered and acknowledged."""
    groups = r.xinfo_groups(K.stream)
    if not groups:
        return True
    group = next(g for g in groups if g["name"].decode() == SCORING_GROUP)
    last = r.xrevrange(K.stream, count=1)
    last_id = last[0][0] if last else b"0-0"
    return bool(group["pending"] == 0 and group["last-delivered-id"] == last_id)


def settled(r: redis.Redis) -> bool:
    """:func:`drained`, and no AOF rewrite running or scheduled: a rewrite (a fork writing the
    whole dataset, started when the AOF has doubled) competes for the same cores, and one
    triggered by the previous step must not land in the next one's figures."""
    info: Any = r.info("persistence")
    rewriting = int(info.get("aof_rewrite_in_progress", 0)) or int(
        info.get("aof_rewrite_scheduled", 0)
    )
    return not rewriting and drained(r)


# --- open-loop load -------------------------------------------------------------------------


@dataclass
class Load:
    """What one stretch of load did."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def errors(self) -> int:
        bad = sum(n for s, n in self.statuses.items() if s not in (201, 202))
        return bad + sum(self.failures.values())

    @property
    def accepted(self) -> int:
        return self.statuses[201] + self.statuses[202]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Generator:
    """Fixed-rate arrivals over a pool of keep-alive connections."""

    def __init__(self, service: Service, articles: int = 200) -> None:
        self.service = service
        self.articles = articles
        self.rng = random.Random(11)
        self.next_id = 0
        #: (connection, when it was last used): uvicorn closes a keep-alive connection idle for
        #: 5 s, and a request sent on one that is closing would count as an error of ours.
        self.idle: list[tuple[Connection, float]] = []
        self.closing: list[Connection] = []
        self.slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self.headers = {"Authorization": f"Bearer {service.key}"}

    async def _one(self, payload: dict[str, object], due: float, load: Load) -> None:
        async with self.slots:
            conn = self._connection()
            try:
                reply = await asyncio.wait_for(
                    conn.post_json(f"/v1/comments?wait={WAIT_S}", payload, self.headers),
                    WAIT_S + 10,
                )
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                load.failures[type(exc).__name__] += 1
                await conn.close()
                return
            received = time.time()
            self.idle.append((conn, time.monotonic()))
        load.statuses[reply.status] += 1
        load.latencies.append(time.monotonic() - due)
        self.answered(reply, received)

    def answered(self, reply: Reply, received: float) -> None:
        """Called with each answer and when it arrived (epoch seconds): a subclass' hook."""

    def _connection(self) -> Connection:
        while self.idle:
            conn, used = self.idle.pop()
            if time.monotonic() - used < IDLE_S:
                return conn
            self.closing.append(conn)
        return Connection(self.service.base)

    async def run(self, rate: float, seconds: float, load: Load | None = None) -> Load:
        """``rate`` requests a second for ``seconds``; returns once every one answered."""
        load = load if load is not None else Load()
        n = max(1, int(rate * seconds))
        start = time.monotonic()
        tasks = []
        for i in range(n):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            payload = make_comment(self.next_id, self.rng, self.articles)
            self.next_id += 1
            tasks.append(asyncio.create_task(self._one(payload, due, load)))
        await asyncio.gather(*tasks)
        return load

    async def close(self) -> None:
        for conn in [c for c, _ in self.idle] + self.closing:
            await conn.close()


async def find_capacity(
    gen: Generator,
    start: float,
    factor: float,
    step_s: float,
    max_rate: float,
    refine: int = REFINE_STEPS,
) -> float:
    """The first arrival rate whose p99 passes :data:`SATURATED_P99_S`: rates rise by
    ``factor`` until one does, then ``refine`` bisections between the last rate that held and
    the first that did not narrow it down (without them the answer could overshoot the knee by
    up to ``factor``: a 1.5 step from 641/s lands at 961/s). The queue drains between steps."""

    async def step(rate: float) -> bool:
        load = await gen.run(rate, step_s)
        p99 = percentile(load.latencies, 0.99)
        print(
            f"  {rate:7.1f}/s: p50 {percentile(load.latencies, 0.5) * 1000:7.1f} ms, "
            f"p99 {p99 * 1000:7.1f} ms, errors {load.errors}",
            flush=True,
        )
        await asyncio.to_thread(
            wait_until, lambda: settled(gen.service.redis), 120, "the queue to drain"
        )
        return p99 > SATURATED_P99_S

    held, rate = 0.0, start
    while not await step(rate):
        if rate >= max_rate:
            return rate
        held, rate = rate, min(rate * factor, max_rate)
    if held <= 0:
        return rate
    for _ in range(refine):
        middle = (held * rate) ** 0.5  # geometric: the steps are ratios
        if await step(middle):
            rate = middle
        else:
            held = middle
    return rate


# --- the soak -------------------------------------------------------------------------------


@dataclass
class Sample:
    t: float
    api_rss: int
    worker_rss: int
    redis_used: int
    accepted: int
    errors: int
    #: p99 (ms) of the requests that finished since the previous sample.
    window_p99_ms: float
    aof_rewrites: int


async def sample_loop(
    service: Service, load: Load, every_s: float, out: list[Sample], started: float
) -> None:
    seen = 0
    while True:
        info = service.redis.info("memory")
        persistence = service.redis.info("persistence")
        window = load.latencies[seen:]
        seen += len(window)
        out.append(
            Sample(
                round(time.monotonic() - started, 1),
                rss_bytes(service.api_pid),
                rss_bytes(service.worker_pid),
                int(info["used_memory"]),
                load.accepted,
                load.errors,
                round(percentile(window, 0.99) * 1000, 1),
                int(persistence.get("aof_rewrites", 0)),
            )
        )
        await asyncio.sleep(every_s)


def drift(samples: list[Sample], attr: str) -> float:
    """Percent change of the mean of the last three samples over the first three."""
    if len(samples) < 2:
        return 0.0
    k = min(3, len(samples) // 2)
    first = sum(getattr(s, attr) for s in samples[:k]) / k
    last = sum(getattr(s, attr) for s in samples[-k:]) / k
    return 100.0 * (last - first) / first if first else 0.0


async def soak(args: argparse.Namespace, service: Service) -> dict[str, object]:
    gen = Generator(service)
    try:
        if args.capacity:
            capacity = args.capacity
        else:
            print("finding capacity (open loop, end-to-end p99 > 1 s):", flush=True)
            capacity = await find_capacity(
                gen, args.start_rate, args.factor, args.step_s, args.max_rate
            )
            await asyncio.to_thread(wait_until, lambda: drained(service.redis), 120, "drain")
        rate = capacity / 2
        print(f"capacity {capacity:.1f}/s; soaking at {rate:.1f}/s for {args.seconds}s", flush=True)
        load = Load()
        samples: list[Sample] = []
        started = time.monotonic()
        sampler = asyncio.create_task(sample_loop(service, load, args.sample_s, samples, started))
        try:
            await gen.run(rate, args.seconds, load)
        finally:
            sampler.cancel()
        await asyncio.to_thread(wait_until, lambda: drained(service.redis), 120, "drain")
    finally:
        await gen.close()
    warm = [s for s in samples if s.t >= args.warmup_s] or samples
    grown = warm[-1].redis_used - warm[0].redis_used
    added = warm[-1].accepted - warm[0].accepted
    return {
        "capacity_per_s": capacity,
        "rate_per_s": rate,
        "seconds": args.seconds,
        "accepted": load.accepted,
        "statuses": dict(load.statuses),
        "failures": dict(load.failures),
        "errors": load.errors,
        "p50_ms": round(percentile(load.latencies, 0.5) * 1000, 1),
        "p99_ms": round(percentile(load.latencies, 0.99) * 1000, 1),
        "p999_ms": round(percentile(load.latencies, 0.999) * 1000, 1),
        "api_rss_mb": [round(warm[0].api_rss / 2**20, 1), round(warm[-1].api_rss / 2**20, 1)],
        "worker_rss_mb": [
            round(warm[0].worker_rss / 2**20, 1),
            round(warm[-1].worker_rss / 2**20, 1),
        ],
        "api_rss_drift_pct": round(drift(warm, "api_rss"), 1),
        "worker_rss_drift_pct": round(drift(warm, "worker_rss"), 1),
        "redis_bytes_per_comment": round(grown / added) if added else None,
        "undecided_after_drain": 0 if drained(service.redis) else 1,
        "aof_rewrites": samples[-1].aof_rewrites if samples else 0,
        "redis_latency_events": [
            [e.decode() if isinstance(e, bytes) else e for e in row]
            for row in service.redis.execute_command("LATENCY", "LATEST")
        ],
        "samples": [asdict(s) for s in samples],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600, help="soak length (default 600)")
    ap.add_argument("--capacity", type=float, default=0, help="skip the search: this rate/s")
    ap.add_argument("--start-rate", type=float, default=25.0)
    ap.add_argument("--factor", type=float, default=1.5, help="rate step of the search")
    ap.add_argument("--step-s", type=float, default=10.0, help="seconds per search step")
    ap.add_argument("--max-rate", type=float, default=3000.0)
    ap.add_argument("--sample-s", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--warmup-s", type=float, help="default: a quarter of --seconds, ≤ 60")
    ap.add_argument("--max-drift", type=float, default=10.0, help="percent, runs ≥ 300 s")
    ap.add_argument("--scorer", default="linear")
    ap.add_argument("--json", help="write the summary (with every sample) here")
    add_setting_option(ap)
    args = ap.parse_args(argv)
    settings = settings_given(ap, args)
    if args.warmup_s is None:
        args.warmup_s = min(60.0, args.seconds / 4)
    command = "python -m bench.soak " + shlex.join(sys.argv[1:] if argv is None else argv)
    with started_service(args.scorer, settings) as service:
        summary = asyncio.run(soak(args, service))
    summary["command"] = command
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    print(
        f"accepted {summary['accepted']} at {summary['rate_per_s']:.1f}/s, "
        f"errors {summary['errors']} {summary['failures'] or ''}, statuses {summary['statuses']}"
    )
    print(
        f"latency p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms, "
        f"p99.9 {summary['p999_ms']} ms (end to end: POST until decided)"
    )
    print(
        f"RSS after warm-up: API {summary['api_rss_mb']} MB "
        f"(drift {summary['api_rss_drift_pct']:+.1f}%), worker {summary['worker_rss_mb']} MB "
        f"(drift {summary['worker_rss_drift_pct']:+.1f}%)"
    )
    print(
        f"Redis: {summary['redis_bytes_per_comment']} bytes per accepted comment after warm-up; "
        f"{summary['aof_rewrites']} AOF rewrites; events over 100 ms (event, last at, "
        f"last ms, max ms): {summary['redis_latency_events']}"
    )
    print("p99 per sample (ms):", [s["window_p99_ms"] for s in summary["samples"]])
    print(f"command: {command}")  # fmt: skip
    failed = summary["errors"] or summary["undecided_after_drain"]
    if args.seconds >= 300:
        worst = max(abs(float(summary["api_rss_drift_pct"])),  # type: ignore[arg-type]
                    abs(float(summary["worker_rss_drift_pct"])))  # type: ignore[arg-type]  # fmt: skip
        if worst > args.max_drift:
            print(f"FAILED: RSS drift {worst:.1f}% over {args.max_drift}%")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
