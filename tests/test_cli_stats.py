"""``moderation stats``: the figures in a terminal, as JSON, refreshing, and a clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from moderation.settings import Settings
from tests.conftest import ROOT, Api, comment, free_port, running_worker, wait_for


def stats(*args: str, url: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    env["MODERATION_REDIS_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "moderation", "stats", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def test_the_table_and_the_json_show_the_same_figures(api: Api, settings: Settings) -> None:
    for i in range(3):
        await api.post_comment(
            comment(text="you are a fucking idiot" if i == 0 else f"fine {i}", author=f"c{i}")
        )
    async with running_worker(settings, name="cli-w"):

        async def drained() -> bool:
            r = await api.client.get("/v1/stats", headers=api.auth("moderator"))
            return r.json()["queue"]["undecided"] == 0

        await wait_for(drained)
        url = settings.resolved_redis_url()
        as_json = stats("--json", url=url)
        table = stats(url=url)
    assert as_json.returncode == 0 and table.returncode == 0, as_json.stderr + table.stderr
    doc = json.loads(as_json.stdout)
    assert doc["decisions"]["auto"] == {"approved": 2, "held": 1, "rejected": 0}
    lines = {
        line.split("  ")[1].strip() if line.startswith("  ") else line: line
        for line in table.stdout.splitlines()
    }
    assert lines["approved / held / rejected"].rstrip().endswith("2 / 1 / 0")
    assert "toxicity:toxicity 1" in lines["why (held or rejected)"]
    assert lines["stream length"].rstrip().endswith("3")
    assert any(
        line.startswith("cli-w") and line.endswith("ok") for line in table.stdout.splitlines()
    )


def test_watch_refreshes(settings: Settings) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    env["MODERATION_REDIS_URL"] = settings.resolved_redis_url()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moderation", "stats", "--watch", "0.2"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    assert out.count("moderation stats — ") >= 3  # one header per refresh
    assert out.count("\x1b[H\x1b[2J") >= 3  # the screen is redrawn, not appended to


def test_redis_down_is_a_clear_error_not_a_traceback() -> None:
    out = stats(url=f"redis://127.0.0.1:{free_port()}/0")
    assert out.returncode == 1
    assert "is unreachable" in out.stderr and "Traceback" not in out.stderr
