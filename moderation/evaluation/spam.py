"""``moderation eval spam``: how well the spam scorer does on labelled data, two ways.

* **zero-shot**: comments replayed in time order through the real pipeline (``Store.submit``
  → stream → ``ScoringWorker.process`` in batches of ``batch_size`` → stored decision) with no
  feedback at all: the signals and their priors alone.
* **prequential** (test-then-train): the same replay one comment at a time; after each
  decision the true label is applied as a moderator would (the comment is moved to approved or
  rejected through ``Store.transition``, which also updates the author's history) and fed to
  :func:`moderation.spam.feedback.record_feedback`. Every prediction is made before its label
  is learned, so the figures are out-of-sample throughout, cold start included.

A comment counts as flagged when its spam score reaches the spam threshold in force (the
``spam_threshold`` setting, ``MODERATION_SPAM_THRESHOLD``); toxicity is not scored (a stand-in
scorer returns no labels) because this measures spam alone.

Each mode runs under its own key prefix against a real Redis: ``--redis-url``, or else a
private ``redis-server`` started for the run on a Unix socket in a temporary directory and
stopped afterwards. Keys written to a given Redis are deleted at the end.

Output: a table, segment-by-segment figures of the prequential run (the learning curve in
numbers), a learning-curve PNG, and as the last lines, one per mode, prequential last::

    spam mode=<zero-shot|prequential> n=<N> precision=<p> recall=<r> f1=<f> fpr=<x>
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from moderation.embedded_redis import find_redis_server
from moderation.errors import ConfigError
from moderation.evaluation.datasets import LabelledComment, load
from moderation.ids import new_id
from moderation.keys import Keys
from moderation.messages import Author, CommentRecord, Decision, ModelInfo, Reason, Status
from moderation.queue import Entry
from moderation.settings import Settings
from moderation.spam.feedback import record_feedback
from moderation.store import CommentRef, Store, now_ms

MODES = ("zero-shot", "prequential")
#: Progress bars appear from this many comments on.
PROGRESS_FROM = 200


class _NoToxicity:
    """Stands in for the toxicity model: this evaluation measures spam only."""

    info = ModelInfo(name="none", version="0")
    labels: tuple[str, ...] = ()

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return [{} for _ in texts]


@dataclass(slots=True)
class Outcome:
    """One decision: the score, the threshold in force, the truth."""

    score: float
    threshold: float
    is_spam: bool
    source: str
    text: str
    #: The signal features' contributions to the log-odds and the text's (the explanation).
    why: dict[str, float] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        return self.score >= self.threshold


@dataclass(frozen=True, slots=True)
class Metrics:
    tp: int
    fp: int
    tn: int
    fn: int
    brier: float
    ece: float

    @classmethod
    def of(cls, outcomes: Sequence[Outcome]) -> Metrics:
        tp = sum(o.flagged and o.is_spam for o in outcomes)
        fp = sum(o.flagged and not o.is_spam for o in outcomes)
        fn = sum(not o.flagged and o.is_spam for o in outcomes)
        tn = len(outcomes) - tp - fp - fn
        n = max(len(outcomes), 1)
        brier = sum((o.score - o.is_spam) ** 2 for o in outcomes) / n
        return cls(tp, fp, tn, fn, brier, _ece(outcomes))

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def fpr(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.n if self.n else 0.0


def _ece(outcomes: Sequence[Outcome], bins: int = 10) -> float:
    """Expected calibration error: mean |predicted − observed spam rate| over 10 score bins,
    weighted by how many scores fall in each."""
    if not outcomes:
        return 0.0
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        chunk = [o for o in outcomes if lo <= o.score < hi or (b == bins - 1 and o.score == 1.0)]
        if chunk:
            mean_score = sum(o.score for o in chunk) / len(chunk)
            rate = sum(o.is_spam for o in chunk) / len(chunk)
            total += len(chunk) * abs(mean_score - rate)
    return total / len(outcomes)


@dataclass(slots=True)
class ModeResult:
    mode: str
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def metrics(self) -> Metrics:
        return Metrics.of(self.outcomes)


# --- the replay -------------------------------------------------------------------------------


async def replay(
    data: Sequence[LabelledComment],
    mode: str,
    settings: Settings,
    url: str,
    *,
    progress: bool,
    feedback: str = "all",
) -> ModeResult:
    """Run ``data`` through the real pipeline in one mode; returns every decision's outcome.

    ``feedback`` (prequential only): ``all`` labels every comment after its decision (the
    textbook protocol); ``reviewed`` only what moderators would see in practice: held
    comments, and spam that was published (reported by readers, then removed).
    """
    from tqdm import tqdm

    from workers.scoring import ScoringWorker

    prefix = f"eval-spam-{mode}-{os.getpid()}-{os.urandom(3).hex()}"
    settings = settings.with_overrides(key_prefix=prefix, redis_url=url)
    keys = Keys(prefix)
    redis = Redis.from_url(url, socket_timeout=30)
    result = ModeResult(mode)
    learn = mode == "prequential"
    batch = 1 if learn else settings.batch_size
    started = time.perf_counter()
    try:
        store = Store(redis, keys)
        worker = ScoringWorker(settings, redis, _NoToxicity(), name=f"eval-{mode}")
        await worker.queue.ensure_group()
        bar = tqdm(total=len(data), desc=mode, unit="comment", disable=not progress, leave=False)
        for start in range(0, len(data), batch):
            chunk = data[start : start + batch]
            records = [_record(item) for item in chunk]
            for record in records:
                await store.submit(record, record.id, None, 3600)
            entries: list[Entry] = []
            while len(entries) < len(records):
                got = await worker.queue.read(len(records) - len(entries), 1000, 0)
                if not got:
                    raise RuntimeError("submitted comments did not reach the stream")
                entries.extend(got)
            await worker.process(entries)
            stored = await store.get_many([r.id for r in records])
            for item, record, comment in zip(chunk, records, stored, strict=True):
                if comment is None or comment.decision is None or comment.decision.spam is None:
                    raise RuntimeError(f"comment {record.id} ({item.source}) was not decided")
                decision = comment.decision
                spam = decision.spam
                assert spam is not None
                # A comment whose signals failed is held: count it as flagged.
                score = 1.0 if "error" in spam.signals else spam.score
                threshold = decision.spam_threshold
                result.outcomes.append(
                    Outcome(
                        score,
                        threshold if threshold is not None else settings.spam_threshold,
                        item.is_spam,
                        item.source,
                        item.text,
                        _why(spam.signals),
                    )
                )
                reviewed = comment.status is Status.HELD or item.is_spam
                if learn and (feedback == "all" or reviewed):
                    await _moderate(store, redis, keys, settings, record, comment.status, item)
            bar.update(len(chunk))
        bar.close()
    finally:
        result.seconds = time.perf_counter() - started
        await _delete_prefix(redis, prefix)
        await redis.aclose()
    return result


def _why(signals: dict[str, Any]) -> dict[str, float]:
    parts = signals.get("contributions")
    why = {k: float(v) for k, v in parts.items()} if isinstance(parts, dict) else {}
    if isinstance(signals.get("text_logit"), int | float):
        why["text"] = float(signals["text_logit"])
    return why


def _record(item: LabelledComment) -> CommentRecord:
    return CommentRecord(
        id=new_id(item.created_ms),
        article_id=item.article,
        text=item.text or " ",
        author=Author(id=item.author, name=item.author),
        created_at=item.created_ms,
        site="eval",
    )


async def _moderate(
    store: Store,
    redis: Redis,
    keys: Keys,
    settings: Settings,
    record: CommentRecord,
    status: Status,
    item: LabelledComment,
) -> None:
    """Apply the true label as a moderator would, then feed it back to the spam model."""
    target = Status.REJECTED if item.is_spam else Status.APPROVED
    if status is not target:
        decision = Decision(
            status=target,
            by="moderator:eval",
            decided_at=now_ms(),
            reasons=[Reason(code="spam" if item.is_spam else "ok", message="evaluation label")],
        )
        await store.transition(
            CommentRef.of(record),
            [Status.APPROVED, Status.HELD, Status.REJECTED],
            decision,
            actor="moderator",
        )
    await record_feedback(redis, keys, record, "spam" if item.is_spam else "ham", settings=settings)


async def _delete_prefix(redis: Redis, prefix: str) -> None:
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await redis.unlink(*batch)
            batch.clear()
    if batch:
        await redis.unlink(*batch)


@contextlib.contextmanager
def temporary_redis(binary: str = "") -> Iterator[str]:
    """A private ``redis-server`` (no persistence) on a Unix socket; yields its URL."""
    import redis as sync_redis

    directory = tempfile.mkdtemp(prefix="moderation-eval-")
    socket_path = Path(directory) / "redis.sock"
    proc = subprocess.Popen(
        [
            find_redis_server(binary),
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            directory,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise ConfigError(f"redis-server exited with {proc.returncode} at start-up")
            try:
                client = sync_redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1)
                if client.ping():
                    client.close()
                    break
            except sync_redis.RedisError:
                if time.monotonic() > deadline:
                    raise ConfigError("redis-server did not start within 10 s") from None
                time.sleep(0.05)
        yield f"unix://{socket_path}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(directory, ignore_errors=True)


# --- reporting --------------------------------------------------------------------------------


def summary_line(result: ModeResult) -> str:
    m = result.metrics
    return (
        f"spam mode={result.mode} n={m.n} precision={m.precision:.4f} recall={m.recall:.4f} "
        f"f1={m.f1:.4f} fpr={m.fpr:.4f}"
    )


def table(results: Sequence[ModeResult]) -> str:
    head = (
        f"{'mode':<12} {'n':>6} {'precision':>9} {'recall':>7} {'f1':>7} {'fpr':>7} "
        f"{'accuracy':>8} {'brier':>7} {'ece':>7} {'tp':>5} {'fp':>5} {'fn':>5} {'tn':>5} "
        f"{'seconds':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        m = r.metrics
        lines.append(
            f"{r.mode:<12} {m.n:>6} {m.precision:>9.4f} {m.recall:>7.4f} {m.f1:>7.4f} "
            f"{m.fpr:>7.4f} {m.accuracy:>8.4f} {m.brier:>7.4f} {m.ece:>7.4f} {m.tp:>5} "
            f"{m.fp:>5} {m.fn:>5} {m.tn:>5} {r.seconds:>8.1f}"
        )
    return "\n".join(lines)


def segments(result: ModeResult, parts: int = 5) -> str:
    """Figures of consecutive slices of a run: how the scores improve as labels arrive."""
    n = len(result.outcomes)
    if n < parts * 10:
        return ""
    lines = [f"{result.mode} by segment (comments in replay order):"]
    for k in range(parts):
        lo, hi = k * n // parts, (k + 1) * n // parts
        m = Metrics.of(result.outcomes[lo:hi])
        lines.append(
            f"  {lo + 1:>6}–{hi:<6} f1={m.f1:.4f} precision={m.precision:.4f} "
            f"recall={m.recall:.4f} fpr={m.fpr:.4f} spam={m.tp + m.fn}/{m.n}"
        )
    return "\n".join(lines)


def sweep(result: ModeResult, thresholds: Sequence[float] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)) -> str:
    """F1 and false-positive rate had the threshold been elsewhere (for choosing one; the
    figures above use the threshold in force)."""
    parts = []
    for t in thresholds:
        shifted = [Outcome(o.score, t, o.is_spam, o.source, o.text) for o in result.outcomes]
        m = Metrics.of(shifted)
        parts.append(f"{t:.1f}: f1={m.f1:.3f} fpr={m.fpr:.3f}")
    return f"{result.mode} at other thresholds: " + "  ".join(parts)


def errors(result: ModeResult, limit: int) -> str:
    wrong = [o for o in result.outcomes if o.flagged != o.is_spam]
    lines = [f"{result.mode}: {len(wrong)} errors (showing {min(limit, len(wrong))})"]
    for o in wrong[:limit]:
        kind = "FP" if o.flagged else "FN"
        text = " ".join(o.text.split())[:100]
        top = sorted(o.why.items(), key=lambda kv: -abs(kv[1]))[:4]
        because = " ".join(f"{k}{v:+.2f}" for k, v in top if k != "bias" and v)
        lines.append(f"  {kind} {o.score:.3f} {o.source}: {text}  [{because}]")
    return "\n".join(lines)


def data_label(paths: Sequence[Path]) -> str:
    """A short name for the data: folder names, or file names when files come from
    different folders ("youtube-spam-collection", "SMSSpamCollection")."""
    parents = {p.parent for p in paths if p.is_file()}
    if len(paths) > 1 and len(parents) == 1 and all(p.is_file() for p in paths):
        names = [next(iter(parents)).name]
    else:
        names = [p.name if p.is_dir() else p.stem for p in paths]
    label = "+".join(dict.fromkeys(names))
    return "".join(c if c.isalnum() or c in "+-_." else "-" for c in label)[:80] or "data"


def plot(results: Sequence[ModeResult], path: Path, title: str) -> None:
    """Cumulative and rolling F1 against comments seen, one line pair per mode."""
    import logging

    import matplotlib

    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    colours = {"zero-shot": "tab:gray", "prequential": "tab:blue"}
    for r in results:
        xs, cumulative, rolling = _curves(r.outcomes)
        colour = colours.get(r.mode, "tab:orange")
        ax.plot(xs, cumulative, color=colour, label=f"{r.mode}: cumulative F1")
        ax.plot(
            xs, rolling, color=colour, alpha=0.45, linestyle="--", label=f"{r.mode}: rolling F1"
        )
    ax.set_xlabel("comments replayed (time order)")
    ax.set_ylabel("F1 (spam)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _curves(outcomes: Sequence[Outcome]) -> tuple[list[int], list[float], list[float]]:
    """Cumulative F1 and F1 over a sliding window, from prefix sums (one pass)."""
    window = max(50, min(300, len(outcomes) // 8))
    tp = [0]
    fp = [0]
    fn = [0]
    for o in outcomes:
        tp.append(tp[-1] + (o.flagged and o.is_spam))
        fp.append(fp[-1] + (o.flagged and not o.is_spam))
        fn.append(fn[-1] + (not o.flagged and o.is_spam))

    def f1(lo: int, hi: int) -> float:
        t, f, m = tp[hi] - tp[lo], fp[hi] - fp[lo], fn[hi] - fn[lo]
        return 2 * t / (2 * t + f + m) if t else 0.0

    step = max(1, len(outcomes) // 300)
    xs = list(range(step, len(outcomes) + 1, step))
    return xs, [f1(0, i) for i in xs], [f1(max(0, i - window), i) for i in xs]


# --- the command ------------------------------------------------------------------------------


def _require_reporting_packages() -> None:
    try:
        import matplotlib  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"the evaluation needs {exc.name}: pip install 'moderation[dev]' "
            "(or pip install matplotlib tqdm)"
        ) from None


def run(settings: Settings, args: argparse.Namespace) -> int:
    _require_reporting_packages()
    data = load(args.data, shuffle_seed=args.shuffle)
    if args.limit is not None:
        if args.limit < 1:
            raise ConfigError("--limit must be at least 1")
        data = data[: args.limit]
    modes = MODES if args.mode == "both" else (args.mode,)
    progress = not args.no_progress and len(data) >= PROGRESS_FROM
    spam = sum(c.is_spam for c in data)
    names = ", ".join(sorted({c.source.split(":")[0] for c in data}))
    print(f"spam eval: {len(data)} comments ({spam} spam) from {names}", flush=True)
    print(
        f"spam threshold {settings.spam_threshold}; prequential feedback: {args.feedback}",
        flush=True,
    )

    async def all_modes(url: str) -> list[ModeResult]:
        return [
            await replay(data, mode, settings, url, progress=progress, feedback=args.feedback)
            for mode in modes
        ]

    if args.redis_url:
        results = asyncio.run(all_modes(args.redis_url))
    else:
        with temporary_redis(settings.redis_server) as url:
            results = asyncio.run(all_modes(url))

    sys.stdout.flush()
    print()
    print(table(results))
    for r in results:
        text = segments(r)
        if text:
            print()
            print(text)
        print(sweep(r))
        if args.show_errors:
            print()
            print(errors(r, args.show_errors))
    label = data_label(args.data)
    png = args.out / f"spam-learning-curve-{label}.png"
    plot(
        results,
        png,
        f"spam scorer on {label}: {len(data)} comments, threshold {settings.spam_threshold}",
    )
    print(f"\nlearning curve: {png}")
    for r in results:
        print(summary_line(r), flush=True)
    return 0
