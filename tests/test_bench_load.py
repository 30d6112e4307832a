"""bench/load.py runs end to end (briefly): a benchmark that cannot run is a broken one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_load_benchmark_runs_and_verifies() -> None:
    out = subprocess.run(
        [sys.executable, "bench/load.py", "--quick", "-n", "300", "-c", "16"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verified: every comment has exactly one decision" in out.stdout
    assert "comments/s" in out.stdout
