"""The queue-page benchmark runs (its figures are reported, never asserted)."""

from __future__ import annotations

from tests.conftest import run_bench


def test_queue_page_benchmark_runs() -> None:
    # More comments than the bench has readers (120): each posts several, as in a real run.
    out = run_bench("bench/queue_page.py", "--comments", "130", "--runs", "2", timeout=120)
    assert out.returncode == 0, out.stderr
    assert "queue page, 130 items:" in out.stdout
    assert "p95" in out.stdout
