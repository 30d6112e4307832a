"""The long-running commands: ``serve`` (the API), ``worker`` (one scoring worker),
``webhooks`` (the webhook sender), ``archiver`` (the record's writer) and ``run`` (all of it,
with an embedded Redis, for local use)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from moderation.errors import ConfigError
from moderation.keys import Keys
from moderation.messages import Role
from moderation.settings import Settings
from moderation.store.apikeys import create_key
from moderation.store.client import api_client, worker_client
from moderation.store.embedded import EmbeddedRedis

log = logging.getLogger("moderation")

#: What uvicorn serves (a factory: each process reads its settings once).
ASGI_APP = "moderation.asgi:app"
#: The localhost /metrics listener.
METRICS_APP = "moderation.asgi:metrics_app"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the HTTP API (uvicorn)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--processes", type=int, help="uvicorn worker processes")
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("metrics", help="serve /metrics alone on MODERATION_METRICS_HOST:PORT")
    p.set_defaults(handler=cmd_metrics)

    p = sub.add_parser("worker", help="run scoring workers (a supervised pool when N > 1)")
    p.add_argument(
        "--processes",
        type=int,
        help="worker processes (default MODERATION_WORKER_PROCESSES; 0 = one per core)",
    )
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser("archiver", help="archive every decision and audit entry to the record")
    p.set_defaults(handler=cmd_archiver)

    p = sub.add_parser("run", help="API + worker(s) + embedded Redis, for local use")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int)
    p.set_defaults(handler=cmd_run)


# --- serve ------------------------------------------------------------------------------------


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    processes = args.processes or settings.api_processes
    listener = _start_metrics(settings, dict(os.environ))
    try:
        uvicorn.run(
            ASGI_APP,
            factory=True,
            host=args.host or settings.host,
            port=args.port or settings.port,
            workers=processes if processes > 1 else None,
            loop="uvloop",
            http="httptools",
            log_level=settings.log_level.lower(),
            access_log=False,
            timeout_graceful_shutdown=15,
        )
    finally:
        _stop_children([listener] if listener else [])
    return 0


def cmd_metrics(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    if not settings.metrics_port:
        raise ConfigError("MODERATION_METRICS_PORT is 0: no /metrics listener to run")
    uvicorn.run(
        METRICS_APP,
        factory=True,
        host=settings.metrics_host,
        port=settings.metrics_port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
    return 0


def _start_metrics(settings: Settings, env: dict[str, str]) -> subprocess.Popen[bytes] | None:
    """The /metrics listener as a child process (one per installation host is enough: the
    figures are cluster-wide), or ``None`` when ``metrics_port`` is 0."""
    if not settings.metrics_port:
        return None
    from workers.pool import die_with_parent

    return subprocess.Popen(
        [sys.executable, "-m", "moderation", "metrics"], env=env, preexec_fn=die_with_parent
    )


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every child, wait for each (30 s), then kill what is left."""
    for proc in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in children:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


# --- worker, webhooks -------------------------------------------------------------------------


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from workers.pool import Pool, default_processes
    from workers.scoring import default_worker_name

    processes = args.processes if args.processes is not None else settings.worker_processes
    if processes <= 0:
        processes = default_processes()
    if processes > 1:
        pool = Pool(processes, base_name=settings.worker_name or default_worker_name())
        pool.install_signal_handlers()
        return pool.run()
    # Imported here: the scorer's libraries load only in the processes that score.
    from moderation.scoring.factory import load_scorer
    from workers.scoring import serve_worker

    scorer = load_scorer(settings)

    async def main() -> None:
        redis = worker_client(settings)
        try:
            await serve_worker(settings, scorer, redis)
        finally:
            await redis.aclose()

    _run_async(main())
    return 0


def cmd_webhooks(settings: Settings, args: argparse.Namespace) -> int:
    from workers.scoring import default_worker_name
    from workers.webhooks import serve_webhooks

    async def main() -> None:
        redis = worker_client(settings)
        try:
            await serve_webhooks(settings, redis, settings.worker_name or default_worker_name())
        finally:
            await redis.aclose()

    _run_async(main())
    return 0


def cmd_archiver(settings: Settings, args: argparse.Namespace) -> int:
    from moderation.record import open_record
    from workers.archiver import serve_archiver
    from workers.scoring import default_worker_name

    async def main() -> None:
        record = await open_record(settings)  # migrates the schema first
        redis = worker_client(settings)
        try:
            await serve_archiver(
                settings, redis, record, settings.worker_name or default_worker_name()
            )
        finally:
            await redis.aclose()
            await record.close()

    _run_async(main())
    return 0


def _run_async(coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop

        uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop is a dependency; keep a plain fallback
        asyncio.run(coro)


# --- run --------------------------------------------------------------------------------------


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """API + worker(s) + (unless MODERATION_REDIS_URL is set) an embedded redis-server."""
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    embedded: EmbeddedRedis | None = None
    url = settings.redis_url
    if url is None:
        embedded = EmbeddedRedis(settings)
        url = embedded.start()
        log.info("embedded redis-server at %s (data in %s)", url, embedded.dir)
    settings = settings.with_overrides(redis_url=url)
    child_env = {**os.environ, "MODERATION_REDIS_URL": url}
    workers: list[subprocess.Popen[bytes]] = []
    # The scoring workers run under a supervisor thread: a dead one is restarted (and logged);
    # one that cannot be restarts no more, its heartbeat lapses and /readyz says so.
    from workers.pool import Pool, die_with_parent
    from workers.scoring import default_worker_name

    pool = Pool(
        max(args.workers or settings.run_workers, 1),
        base_name=settings.worker_name or default_worker_name(),
        env=child_env,
    )
    supervisor = threading.Thread(target=pool.run, name="worker-pool", daemon=True)
    try:
        _print_credentials(settings, data_dir)
        supervisor.start()
        # The record's schema first, once, then its archiver (#12).
        asyncio.run(_migrate(settings))
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "moderation", "archiver"],
                env=child_env,
                preexec_fn=die_with_parent,
            )
        )
        # Endpoints may be registered at run time: the sender always runs (idle without any).
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "moderation", "webhooks"],
                env=child_env,
                preexec_fn=die_with_parent,
            )
        )
        listener = _start_metrics(settings, child_env)
        if listener is not None:
            workers.append(listener)
        os.environ["MODERATION_REDIS_URL"] = url  # the API (same process) reads it at start
        host, port = args.host or settings.host, args.port or settings.port
        print(f"moderation: API on http://{host}:{port}  (Ctrl-C stops everything)", flush=True)
        import uvicorn

        uvicorn.run(
            ASGI_APP,
            factory=True,
            host=host,
            port=port,
            loop="uvloop",
            http="httptools",
            log_level=settings.log_level.lower(),
            access_log=False,
        )
    finally:
        pool.request_stop()
        supervisor.join(timeout=pool.stop_timeout_s + 5)
        _stop_children(workers)
        if embedded is not None:
            embedded.stop()
    return 0


async def _migrate(settings: Settings) -> None:
    from moderation.record import open_record

    record = await open_record(settings)
    await record.close()


def _print_credentials(settings: Settings, data_dir: Path) -> None:
    """First run: create a site and a moderator key and keep them in ``data_dir/credentials``
    (mode 600) so local use needs no extra step. Later runs print where they are."""
    creds = data_dir / "credentials"
    if creds.exists():
        print(f"moderation: API keys for local use are in {creds}", flush=True)
        return

    async def make() -> dict[str, str]:
        redis = api_client(settings)
        try:
            out = {}
            for role in (Role.SITE, Role.MODERATOR, Role.ADMIN):
                out[role.value] = await create_key(
                    redis, Keys(settings.key_prefix), f"local-{role.value}", role
                )
            return out
        finally:
            await redis.aclose()

    made = asyncio.run(make())
    lines = [f"{role}={secret}" for role, secret in made.items()]
    creds.write_text("\n".join(lines) + "\n")
    creds.chmod(0o600)
    print(f"moderation: created local API keys (also saved in {creds}):", flush=True)
    for line in lines:
        print("  " + line, flush=True)
