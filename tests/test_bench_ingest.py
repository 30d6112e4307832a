"""bench/ingest.py runs (briefly) and prints its figures: a benchmark that cannot run is a
broken one. It asserts the figures are there and that no request failed, never a time."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import run_bench


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_ingest_benchmark_runs_and_prints_its_figures() -> None:
    out = run_bench("bench/ingest.py", "-d", "1", "-r", "1", "-c", "4", timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    for heading in ("POST /v1/comments", "GET /v1/counts (50)"):
        assert heading in text
    assert text.count("req/s") == 4  # service and bare, for each endpoint
    assert text.count("errors 0") == 4
    assert text.count("ratio service/bare") == 2
    assert "command: python bench/ingest.py -d 1 -r 1 -c 4" in text
    assert "wrk -t1 -c4 -d1s" in text
