"""bench/growth.py on tiny sizes: both phases run through the real service and print their
tables. It proves the script works; the figures are not asserted."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_growth_bench_measures_every_size() -> None:
    args = ["--sizes", "300,600", "--held", "50,120", "--ingest", "100", "--requests", "20",
            "--articles", "200"]  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "bench.growth", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    print(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("| 300 |") for line in lines)
    assert any(line.startswith("| 600 |") for line in lines)
    held_rows = [line for line in lines if line.startswith("| ") and "/" in line.split("|")[2]]
    assert len(held_rows) >= 2 + 2  # two stored sizes, two held sizes
    assert "worsening 300 → 600" in out.stdout
    assert "command: python -m bench.growth" in out.stdout
