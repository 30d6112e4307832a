"""The ``moderation`` command: keys, config, and ``run`` as the README's first command."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.settings import Settings
from moderation.store.apikeys import digest_of
from tests.conftest import ROOT, free_port, running_api


async def acli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """:func:`cli` from an async test: in a thread, so the event loop (and the app running on
    it: its pub/sub listener, its metrics flusher) is not stopped while the command runs."""
    return await asyncio.to_thread(cli, *args, env=env)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``moderation ARGS``; ``env`` replaces the environment when it names the data dir (a
    command beside ``moderation run``), else it is added to this one."""
    full = env if env and "MODERATION_DATA_DIR" in env else {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "moderation", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


async def test_keys_create_list_revoke(settings: Settings, rds: Redis) -> None:
    env = {"MODERATION_REDIS_URL": settings.resolved_redis_url()}
    made = await acli(
        "keys", "create", "--role", "site", "--name", "www", "--site", "news-a", env=env
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("mk_site_") and len(secret) > 40
    # Stored hashed: the secret itself appears nowhere in Redis.
    assert await rds.get(Keys().api_key(digest_of(secret))) is not None
    for key in await rds.keys("*"):
        kind = await rds.type(key)
        if kind == b"string":
            assert secret.encode() not in (await rds.get(key) or b"")
        elif kind == b"hash":
            assert secret.encode() not in b"".join((await rds.hgetall(key)).values())

    async with running_api(settings) as api:
        r = await api.client.post(
            "/v1/comments",
            json={"article_id": "a", "text": "hi", "author": {"id": "u", "name": "n"}},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert r.status_code == 202

        again = await acli("keys", "create", "--role", "site", "--name", "www", env=env)
        assert again.returncode == 2 and "already exists" in again.stderr

        listed = await acli("keys", "list", env=env)
        assert "www\tsite" in listed.stdout and secret not in listed.stdout
        assert listed.stdout.startswith("name\trole\tsite\tcreated (UTC)\n")
        when = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
        assert re.search(rf"www\tsite\tnews-a\t{when}", listed.stdout)

        assert (await acli("keys", "revoke", "--name", "www", env=env)).returncode == 0
        r = await api.client.post(
            "/v1/comments",
            json={"article_id": "a", "text": "hi", "author": {"id": "u", "name": "n"}},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert r.status_code == 401
        # Both changes are in the audit trail, naming the operator who ran the command.
        audit = await api.client.get(
            "/v1/moderation/audit",
            params={"target_type": "key", "target": "www"},
            headers=api.auth("admin"),
        )
        entries = [e for e in audit.json()["entries"] if e["target"] == "www"]
        assert [e["action"] for e in entries] == ["key.revoke", "key.create"]
        assert entries[1]["after"] == {"role": "site", "site": "news-a"}
        assert entries[1]["via"] == "cli"
    assert (await acli("keys", "revoke", "--name", "www", env=env)).returncode == 2


async def test_keys_rotate_keeps_the_site(settings: Settings, rds: Redis) -> None:
    """A rotated key belongs to the same site: it reads the old key's comments; the old key
    is revoked."""
    env = {"MODERATION_REDIS_URL": settings.resolved_redis_url()}
    made = await acli(
        "keys", "create", "--role", "site", "--name", "old", "--site", "news-b", env=env
    )
    assert made.returncode == 0, made.stderr
    old = made.stdout.strip()
    refused = await acli(
        "keys", "create", "--role", "moderator", "--name", "m", "--site", "news-b", env=env
    )
    assert refused.returncode == 2 and "site keys only" in refused.stderr
    async with running_api(settings) as api:
        r = await api.client.post(
            "/v1/comments",
            json={"article_id": "a", "text": "hi", "author": {"id": "u", "name": "n"}},
            headers={"Authorization": f"Bearer {old}"},
        )
        assert r.status_code == 202
        rotated = await acli("keys", "rotate", "--name", "old", "--new-name", "new", env=env)
        assert rotated.returncode == 0, rotated.stderr
        new = rotated.stdout.strip()
        mine = await api.client.get(
            f"/v1/comments/{r.json()['id']}", headers={"Authorization": f"Bearer {new}"}
        )
        assert mine.status_code == 200 and mine.json()["site"] == "news-b"
        gone = await api.client.get(
            f"/v1/comments/{r.json()['id']}", headers={"Authorization": f"Bearer {old}"}
        )
        assert gone.status_code == 401


def test_bad_role_is_refused() -> None:
    out = cli("keys", "create", "--role", "root", "--name", "x")
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_config_shows_the_environment() -> None:
    out = cli("config", env={"MODERATION_BATCH_SIZE": "64"})
    assert out.returncode == 0
    assert "| Variable | Value | Source | Default | Meaning |" in out.stdout
    assert "| `MODERATION_BATCH_SIZE` | `64` | environment | `32` |" in out.stdout
    assert "| `MODERATION_BATCH_LINGER_MS` | `20` | default | `20` |" in out.stdout
    bad = cli("config", env={"MODERATION_BATCH_SIZE": "many"})
    assert bad.returncode == 2 and "MODERATION_BATCH_SIZE" in bad.stderr
    typo = cli("config", env={"MODERATION_BATCHSIZE": "64"})
    assert typo.returncode == 2
    assert "MODERATION_BATCHSIZE (did you mean MODERATION_BATCH_SIZE?)" in typo.stderr


async def test_config_shows_the_run_time_policy(settings: Settings, rds: Redis) -> None:
    env = {"MODERATION_REDIS_URL": settings.resolved_redis_url()}
    assert "none set" in cli("config", env=env).stdout
    await rds.hset(Keys().policy, "threshold:insult", "0.7")
    out = cli("config", env=env).stdout
    assert "overrides the settings above" in out and "| `threshold:insult` | `0.7` |" in out


def _start_run(data_dir: Path, port: int, metrics_port: int = 0) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    env.update(
        {
            "MODERATION_METRICS_PORT": str(metrics_port),
            "MODERATION_DATA_DIR": str(data_dir),
            "MODERATION_SCORER": "linear",
            "MODERATION_LOG_LEVEL": "WARNING",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "moderation", "run", "--port", str(port)],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )


def _get_when_up(url: str, timeout: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _own_env(data_dir: Path) -> dict[str, str]:
    """The environment of a command run beside ``moderation run``: its data dir, nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    env["MODERATION_DATA_DIR"] = str(data_dir)
    return env


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "moderation run exited early"
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("moderation run never became ready")


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise


@pytest.mark.slow
def test_run_starts_everything_and_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    metrics_port = free_port()
    proc = _start_run(data_dir, port, metrics_port)
    try:
        _wait_ready(base, proc)
        creds = dict(line.split("=", 1) for line in (data_dir / "credentials").read_text().split())
        assert set(creds) == {"site", "moderator", "admin"}
        assert (data_dir / "credentials").stat().st_mode & 0o777 == 0o600
        r = httpx.post(
            base + "/v1/comments?wait=5",
            json={
                "article_id": "run-1",
                "text": "Works out of the box.",
                "author": {"id": "u1", "name": "Una"},
            },
            headers={"Authorization": f"Bearer {creds['site']}"},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        assert r.json()["status"] == "approved"
        assert r.json()["model"]["degraded"] is False  # linear chosen explicitly
        # The other commands find the service's own Redis the way `run` does (same data dir).
        stats = cli("stats", "--json", env=_own_env(data_dir))
        assert stats.returncode == 0, stats.stderr
        assert json.loads(stats.stdout)["queue"]["stream_length"] == 1
        listed = cli("keys", "list", env=_own_env(data_dir))
        assert listed.returncode == 0 and "moderator" in listed.stdout
        # /metrics: on the localhost listener run started, not on the API's port.
        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 404
        scraped = _get_when_up(f"http://127.0.0.1:{metrics_port}/metrics")
        assert "moderation_comments_accepted_total 1.0" in scraped.text
    finally:
        code = _stop(proc)
    assert code == 0
    # With the service stopped there is no Redis of ours: say so, never guess at another.
    gone = cli("stats", env=_own_env(data_dir))
    assert gone.returncode == 2
    assert "MODERATION_REDIS_URL is not set" in gone.stderr
    assert "moderation run" in gone.stderr
    assert (data_dir / "redis" / "appendonlydir").is_dir() or any(
        p.name.startswith("appendonly") for p in (data_dir / "redis").iterdir()
    )
    # No orphans: the embedded redis-server is gone with its socket's owner.
    assert (
        subprocess.run(
            ["pgrep", "-f", str(data_dir / "redis" / "redis.sock")], capture_output=True
        ).returncode
        != 0
    )

    # A second start finds the same data (AOF) and the same keys.
    proc = _start_run(data_dir, port)
    try:
        _wait_ready(base, proc)
        got = httpx.get(
            f"{base}/v1/comments/{cid}",
            headers={"Authorization": f"Bearer {creds['site']}"},
            timeout=5,
        )
        assert got.status_code == 200 and got.json()["status"] == "approved"
        counts = httpx.get(f"{base}/v1/counts", params={"article": "run-1"}, timeout=5)
        assert counts.json() == {"counts": {"run-1": 1}}
    finally:
        assert _stop(proc) == 0
