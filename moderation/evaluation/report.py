"""Figures and pictures of a spam evaluation: metrics, tables, learning curves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


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
