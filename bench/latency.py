"""End-to-end latency under open-loop load: POST until decided, at 25, 50 and 75% of capacity.

For each scorer (``linear``; ``onnx``: Detoxify ``original`` as int8 ONNX on the CPU, random
weights of the real shape built once by ``bench/scoring.py``'s helper, since trained weights
cannot be downloaded here; the speed is the real model's) this starts a redis-server (AOF
always), the API and one worker process (``bench/soak.py``'s service), then:

1. finds the **capacity**: the open-loop arrival rate at which the end-to-end p99 first passes
   1 s (``bench/soak.py``'s search; ``--capacity`` skips it);
2. at 25%, 50% and 75% of it, for ``--seconds`` each, measures POST-to-decision two ways a site
   can wait: **wait** (``POST /v1/comments?wait=5``, answered when decided) and **poll** (a plain
   ``POST``, answered 202 at once, then ``GET /v1/comments/{id}`` every ``--poll-ms`` until the
   status is no longer ``pending``). Arrivals are open loop: each request starts at its scheduled
   time whether or not earlier ones have answered, and its latency counts from then;
3. prints p50/p99 per row, errors, the longest stall Redis itself recorded during the row
   (``LATENCY LATEST`` past 100 ms: an AOF ``fsync`` the disk held up, a fork), the AOF
   rewrites that ran during it (the rewriting child takes a core for a second or more), and,
   with ``appendfsync always``, how often Redis' main thread waited on the disk: the seconds
   of the row in which an ``fsync`` took over 1 ms and the median of those seconds' slowest
   (``LATENCY HISTORY aof-fsync-always``; every reply of an event-loop turn that wrote waits
   for that turn's ``fsync``, so a worker's batch pays one per round trip), with the AOF bytes
   written per accepted comment (a row without a rewrite), so a
   p99 the machine caused can be told from one the service caused; the CPU each part spent
   per accepted comment (worker, API, Redis, this load generator: how busy the cores were)
   and the comments per batch the worker wrote; and the issue's goal for
   ``linear`` at 50%: p50 ≤ 20 ms, p99 ≤ 100 ms. The load generator shares the machine's cores with
   everything it measures.

Through ``?wait`` each row also splits the latency at the decision's own time (the answer's
``decided_at``, the worker's clock, which is this machine's): **server** = decided minus the
comment's ``created_at`` (queue, batch, scoring, the write), **answer** = the client's receipt
minus decided (the announcement, the API's answer, the client), p50 each. ``--fill-seconds``
posts at ``--fill-rate`` first and waits for the queue to drain, so the rows run on a store as
full as a busy day leaves it (the capacity search fills it too).

    python -m bench.latency                                  # linear and onnx, 20 s a row
    python -m bench.latency --scorers linear --seconds 10    # quicker
    python -m bench.latency --scorers linear --capacity 1000 --fill-seconds 40 --fill-rate 900
    python -m bench.latency --scorers linear --appendfsync everysec   # the disk's share
    python -m bench.latency --scorers linear --no-auto-rewrite        # no AOF rewrite mid-row
    python -m bench.latency --scorers linear --unix-socket            # Redis on the same host
    python -m bench.latency --scorers linear --setting MODERATION_BATCH_LINGER_AUTO=false

``--appendfsync everysec`` runs Redis as ``moderation run``'s embedded server does (the AOF
written at once, flushed to the disk every second by a background thread) instead of
``always`` (each write flushed before Redis answers, as ``docker-compose.yml`` ships it): the
difference between the two is what the disk's ``fsync`` costs the rows. ``--unix-socket``: the
API and the worker reach Redis over a Unix socket, as they do on one host under ``moderation
run``, instead of TCP to 127.0.0.1 (the loopback's TCP path costs each round trip more CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.httpclient import Reply  # noqa: E402
from bench.load import wait_until  # noqa: E402
from bench.soak import (  # noqa: E402
    Generator,
    Load,
    Service,
    add_setting_option,
    cpu_seconds,
    find_capacity,
    percentile,
    settings_given,
    settled,
    started_service,
)

LOADS = (0.25, 0.5, 0.75)
#: The issue's goal for ``linear`` at half of capacity, milliseconds.
GOAL_P50_MS, GOAL_P99_MS = 20.0, 100.0


def _epoch_s(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class Waiter(Generator):
    """The soak's ``?wait`` arrivals, each decided answer also split at its decision's time."""

    def __init__(self, service: Service) -> None:
        super().__init__(service)
        #: Per decided answer: (decided - created, received - decided), seconds.
        self.split: list[tuple[float, float]] = []

    def answered(self, reply: Reply, received: float) -> None:
        if reply.status == 201:
            body = reply.json()
            decided = _epoch_s(body["decided_at"])
            self.split.append((decided - _epoch_s(body["created_at"]), received - decided))


class Poller(Generator):
    """Open-loop arrivals; each comment is posted without waiting, then polled until decided."""

    def __init__(self, service: Service, poll_s: float) -> None:
        super().__init__(service)
        self.poll_s = poll_s

    async def _one(self, payload: dict[str, object], due: float, load: Load) -> None:
        async with self.slots:
            conn = self._connection()
            try:
                reply = await conn.post_json("/v1/comments", payload, self.headers)
                if reply.status not in (201, 202):
                    load.statuses[reply.status] += 1
                    self.idle.append((conn, time.monotonic()))
                    return
                comment_id = reply.json()["id"]
                status = reply.json()["status"]
                deadline = due + 30
                while status == "pending" and time.monotonic() < deadline:
                    await asyncio.sleep(self.poll_s)
                    got = await conn.request(
                        "GET", f"/v1/comments/{comment_id}", headers=self.headers
                    )
                    if got.status != 200:
                        load.statuses[got.status] += 1
                        self.idle.append((conn, time.monotonic()))
                        return
                    status = got.json()["status"]
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                load.failures[type(exc).__name__] += 1
                await conn.close()
                return
            self.idle.append((conn, time.monotonic()))
        load.statuses[201 if status != "pending" else 202] += 1
        if status != "pending":
            load.latencies.append(time.monotonic() - due)
        else:
            load.failures["undecided after 30 s"] += 1


@dataclass
class Row:
    scorer: str
    share: float
    rate: float
    mode: str
    n: int
    p50_ms: float
    p99_ms: float
    errors: int
    #: The longest event Redis' latency monitor recorded during the row ("" = none past 100 ms).
    stall: str
    #: AOF rewrites that ran during the row (started in it, or running when it began): the
    #: rewrite's child takes a core for a second or more, which a 2-core machine's p99 shows.
    rewrites: int = 0
    #: ``?wait`` only: p50 of decided - created and of received - decided, ms.
    split: tuple[float, float] | None = None
    #: ``appendfsync always``: seconds of the row with an ``fsync`` over 1 ms, and the median
    #: of those seconds' slowest, ms (``(0, 0)`` under ``everysec``: its thread never waits).
    fsync: tuple[int, int] = (0, 0)
    #: AOF bytes written per accepted comment (``None``: a rewrite ran, the size restarted).
    aof_bytes: int | None = None
    #: CPU per accepted comment, µs: the worker process(es), the API, Redis (``INFO cpu``,
    #: its main thread and background threads) and this load generator, from the row's start
    #: until its comments were decided.
    cpu: tuple[int, int, int, int] | None = None
    #: Comments per batch the worker wrote (accepted / the batch scripts' ``XACK``s).
    batch: float | None = None


@dataclass(frozen=True)
class Usage:
    """CPU seconds used so far by each part (see :attr:`Row.cpu`) and the ``XACK``s Redis ran."""

    worker: float
    api: float
    redis: float
    bench: float
    acks: int

    @classmethod
    def now(cls, service: Service) -> Usage:
        info = service.redis.info("everything")
        return cls(
            cpu_seconds(service.worker_pid),
            cpu_seconds(service.api_pid),
            float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
            time.process_time(),
            int(info.get("cmdstat_xack", {}).get("calls", 0)),
        )

    def per_comment(self, before: Usage, n: int) -> tuple[tuple[int, int, int, int], float | None]:
        """µs per comment of each part since ``before``, and comments per batch."""
        parts = (self.worker - before.worker, self.api - before.api,
                 self.redis - before.redis, self.bench - before.bench)  # fmt: skip
        acks = self.acks - before.acks
        return (
            cast("tuple[int, int, int, int]", tuple(round(p / n * 1e6) for p in parts)),
            round(n / acks, 1) if acks else None,
        )


def aof_rewrites(service: Service) -> tuple[int, bool]:
    """Redis' count of AOF rewrites so far, and whether one is running now."""
    info = service.redis.info("persistence")
    return int(info["aof_rewrites"]), bool(int(info["aof_rewrite_in_progress"]))


#: Redis' latency monitor records events from this many ms (the slow ``fsync``s); a *stall*
#: is one from :data:`STALL_MS`.
MONITOR_MS, STALL_MS = 1, 100


def longest_stall(service: Service) -> str:
    """The longest event of at least :data:`STALL_MS` Redis' latency monitor holds, as
    ``"<event> <ms> ms"``; "" when there is none."""
    events = [e for e in service.redis.execute_command("LATENCY", "LATEST") or ()
              if int(e[3]) >= STALL_MS]  # fmt: skip
    if not events:
        return ""
    name, _, _, longest = max(events, key=lambda e: int(e[3]))
    return f"{name.decode() if isinstance(name, bytes) else name} {int(longest)} ms"


def fsync_waits(service: Service) -> tuple[int, int]:
    """Since the last ``LATENCY RESET``: the seconds in which an ``appendfsync always``
    ``fsync`` took :data:`MONITOR_MS` or more, and the median of each such second's slowest,
    ms. The monitor keeps one sample a second (its slowest) for the last 160 seconds."""
    history = service.redis.execute_command("LATENCY", "HISTORY", "aof-fsync-always") or ()
    slowest = sorted(int(ms) for _, ms in history)
    return len(slowest), slowest[len(slowest) // 2] if slowest else 0


def aof_size(service: Service) -> int:
    return int(service.redis.info("persistence").get("aof_current_size", 0))


def model_env(size: str) -> dict[str, str]:
    """Settings for the worker to run Detoxify ``original`` as int8 ONNX (weights built once)."""
    from bench.scoring import ensure_model

    folder = ensure_model(argparse.Namespace(model_dir=None, size=size, model="original"))
    return {
        "MODERATION_SCORER": "detoxify",
        "MODERATION_TOXICITY_MODEL": "original",
        "MODERATION_MODEL_DIR": str(folder),
        "MODERATION_TOXICITY_RUNTIME": "onnx-int8",
        "MODERATION_DEVICE": "cpu",
    }


async def measure(args: argparse.Namespace, scorer: str, service: Service) -> list[Row]:
    gen = Waiter(service)
    poller = Poller(service, args.poll_ms / 1000)
    rows: list[Row] = []

    async def drain() -> None:
        await asyncio.to_thread(wait_until, lambda: settled(service.redis), 300, "drain")

    service.redis.config_set("latency-monitor-threshold", MONITOR_MS)
    try:
        if args.fill_seconds > 0:
            filled = await Generator(service).run(args.fill_rate, args.fill_seconds)
            await drain()
            print(f"[{scorer}] filled: {filled.accepted} comments at {args.fill_rate:g}/s, "
                  f"{filled.errors} errors", flush=True)  # fmt: skip
        if args.capacity:
            capacity = args.capacity
        else:
            print(f"[{scorer}] finding capacity (open loop, end-to-end p99 > 1 s):", flush=True)
            capacity = await find_capacity(
                gen, args.start_rate, args.factor, args.step_s, args.max_rate
            )
            await drain()
        print(f"[{scorer}] capacity {capacity:.1f}/s", flush=True)
        for share in LOADS:
            rate = capacity * share
            for mode, source in (("wait", gen), ("poll", poller)):
                service.redis.execute_command("LATENCY", "RESET")
                gen.split.clear()
                done_before, running = aof_rewrites(service)
                aof_before = aof_size(service)
                used_before = Usage.now(service)
                load = await source.run(rate, args.seconds)
                stall = longest_stall(service)
                fsync = fsync_waits(service)
                rewrites = aof_rewrites(service)[0] - done_before + int(running)
                aof_bytes = (
                    round((aof_size(service) - aof_before) / load.accepted)
                    if not rewrites and not aof_rewrites(service)[1] and load.accepted
                    else None
                )
                await drain()
                cpu, batch = Usage.now(service).per_comment(used_before, max(load.accepted, 1))
                row = Row(
                    scorer,
                    share,
                    round(rate, 1),
                    mode,
                    len(load.latencies),
                    round(percentile(load.latencies, 0.5) * 1000, 1),
                    round(percentile(load.latencies, 0.99) * 1000, 1),
                    load.errors,
                    stall,
                    rewrites,
                    (
                        round(percentile([d for d, _ in gen.split], 0.5) * 1000, 1),
                        round(percentile([a for _, a in gen.split], 0.5) * 1000, 1),
                    )
                    if mode == "wait" and gen.split
                    else None,
                    fsync,
                    aof_bytes,
                    cpu,
                    batch,
                )
                waits = f", fsync > 1 ms in {fsync[0]} s (median slowest {fsync[1]} ms)"
                waits = waits if fsync[0] else ""
                print(
                    f"[{scorer}] {share:4.0%} ({rate:6.1f}/s) {mode}: p50 {row.p50_ms:7.1f} ms, "
                    f"p99 {row.p99_ms:7.1f} ms, n {row.n}, errors {row.errors}"
                    + (
                        f" (p50 server {row.split[0]} ms, answer {row.split[1]} ms)"
                        if row.split
                        else ""
                    )
                    + (f", Redis stalled: {stall}" if stall else "")
                    + (f", AOF rewrites: {rewrites}" if rewrites else "")
                    + waits
                    + (f", AOF {aof_bytes:,} B/comment" if aof_bytes is not None else "")
                    + f"; CPU µs/comment worker {cpu[0]}, API {cpu[1]}, Redis {cpu[2]}, "
                    f"bench {cpu[3]}; {batch or '—'} comments/batch",
                    flush=True,
                )
                rows.append(row)
    finally:
        await gen.close()
        await poller.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scorers", default="linear,onnx", help="comma-separated: linear, onnx")
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds per row")
    ap.add_argument("--capacity", type=float, default=0, help="skip the search: this rate/s")
    ap.add_argument("--start-rate", type=float, default=25.0)
    ap.add_argument("--factor", type=float, default=1.5)
    ap.add_argument("--step-s", type=float, default=8.0)
    ap.add_argument("--max-rate", type=float, default=3000.0)
    ap.add_argument("--poll-ms", type=float, default=20.0, help="polling interval")
    ap.add_argument("--size", choices=["base", "tiny"], default="base", help="onnx model shape")
    ap.add_argument("--fill-seconds", type=float, default=0.0, help="post this long first")
    ap.add_argument(
        "--appendfsync",
        choices=["always", "everysec"],
        default="always",
        help="Redis' AOF fsync policy (always: as docker-compose.yml ships it; everysec: as "
        "the embedded server of `moderation run`)",
    )
    ap.add_argument("--fill-rate", type=float, default=900.0, help="arrivals/s of the fill")
    ap.add_argument(
        "--no-auto-rewrite",
        action="store_true",
        help="no automatic AOF rewrite (auto-aof-rewrite-percentage 0), as a deployment that "
        "runs BGREWRITEAOF at a quiet hour",
    )
    ap.add_argument(
        "--unix-socket",
        action="store_true",
        help="Redis over a Unix socket (one host, as `moderation run`), not TCP on 127.0.0.1",
    )
    ap.add_argument(
        "--worker-processes",
        type=int,
        default=1,
        help="`moderation worker --processes` (0: one per core, a deployment's default)",
    )
    add_setting_option(ap)
    args = ap.parse_args(argv)
    settings = settings_given(ap, args)
    command = "python -m bench.latency " + shlex.join(sys.argv[1:] if argv is None else argv)
    rows: list[Row] = []
    errors = 0
    for scorer in [s.strip() for s in args.scorers.split(",") if s.strip()]:
        if scorer not in ("linear", "onnx"):
            ap.error(f"unknown scorer {scorer!r}: linear or onnx")
        env = {**(model_env(args.size) if scorer == "onnx" else {}), **settings}
        name = "linear" if scorer == "linear" else "detoxify"
        with started_service(
            name,
            env,
            appendfsync=args.appendfsync,
            unix_socket=args.unix_socket,
            worker_processes=args.worker_processes,
        ) as service:
            if args.no_auto_rewrite:
                service.redis.config_set("auto-aof-rewrite-percentage", 0)
            got = asyncio.run(measure(args, scorer, service))
        rows.extend(got)
        errors += sum(r.errors for r in got)
    print()
    print(
        "| scorer | load | rate/s | mode | p50 ms | p99 ms | n | errors | Redis stall "
        "| AOF rewrites | s with fsync > 1 ms (median slowest) | AOF B/comment "
        "| CPU µs/comment: worker / API / Redis / bench | comments/batch |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.scorer} | {r.share:.0%} | {r.rate} | {r.mode} | {r.p50_ms} | {r.p99_ms} "
            f"| {r.n} | {r.errors} | {r.stall or '—'} | {r.rewrites} "
            f"| {f'{r.fsync[0]} ({r.fsync[1]} ms)' if r.fsync[0] else '—'} "
            f"| {r.aof_bytes if r.aof_bytes is not None else '—'} "
            f"| {' / '.join(map(str, r.cpu)) if r.cpu else '—'} | {r.batch or '—'} |"
        )
    for r in rows:
        if r.scorer == "linear" and r.share == 0.5:
            met = r.p50_ms <= GOAL_P50_MS and r.p99_ms <= GOAL_P99_MS
            print(
                f"goal (linear, 50%, {r.mode}): p50 ≤ {GOAL_P50_MS:.0f} ms, p99 ≤ "
                f"{GOAL_P99_MS:.0f} ms: {'met' if met else 'NOT met'}"
            )
    print(f"command: {command}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
