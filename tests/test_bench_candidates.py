"""bench/candidates.py counts chance near-duplicate candidates per corpus, and the generated
text the benchmarks post overlaps far less than the corpora they used to."""

from __future__ import annotations

import random

from bench.candidates import chance
from moderation.evaluation.corpus import news_comments, news_stream_text
from moderation.settings import Settings
from tests.conftest import ROOT, run_bench


def test_the_candidates_bench_prints_a_row_per_corpus() -> None:
    run = run_bench(
        "bench/candidates.py", "-n", "300", "--data", str(ROOT / "missing"), timeout=120
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "Command:" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "corpus" not in line]
    assert len(rows) == 5  # the generated corpora; no real data at that path
    assert any(line.startswith("| news_stream_text") for line in rows)


def test_news_text_gives_few_chance_candidates_and_no_near_duplicates() -> None:
    settings = Settings()
    rng = random.Random(3)
    compared, pairs, close = chance([news_stream_text(rng) for _ in range(2000)], settings)
    assert compared > 1900
    assert close == 0.0
    # Sentences recombined (the pipeline bench's former long comments) give far more.
    _, old_pairs, old_close = chance(news_comments(2000, seed=3), settings)
    assert pairs * 20 < old_pairs and old_close > 0
