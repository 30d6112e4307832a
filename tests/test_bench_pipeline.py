"""bench/pipeline.py runs end to end on a small stream and prints every figure it promises."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def run_bench(*args: str) -> str:
    """``bench/pipeline.py`` with ``args``: what it printed (it must exit 0)."""
    return subprocess.run(
        [sys.executable, "bench/pipeline.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


def test_the_pipeline_bench_runs_on_200_comments() -> None:
    out = run_bench("-n", "200", "--api-sample", "20", "--top", "5")
    assert "command:" in out
    assert "decisions/s" in out
    assert "µs/comment" in out and "commands/comment" in out
    assert "ingest via the API" in out
    assert "profile (top 5" in out


def test_the_pipeline_bench_runs_more_rounds_without_the_duplicate_index() -> None:
    out = run_bench(
        "-n", "100", "--api-sample", "0", "--no-profile", "--rounds", "2",
        "--no-duplicates", "--processes", "1",
    )  # fmt: skip
    assert "near-duplicate index off" in out
    assert "round 2 (200 comments posted):" in out and "decisions/s" in out
    assert "corpus: news" in out


def test_the_pipeline_bench_posts_the_campaign_stream_when_asked() -> None:
    out = run_bench("-n", "120", "--api-sample", "0", "--no-profile", "--corpus", "campaign")
    assert "corpus: campaign" in out and "decisions/s" in out
