"""bench/load.py runs end to end (briefly): a benchmark that cannot run is a broken one."""

from __future__ import annotations

import subprocess
import sys

import pytest
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import Role
from moderation.settings import Settings
from moderation.store.apikeys import create_key
from tests.conftest import ROOT, run_bench, running_worker, served_api


@pytest.mark.slow
def test_load_benchmark_runs_and_verifies() -> None:
    out = run_bench("bench/load.py", "--quick", "-n", "300", "-c", "16", timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verified: every comment has exactly one decision" in out.stdout
    assert "comments/s" in out.stdout


@pytest.mark.slow
async def test_load_benchmark_against_a_running_service(settings: Settings, rds: Redis) -> None:
    import asyncio

    key = await create_key(rds, Keys(), "bench-site", Role.SITE)
    with served_api(settings) as base:
        async with running_worker(settings.with_overrides(batch_size=64)):
            out = await asyncio.to_thread(
                subprocess.run,
                [
                    sys.executable,
                    "bench/load.py",
                    "-n",
                    "200",
                    "-c",
                    "8",
                    "--articles",
                    "20",
                    "--url",
                    base,
                    "--site-key",
                    key,
                    "--redis-url",
                    settings.resolved_redis_url(),
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verified: every comment has exactly one decision" in out.stdout
    assert f"service at {base}" in out.stdout
