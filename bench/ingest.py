"""Ingest at the ceiling: the service's ``POST /v1/comments`` and ``GET /v1/counts`` against
bare Starlette apps doing the least the same endpoints must (``bench/bare.py``).

Starts its own redis-server (AOF ``everysec``, as in production), the service with the
production server settings (``moderation serve``: uvicorn, uvloop, httptools, one process,
flood control on at its defaults) and the bare app served the same way, then runs wrk
(``-t1 -c64``, script ``bench/ingest.lua``) against each, alternating service and bare run by
run so both see the same machine. POST bodies are ~300-byte news comments from distinct authors
and IP addresses (flood control admits every one); counts ask for 50 articles. No worker runs:
this measures the API alone.

Prints, per endpoint and server, req/s (range over the rounds), p50/p99/p99.9 latency (median
over the rounds) and errors (summed), then the ratio service/bare of each round, and the exact
command lines. Goals: POST ≥ 0.7 × bare, counts ≥ 0.9 × bare, zero errors. Exits non-zero when
a run has errors. Not a test: figures vary with the machine.

    python bench/ingest.py                       # 3 rounds of 6 s per run (about 2 minutes)
    python bench/ingest.py -d 2 -r 1 -c 8        # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import free_port  # noqa: E402
from moderation.keys import Keys  # noqa: E402
from moderation.messages import Role  # noqa: E402
from moderation.store.apikeys import create_key  # noqa: E402
from moderation.store.embedded import SERVER_TUNING, find_redis_server  # noqa: E402

K = Keys()
ARTICLES = 50
SCRIPT = ROOT / "bench" / "ingest.lua"


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not start")


@contextmanager
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for p in reversed(procs):  # the servers first, Redis last
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def start_redis(procs: list[subprocess.Popen[bytes]], workdir: str) -> str:
    port = free_port()
    procs.append(
        subprocess.Popen(
            [
                find_redis_server(os.environ.get("MODERATION_REDIS_SERVER", "")),
                "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes", "--appendfsync", "everysec", "--dir", workdir,
                *SERVER_TUNING,
            ],
            stdout=subprocess.DEVNULL,
        )
    )  # fmt: skip
    r = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            r.ping()
            break
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start") from None
            time.sleep(0.05)
    # Counts to read: every article holds a few approved comments.
    pipe = r.pipeline(transaction=False)
    for a in range(1, ARTICLES + 1):
        pipe.zadd(K.approved(f"bench-article-{a}"), {f"c{a}-{i}": 0 for i in range(1 + a % 7)})
    pipe.execute()
    r.close()
    return f"redis://127.0.0.1:{port}/0"


def serve(
    procs: list[subprocess.Popen[bytes]], command: list[str], env: dict[str, str], what: str
) -> str:
    port = free_port()
    full = [sys.executable, *command, "--port", str(port)]
    procs.append(subprocess.Popen(full, cwd=ROOT, env=env))
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/v1/counts?article=x", procs[-1], what)
    return base


def wrk(args: argparse.Namespace, base: str, mode: list[str], duration: int) -> dict[str, Any]:
    cmd = [
        args.wrk, "-t1", f"-c{args.connections}", f"-d{duration}s", "--timeout", "5s",
        "-s", str(SCRIPT.relative_to(ROOT)), base, "--", *mode,
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=duration + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk failed: {out.stdout}{out.stderr}")
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    result["command"] = shlex.join(cmd)
    return result


def ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def report(name: str, runs: list[dict[str, Any]]) -> None:
    rps = [r["rps"] for r in runs]
    p = {k: statistics.median(r[k] for r in runs) for k in ("p50_us", "p99_us", "p999_us")}
    print(
        f"  {name:<22} {min(rps):>8,.0f}–{max(rps):<8,.0f} req/s   p50 {ms(p['p50_us'])} ms"
        f"  p99 {ms(p['p99_us'])} ms  p99.9 {ms(p['p999_us'])} ms"
        f"  errors {sum(r['errors'] for r in runs)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-d", "--duration", type=int, default=6, help="seconds per wrk run")
    parser.add_argument("-r", "--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("-c", "--connections", type=int, default=64)
    parser.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="bench-ingest-")
    run_id = f"r{int(time.time()):x}"
    try:
        with processes() as procs:
            url = start_redis(procs, workdir)
            env = {
                **os.environ,
                "MODERATION_REDIS_URL": url,
                "MODERATION_LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
            site_key = asyncio.run(_site_key(url))
            service = serve(procs, ["-m", "moderation", "serve", "--processes", "1"], env, "API")
            bare = serve(
                procs,
                ["-m", "uvicorn", "bench.bare:app", "--loop", "uvloop", "--http", "httptools",
                 "--no-access-log", "--log-level", "warning"],
                env,
                "bare app",
            )  # fmt: skip
            targets = {"service": service, "bare": bare}
            modes = {
                "POST /v1/comments": ["post", site_key],
                f"GET /v1/counts ({ARTICLES})": ["counts", str(ARTICLES)],
            }
            results: dict[tuple[str, str], list[dict[str, Any]]] = {}
            seq = 0
            for _warm in targets.values():  # warm up: imports, connections, scripts loaded
                for mode in modes.values():
                    wrk(args, _warm, [*mode, f"{run_id}-warm{seq}"], 1)
                    seq += 1
            for _ in range(args.rounds):
                for label, mode in modes.items():
                    for target, base in targets.items():
                        seq += 1
                        result = wrk(args, base, [*mode, f"{run_id}-{seq}"], args.duration)
                        results.setdefault((label, target), []).append(result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"ingest: wrk -t1 -c{args.connections} -d{args.duration}s, {args.rounds} rounds")
    errors = 0
    for label in modes:
        print(label)
        for target in targets:
            report(target, results[(label, target)])
            errors += sum(r["errors"] for r in results[(label, target)])
        ratios = [
            s["rps"] / b["rps"]
            for s, b in zip(results[(label, "service")], results[(label, "bare")], strict=True)
        ]
        print(
            f"  ratio service/bare     {min(ratios):.2f}–{max(ratios):.2f}"
            f" (median {statistics.median(ratios):.2f})"
        )
    print("command: " + shlex.join([Path(sys.executable).name, *sys.argv]))
    for label in modes:
        for target in targets:
            print(f"  wrk ({target}): {results[(label, target)][0]['command']}")
    if errors:
        print(f"FAILED: {errors} errors")
        return 1
    return 0


async def _site_key(url: str) -> str:
    client = redis.asyncio.Redis.from_url(url)
    try:
        return await create_key(client, K, f"bench-{os.getpid()}", Role.SITE)
    finally:
        await client.aclose()


if __name__ == "__main__":
    raise SystemExit(main())
