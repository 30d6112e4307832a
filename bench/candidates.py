"""How many near-duplicate candidates a corpus gives by chance: is a bench's text like real text?

The near-duplicate index (``moderation.spam.duplicates``) costs a worker in proportion to the
candidates each comment finds: comments sharing a band bucket with it in the window, most of
them unrelated texts whose character 4-grams happen to agree in one band. How many depends on
how much unrelated texts of a corpus overlap, so a benchmark whose generated text overlaps far
more than real comments do measures a heavier index than a newsroom runs.

For each corpus this script takes ``-n`` texts, computes their signatures and band keys exactly
as the scorer does (normalised, tokenised, 4-gram MinHash, ``spam_dup_min_chars``), and prints
per text: the *candidate pairs* (texts sharing at least one band bucket; buckets of more than
400 texts, a campaign's, are left out as the scorer's per-band cap would) and the *near
duplicates* among them (estimated similarity at or above ``spam_dup_similarity``). Candidates
per text grow in proportion to the texts in the window, so compare corpora at the same ``-n``.

Real text comes from ``../shared/data`` when it is there (``--data``; it is not part of the
project): three tweets of the Davidson set joined per comment, and three SMS messages of the SMS
Spam Collection joined (news-comment length, real language), and the YouTube spam collection as
it is (a real stream with campaigns in it).

    python bench/candidates.py               # 8,000 texts per corpus
    python bench/candidates.py -n 500        # a smoke run (tests/test_bench_candidates.py)
"""

from __future__ import annotations

import argparse
import csv
import itertools
import random
import shlex
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moderation.evaluation.corpus import (  # noqa: E402
    news_comments,
    news_stream_text,
    open_stream_text,
    stream_text,
    varied_prose,
)
from moderation.normalize import normalize_many  # noqa: E402
from moderation.settings import Settings  # noqa: E402
from moderation.spam.features import tokenize_many  # noqa: E402
from moderation.spam.minhash import NUM_PERM, band_keys, signature  # noqa: E402

#: A bucket shared by more texts than this is a campaign's; the scorer reads only the newest
#: few of it (``CANDIDATES_PER_BAND``), so its pairs are not counted.
CAMPAIGN_BUCKET = 400


def chance(texts: Sequence[str], settings: Settings) -> tuple[int, float, float]:
    """(texts compared, candidate pairs per text, near duplicates per text)."""
    tokens = tokenize_many(normalize_many(list(texts)))
    sigs = [
        signature(t.grams)
        for t in tokens
        if len(t.joined) >= settings.spam_dup_min_chars and len(t.grams)
    ]
    if len(sigs) < 2:
        return len(sigs), 0.0, 0.0
    keys = [band_keys(s) for s in sigs]
    pairs: set[tuple[int, int]] = set()
    for band in range(len(keys[0])):
        buckets: defaultdict[bytes, list[int]] = defaultdict(list)
        for i, k in enumerate(keys):
            buckets[k[band]].append(i)
        for members in buckets.values():
            if 1 < len(members) <= CAMPAIGN_BUCKET:
                pairs.update(itertools.combinations(members, 2))
    matrix = np.stack(sigs)
    close = sum(
        1
        for a, b in pairs
        if np.count_nonzero(matrix[a] == matrix[b]) / NUM_PERM >= settings.spam_dup_similarity
    )
    n = len(sigs)
    return n, 2 * len(pairs) / n, 2 * close / n


def generated(n: int, seed: int) -> dict[str, Callable[[], list[str]]]:
    """The generated corpora the benchmarks post (and the one the pipeline bench used to)."""

    def stream(make: Callable[[int, random.Random], str]) -> Callable[[], list[str]]:
        def texts() -> list[str]:
            rng = random.Random(seed)
            return [make(i, rng) for i in range(n)]

        return texts

    def old_pipeline() -> list[str]:
        long = news_comments(max(n // 3, 1), seed=seed)
        rng = random.Random(seed)
        return [
            long[i // 3] if i % 3 == 0 and i // 3 < len(long) else stream_text(i, rng)
            for i in range(n)
        ]

    return {
        "news_stream_text (pipeline, growth)": stream(lambda _, r: news_stream_text(r)),
        "open_stream_text (load, latency)": stream(lambda i, r: open_stream_text(i, r)),
        "varied_prose": stream(lambda _, r: varied_prose(r)),
        "news_comments (storage, scoring)": lambda: news_comments(n, seed=seed),
        "pipeline stream before stop 28": old_pipeline,
    }


def real(n: int, data: Path, seed: int) -> dict[str, Callable[[], list[str]]]:
    """Real corpora from ``data``, those present."""
    out: dict[str, Callable[[], list[str]]] = {}
    davidson = data / "davidson-hate-offensive" / "labeled_data.csv"
    sms = data / "sms-spam-collection" / "SMSSpamCollection"
    youtube = sorted((data / "youtube-spam-collection").glob("*.csv"))

    def joined(items: list[str]) -> list[str]:
        random.Random(seed).shuffle(items)
        return [" ".join(items[i : i + 3]) for i in range(0, min(len(items) - 2, 3 * n), 3)]

    if davidson.is_file():
        out["real: 3 tweets joined (Davidson)"] = lambda: joined(
            [row["tweet"] for row in csv.DictReader(davidson.open(encoding="utf-8"))]
        )
    if sms.is_file():
        out["real: 3 SMS joined"] = lambda: joined(
            [line.split("\t", 1)[-1] for line in sms.open(encoding="utf-8", errors="replace")]
        )
    if youtube:
        out["real: YouTube comments (campaigns in it)"] = lambda: [
            row["CONTENT"] for f in youtube for row in csv.DictReader(f.open(encoding="utf-8"))
        ][:n]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=8000, help="texts per corpus")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = p.parse_args(argv)
    print("Command: " + shlex.join([sys.executable, *sys.argv]), flush=True)
    settings = Settings()
    corpora = {**generated(args.n, args.seed), **real(args.n, args.data, args.seed)}
    print(
        f"| corpus | texts | mean chars | candidate pairs per text | near duplicates per text "
        f"(≥ {settings.spam_dup_similarity}) |"
    )
    print("|---|---|---|---|---|")
    for name, make in corpora.items():
        texts = make()
        compared, pairs, close = chance(texts, settings)
        chars = statistics.fmean(len(t) for t in texts) if texts else 0.0
        print(f"| {name} | {compared:,} | {chars:.0f} | {pairs:.2f} | {close:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
