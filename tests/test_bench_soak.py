"""bench/soak.py, CI-sized: a capacity search in 4 s steps, then 30 s at half of it. No
error response and nothing left undecided; the RSS drift is printed (asserted only by the
long run, where warm-up noise has settled)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import PATIENT_SERVICE, run_bench


@pytest.mark.slow
def test_soak_finds_capacity_and_runs_at_half_of_it_without_errors(tmp_path: Path) -> None:
    summary_path = tmp_path / "soak.json"
    args = ["--seconds", "30", "--step-s", "4", "--start-rate", "50", "--factor", "1.5",
            "--sample-s", "2", "--warmup-s", "8", "--json", str(summary_path),
            *PATIENT_SERVICE]  # fmt: skip
    out = run_bench("-m", "bench.soak", *args, timeout=280)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = json.loads(summary_path.read_text())
    assert summary["errors"] == 0
    assert summary["accepted"] == int(summary["rate_per_s"] * 30)
    assert summary["undecided_after_drain"] == 0
    assert summary["capacity_per_s"] >= 50
    assert len(summary["samples"]) >= 10
    assert summary["redis_bytes_per_comment"] > 0
    assert "RSS after warm-up" in out.stdout and "command: python -m bench.soak" in out.stdout
