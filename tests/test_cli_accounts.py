"""``moderation accounts``: create (password on stdin, or a printed one-time link), list,
disable / enable, link, password; each change audited with the operator's name, and a
disabled account signed out of the running API on its next request."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from moderation.settings import Settings
from tests.conftest import ROOT, free_port, running_api
from tests.test_cli import _own_env, _start_run, _stop, _wait_ready, cli

PASSWORD = "a long enough password"


def _cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moderation", "accounts", *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


async def acli(
    *args: str, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    # In a thread: the app on this test's event loop keeps serving while the command runs.
    return await asyncio.to_thread(_cli, *args, env=env, stdin=stdin)


async def test_accounts_commands(settings: Settings) -> None:
    env = {"MODERATION_REDIS_URL": settings.resolved_redis_url()}
    made = await acli(
        "create", "--name", "kim", "--role", "admin", "--password-stdin", env=env,
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stdout == ""  # a password was given: no link printed
    linked = await acli("create", "--name", "lee", "--base-url", "https://mod.example/", env=env)
    assert linked.returncode == 0, linked.stderr
    url = linked.stdout.strip()
    assert url.startswith("https://mod.example/moderate/login/link?token=")
    again = await acli("create", "--name", "kim", env=env)
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = await acli("create", "--name", "x", "--role", "site", env=env)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr

    async with running_api(settings) as api:
        transport = api.client._transport
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as browser:
            r = await browser.post("/moderate/login", data={"name": "kim", "password": PASSWORD})
            assert r.status_code == 303
            assert (await browser.get("/moderate/accounts")).status_code == 200
            listed = await acli("list", env=env)
            assert listed.stdout.startswith(
                "name\trole\tstate\tpassword\tcreated (UTC)\tsessions\n"
            )
            assert "kim\tadmin\tactive\tyes\t" in listed.stdout
            assert listed.stdout.split("kim\t", 1)[1].split("\n")[0].endswith("\t1")
            assert "lee\tmoderator\tactive\tno\t" in listed.stdout

            assert (await acli("disable", "--name", "kim", env=env)).returncode == 0
            assert (await browser.get("/moderate/accounts")).status_code == 303
            assert "kim\tadmin\tdisabled" in (await acli("list", env=env)).stdout
            assert (await acli("enable", "--name", "kim", env=env)).returncode == 0

        async with httpx.AsyncClient(transport=transport, base_url="http://t") as browser:
            parts = urlsplit(url)
            token = parts.query.split("token=")[1]
            r = await browser.post("/moderate/login/link", data={"token": token})
            assert r.status_code == 303
            assert (await browser.get("/moderate/queue")).status_code == 200

        changed = await acli("password", "--name", "lee", env=env, stdin=PASSWORD + "\n")
        assert changed.returncode == 0, changed.stderr
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as browser:
            r = await browser.post("/moderate/login", data={"name": "lee", "password": PASSWORD})
            assert r.status_code == 303
        fresh = await acli("link", "--name", "lee", env=env)
        assert fresh.returncode == 0 and "/moderate/login/link?token=" in fresh.stdout
        missing = await acli("disable", "--name", "nobody", env=env)
        assert missing.returncode == 2 and "no account named" in missing.stderr

        trail = await api.client.get(
            "/v1/moderation/audit",
            params={"target_type": "account", "target": "kim"},
            headers=api.auth("admin"),
        )
        entries = trail.json()["entries"]
        assert [e["action"] for e in entries] == [
            "account.enable", "account.disable", "account.create",
        ]  # fmt: skip
        assert all(e["via"] == "cli" and e["role"] == "operator" for e in entries)


@pytest.mark.slow
def test_accounts_beside_an_embedded_run(tmp_path: Path) -> None:
    """Beside ``moderation run`` the command finds the service's own Redis (same data dir), and
    the link it prints under --base-url signs in on that service."""
    data_dir = tmp_path / "var"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start_run(data_dir, port)
    try:
        _wait_ready(base, proc)
        env = _own_env(data_dir)
        made = cli("accounts", "create", "--name", "ola", "--base-url", base, env=env)
        assert made.returncode == 0, made.stderr
        url = made.stdout.strip()
        assert url.startswith(f"{base}/moderate/login/link?token=")
        with httpx.Client(base_url=base, timeout=10) as browser:
            token = url.split("token=")[1]
            r = browser.post("/moderate/login/link", data={"token": token, "password": PASSWORD})
            assert r.status_code == 303
            assert browser.get("/moderate/queue").status_code == 200
        listed = cli("accounts", "list", env=env)
        assert "ola\tmoderator\tactive\tyes\t" in listed.stdout
        assert listed.stdout.rstrip().endswith("\t1")  # her one session
    finally:
        assert _stop(proc) == 0
