"""bench/scoring.py runs (briefly, on the tiny model): a benchmark that cannot run is broken."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import run_bench


@pytest.mark.slow
def test_scoring_benchmark_runs(model_dir: Path) -> None:
    out = run_bench(
        "bench/scoring.py",
        "--model-dir",
        str(model_dir),
        "-n",
        "48",
        "--latency",
        "5",
        "--runtimes",
        "torch,onnx",
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    rows = re.findall(
        r"^scoring runtime=(\S+) device=cpu batch=32 n=48 raw=[\d.]+ e2e=[\d.]+ "
        r"ratio=[\d.]+$",
        out.stdout,
        re.M,
    )
    assert rows == ["torch-fp32", "onnx-fp32"]
    assert "batch-1 latency" in out.stdout and "length planning" in out.stdout
