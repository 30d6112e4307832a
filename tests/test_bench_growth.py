"""bench/growth.py on tiny sizes: both phases run through the real service and print their
tables. It proves the script works; the figures are not asserted."""

from __future__ import annotations

import pytest

from tests.conftest import PATIENT_SERVICE, run_bench


@pytest.mark.slow
def test_growth_bench_measures_every_size() -> None:
    args = ["--sizes", "300,600", "--held", "50,120", "--ingest", "100", "--ingest-runs", "2",
            "--requests", "20", "--articles", "200", *PATIENT_SERVICE]  # fmt: skip
    out = run_bench("-m", "bench.growth", *args, timeout=280)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("| 300 |") for line in lines)
    assert any(line.startswith("| 600 |") for line in lines)
    held_rows = [line for line in lines if line.startswith("| ") and "/" in line.split("|")[2]]
    assert len(held_rows) >= 2 + 2  # two stored sizes, two held sizes
    assert "worsening 300 → 600" in out.stdout
    # Each size's rounds alternate between the grown store and the baseline: two bursts each.
    for store in ("grown", "baseline"):
        bursts = [line for line in lines if line.strip().startswith(f"{store} ingest bursts:")]
        assert len(bursts) == 2 and all(line.count("req/s") == 1 for line in bursts)
        assert all(len(line.split(":")[1].split(" / ")) == 2 for line in bursts)
    # The baseline stays at the smallest size plus its own bursts (2 × 100 per size): as the
    # rounds at 600 began, it held 300 + 200.
    assert any(line.startswith("| 300 |") and "| 300, " in line for line in lines), out.stdout
    assert any(line.startswith("| 600 |") and "| 500, " in line for line in lines), out.stdout
    assert "(the noise floor)" in out.stdout
    # The held phase's baseline holds the smallest size, measured beside each size.
    assert any(line.startswith("| 120 |") and "| 50, " in line for line in lines), out.stdout
    assert "worsening 50 → 120 held, the largest size against the baseline" in out.stdout
    assert "command: python -m bench.growth" in out.stdout
