"""The queue-page benchmark runs (its figures are reported, never asserted)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_queue_page_benchmark_runs() -> None:
    out = subprocess.run(
        # More comments than the bench has readers (120): each posts several, as in a real run.
        [sys.executable, "bench/queue_page.py", "--comments", "130", "--runs", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "queue page, 130 items:" in out.stdout
    assert "p95" in out.stdout
