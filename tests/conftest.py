"""Shared fixtures: a real redis-server per session (and per fault test), the ASGI app over
real HTTP semantics (httpx + ASGITransport, lifespan run), in-process and subprocess workers.

No fakes: every test talks to a redis-server binary started here on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from moderation.app import create_app
from moderation.keys import Keys
from moderation.messages import Role
from moderation.scoring.linear import LinearScorer
from moderation.settings import Settings
from moderation.store.apikeys import create_key
from moderation.store.embedded import SERVER_TUNING, find_redis_server
from workers.scoring import ScoringWorker

ROOT = Path(__file__).resolve().parent.parent
#: Fixtures of the Detoxify tests (synthetic releases served over HTTP, pulled models).
pytest_plugins = ["tests.detoxify_support", "tests.record_support"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A redis-server process on a free port that tests may stop and restart."""

    def __init__(self, *, appendonly: bool = False, appendfsync: str = "always") -> None:
        self.binary = find_redis_server(os.environ.get("MODERATION_REDIS_SERVER", ""))
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="mod-redis-"))
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--appendfsync",
                self.appendfsync,
                "--dir",
                str(self.dir),
                "--maxmemory-policy",
                "noeviction",
                *SERVER_TUNING,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_timeout=0.5).ping():
                    return
            except redis.RedisError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A private redis-server for tests that stop or restart it."""
    server = RedisServer(appendonly=True)
    server.start()
    yield server
    server.cleanup()


METRICS_TOKEN = "metrics-test-token"
METRICS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def make_settings(url: str, **overrides: Any) -> Settings:
    base = Settings(
        redis_url=url,
        scorer="linear",
        heartbeat_interval_s=0.2,
        heartbeat_ttl_s=2.0,
        block_ms=100,
        batch_linger_ms=5,
        reclaim_idle_ms=500,
        reclaim_interval_s=0.2,
        key_cache_ttl_s=0.0,
        # /metrics on the API port behind a token (tests send METRICS_AUTH); no localhost
        # listener, whose fixed port tests running side by side would fight over.
        metrics_token=METRICS_TOKEN,
        metrics_port=0,
        # Flood control off: tests post many comments as one author; test_spam_flood turns
        # it on.
        flood_author_interval_s=0.0,
        flood_ip_interval_s=0.0,
        # One process per `moderation worker` child: the pool tests ask for more.
        worker_processes=1,
        # Production's 0.5 s fail-fast timeout is for a Redis on its own cores; here a test's
        # Redis shares two with the test, its API and worker subprocesses starting up, and one
        # reply slower than 0.5 s answered a whole burst of reads 503 (a CI run failed on it).
        # The tests of that behaviour (test_faults) set their own timeouts.
        redis_timeout_s=2.0,
    )
    return base.with_overrides(**overrides)


@pytest.fixture
def settings(redis_server: RedisServer) -> Iterator[Settings]:
    redis.Redis(port=redis_server.port).flushall()
    yield make_settings(redis_server.url)


@pytest.fixture
async def rds(settings: Settings) -> AsyncIterator[AsyncRedis]:
    client = AsyncRedis.from_url(settings.resolved_redis_url())
    yield client
    await client.aclose()


@pytest.fixture
def keys(settings: Settings) -> Keys:
    return Keys(settings.key_prefix)


class Api:
    """An httpx client bound to the app plus the API keys a test needs."""

    #: The app's transport, for other clients of the same app (the Python client library).
    transport: httpx.AsyncBaseTransport | None = None

    def __init__(self, client: httpx.AsyncClient, site: str, moderator: str, admin: str) -> None:
        self.client = client
        self.site_key = site
        self.moderator_key = moderator
        self.admin_key = admin

    def auth(self, role: str = "site") -> dict[str, str]:
        key = {"site": self.site_key, "moderator": self.moderator_key, "admin": self.admin_key}
        return {"Authorization": f"Bearer {key[role]}"}

    async def post_comment(
        self,
        body: dict[str, Any],
        *,
        wait: float | None = None,
        role: str = "site",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        params = {"wait": str(wait)} if wait is not None else None
        return await self.client.post(
            "/v1/comments", json=body, params=params, headers={**self.auth(role), **(headers or {})}
        )

    async def get_as_a_client_would(
        self, path: str, *, role: str = "site", give_up_after_s: float = 30.0
    ) -> httpx.Response:
        """GET ``path``, waiting out 503 + Retry-After as a site's client does.

        For tests that assert what is stored, not how the API rides out a stall: on a loaded
        machine one Redis reply slower than the fail-fast timeout makes the API answer 503 for a
        moment, by design (tests/test_faults.py asserts that behaviour)."""
        deadline = time.monotonic() + give_up_after_s
        while True:
            r = await self.client.get(path, headers=self.auth(role))
            if r.status_code != 503 or time.monotonic() > deadline:
                return r
            await asyncio.sleep(float(r.headers.get("retry-after", "1")))


@contextlib.asynccontextmanager
async def running_api(settings: Settings, *, create_keys: bool = True) -> AsyncIterator[Api]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        redis_client = app.state.redis
        k = Keys(settings.key_prefix)
        site = mod = adm = "mk_unset"
        if create_keys:
            site = await create_key(redis_client, k, f"site-{os.urandom(4).hex()}", Role.SITE)
            mod = await create_key(redis_client, k, f"mod-{os.urandom(4).hex()}", Role.MODERATOR)
            adm = await create_key(redis_client, k, f"admin-{os.urandom(4).hex()}", Role.ADMIN)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            bound = Api(client, site, mod, adm)
            bound.transport = transport
            yield bound


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with running_api(settings) as a:
        yield a


_scorer: LinearScorer | None = None


def linear_scorer() -> LinearScorer:
    global _scorer
    if _scorer is None:
        _scorer = LinearScorer()
    return _scorer


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, name: str = "w1", **kw: Any
) -> AsyncIterator[ScoringWorker]:
    client = AsyncRedis.from_url(settings.resolved_redis_url())
    worker = ScoringWorker(
        settings, client, kw.pop("scorer", None) or linear_scorer(), name=name, **kw
    )
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 15)
        await client.aclose()


@pytest.fixture
async def worker(settings: Settings) -> AsyncIterator[ScoringWorker]:
    async with running_worker(settings) as w:
        yield w


def comment(
    article: str = "a1",
    text: str = "A thoughtful reply about the budget.",
    author: str = "u1",
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "article_id": article,
        "text": text,
        "author": {"id": author, "name": f"Reader {author}"},
    }
    body.update(extra)
    return body


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll an async predicate until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


#: For the benches that start the service (``bench.soak.started_service``): these machines'
#: disks sometimes hold an ``fsync`` for most of a second. Under ``appendfsync always`` Redis
#: answers nothing meanwhile, and the API, after ``MODERATION_REDIS_TIMEOUT_S`` (0.5 s),
#: answers 503 by design (tests/test_faults.py tests that). A bench's test proves the bench
#: works, so the API waits such a stall out.
PATIENT_SERVICE = ("--setting", "MODERATION_REDIS_TIMEOUT_S=5")


def run_bench(*argv: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python *argv`` from the project's root, as a bench is run by hand, with its output
    captured as text and printed (a failing test shows what the bench said)."""
    out = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    print(out.stdout)
    return out


def worker_subprocess(settings: Settings, **overrides: Any) -> subprocess.Popen[bytes]:
    """``moderation worker`` in a child process (so tests can SIGKILL or SIGTERM it). Its
    output goes to a file of its own (named on stderr, so a failing test's captured output
    says where to look): a pipe nobody reads would stop the worker once the pipe is full."""
    env = {
        **os.environ,
        **settings_env(settings.with_overrides(**overrides)),
        "PYTHONUNBUFFERED": "1",
    }
    with tempfile.NamedTemporaryFile(
        "wb", prefix="moderation-worker-", suffix=".log", delete=False
    ) as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moderation", "worker"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    print(f"worker pid {proc.pid} logs to {log.name}", file=sys.stderr)
    return proc


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process read ``settings``: every field that differs
    from the default, rendered as ``moderation config`` would."""
    from dataclasses import fields

    from moderation.settings_doc import render_value

    defaults = Settings()
    env = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if value != getattr(defaults, f.name) and value is not None:
            env["MODERATION_" + f.name.upper()] = render_value(value)
    return env


@contextlib.contextmanager
def served_api(settings: Settings, *extra: str) -> Iterator[str]:
    """A real uvicorn serving the app in a child process; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        **settings_env(settings),
        "PYTHONUNBUFFERED": "1",
        "MODERATION_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "moderation", "serve", "--port", str(port), *extra],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
