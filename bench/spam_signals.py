"""What the spam scorer adds to a worker batch, per comment (target: ≤ 2 ms at p99).

Runs ``SpamScorer.score`` on batches of real comments (the YouTube and SMS collections under
``../shared/data`` when present, else generated text) against a real Redis (a private
``redis-server`` unless ``--redis-url``), with a trained model and a filled near-duplicate
index, exactly as a worker calls it. Reports, per comment:

* the batch's wall time divided by its size (what each comment adds to a batch), p50/p95/p99
  over batches;
* the pure computation of one comment (signals, tokens, features, MinHash), p50/p99 over
  comments, and the longest comments separately (up to ``max_text_chars``);
* baselines measured in the same run: the worker's own text normalisation per comment, and one
  Redis round trip, so the figures can be compared across machines as ratios.

    python bench/spam_signals.py [--batches 200] [--batch-size 32] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redis.asyncio import Redis  # noqa: E402

from moderation.evaluation.datasets import load  # noqa: E402
from moderation.ids import new_id  # noqa: E402
from moderation.keys import Keys  # noqa: E402
from moderation.messages import Author, CommentRecord, Context  # noqa: E402
from moderation.normalize import normalize  # noqa: E402
from moderation.settings import Settings  # noqa: E402
from moderation.spam import SpamInput, SpamScorer  # noqa: E402
from moderation.spam.feedback import record_feedback  # noqa: E402
from moderation.store.embedded import temporary_redis  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def corpus() -> list[tuple[str, bool]]:
    paths = [DATA / "youtube-spam-collection", DATA / "sms-spam-collection"]
    if all(p.exists() for p in paths):
        return [(c.text, c.is_spam) for c in load(paths)]
    rng = random.Random(1)
    words = ["the", "council", "budget", "vote", "check", "out", "my", "channel", "free", "win"]
    return [
        (" ".join(rng.choices(words, k=rng.randint(3, 60))), rng.random() < 0.3)
        for _ in range(2000)
    ]


def adversarial(size: int) -> dict[str, str]:
    """Inputs that make careless regular expressions backtrack (one long word, endless dots,
    digits, look-alike letters, obfuscation patterns repeated)."""
    units = {
        "one long word": "a",
        "dots": "a.",
        "at signs": "a@",
        "digits": "1",
        "spaced digits": "1 ",
        "hyphens": "a-",
        "spaced dot com": "x. com ",
        "bracket dots": "a[.]",
        "address-like": "ab.cd@ef.gh ",
        "hxxp": "hxxp://a.b ",
        "spaced http": "h t t p : / / ",
        "cyrillic": "привет мир ",
        "salted latin": "frее ",
        "zero width": "a\u200b",
        "full width": "ｆ",
        "emoji": "😀",
    }
    return {name: (unit * (size // len(unit) + 1))[:size] for name, unit in units.items()}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def record(text: str, n: int, now: int) -> CommentRecord:
    return CommentRecord(
        id=new_id(now + n),
        article_id=f"article-{n % 50}",
        text=text,
        author=Author(id=f"author-{n % 400}", name="x"),
        created_at=now + n,
        site="bench",
        context=Context(ip=f"198.51.100.{n % 200}", page_loaded_at=now + n - 30_000),
    )


async def run(url: str, batches: int, size: int) -> None:
    settings = Settings(redis_url=url, key_prefix=f"bench-spam-{random.randrange(10**6)}")
    keys = Keys(settings.key_prefix)
    redis = Redis.from_url(url)
    scorer = SpamScorer(redis, keys, settings)
    texts = corpus()
    rng = random.Random(7)
    now = int(time.time() * 1000)

    # A model that has learned (weights to read) and a duplicate index with content.
    for n, (text, is_spam) in enumerate(rng.sample(texts, min(600, len(texts)))):
        r = record(text, n, now)
        await scorer.score([SpamInput(r, normalize(text))])
        await record_feedback(redis, keys, r, "spam" if is_spam else "ham", settings=settings)

    # Baselines: a Redis round trip, and the worker's own normalisation.
    pings = []
    for _ in range(200):
        t = time.perf_counter()
        await redis.ping()
        pings.append(time.perf_counter() - t)

    per_comment_batch: list[float] = []
    normalise: list[float] = []
    offset = 10_000
    for b in range(batches):
        chosen = [rng.choice(texts)[0] for _ in range(size)]
        records = [record(t, offset + b * size + i, now) for i, t in enumerate(chosen)]
        t0 = time.perf_counter()
        items = [SpamInput(r, normalize(r.text)) for r in records]
        normalise.append((time.perf_counter() - t0) / size)
        t1 = time.perf_counter()
        await scorer.score(items)
        per_comment_batch.append((time.perf_counter() - t1) / size)

    # Pure computation of single comments, and the longest ones the API accepts.
    pure: list[float] = []
    for text, _ in rng.sample(texts, min(2000, len(texts))):
        item = SpamInput(record(text, 0, now), normalize(text))
        t = time.perf_counter()
        scorer._prepare(item)
        pure.append(time.perf_counter() - t)
    long_text = " ".join(t for t, _ in rng.sample(texts, 200))[: settings.max_text_chars]
    long_items = [SpamInput(record(long_text, i, now), normalize(long_text)) for i in range(20)]
    long_pure = []
    for item in long_items:
        t = time.perf_counter()
        scorer._prepare(item)
        long_pure.append(time.perf_counter() - t)
    t = time.perf_counter()
    await scorer.score(long_items)
    long_batch = (time.perf_counter() - t) / len(long_items)

    # Adversarial texts of the maximum length: regular expressions must stay linear.
    worst, worst_name = 0.0, ""
    for name, text in adversarial(settings.max_text_chars).items():
        item = SpamInput(record(text, 0, now), normalize(text))
        t = time.perf_counter()
        scorer._prepare(item)
        spent = time.perf_counter() - t
        if spent > worst:
            worst, worst_name = spent, name

    ms = 1000.0
    p99 = percentile(per_comment_batch, 99) * ms
    ping = statistics.median(pings) * ms
    norm = statistics.median(normalise) * ms
    print(f"spam signals bench: {batches} batches of {size} real comments, redis {url}")
    print(
        f"  added per comment in a batch: p50 {percentile(per_comment_batch, 50) * ms:.3f} ms  "
        f"p95 {percentile(per_comment_batch, 95) * ms:.3f} ms  p99 {p99:.3f} ms  (target ≤ 2 ms)"
    )
    print(
        f"  pure computation per comment: p50 {percentile(pure, 50) * ms:.3f} ms  "
        f"p99 {percentile(pure, 99) * ms:.3f} ms"
    )
    print(
        f"  {len(long_text)}-character comments: pure {statistics.median(long_pure) * ms:.3f} ms, "
        f"in a batch {long_batch * ms:.3f} ms per comment"
    )
    print(
        f"  worst adversarial {settings.max_text_chars}-character text: {worst * ms:.1f} ms "
        f"({worst_name})"
    )
    print(f"  baselines: redis round trip {ping:.3f} ms, normalize() per comment {norm:.3f} ms")
    print(
        f"  ratios: p99 per comment = {p99 / ping:.1f}× a round trip = "
        f"{p99 / norm:.1f}× normalize(); batch of {size} = {p99 * size / ping:.0f} round trips"
    )
    await _cleanup(redis, settings.key_prefix)
    await redis.aclose()


async def _cleanup(redis: Redis, prefix: str) -> None:
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        await redis.unlink(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    if args.redis_url:
        asyncio.run(run(args.redis_url, args.batches, args.batch_size))
    else:
        with temporary_redis() as url:
            asyncio.run(run(url, args.batches, args.batch_size))


if __name__ == "__main__":
    main()
