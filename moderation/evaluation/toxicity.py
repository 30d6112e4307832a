"""``moderation eval toxicity``: how well the configured scorer holds what people call toxic.

Each comment of a labelled CSV is normalised and scored exactly as a worker would (same
normaliser, same scorer, same batches), and the policy's toxicity rule decides: held when any
label reaches its threshold (``MODERATION_THRESHOLDS``). Reported: ROC AUC of the policy's risk
(the largest ``score / threshold`` over labels, so "risk ≥ 1" is exactly "held"), and of each
label; precision, recall and F1 of "held" against the labels; the hold rate; and ROC and
precision-recall curves as PNG. The last line is machine-readable::

    toxicity model=<name> n=<N> auc=<a> precision=<p> recall=<r> f1=<f> hold_rate=<h>

A warning is printed when the scorer was trained on the data set being evaluated (figures are
then optimistic).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from moderation.errors import ConfigError
from moderation.normalize import normalize
from moderation.scoring.base import Scorer
from moderation.settings import Settings

#: Label values read as "toxic" when ``--positive`` is not given.
DEFAULT_POSITIVE = ("1", "true", "yes", "toxic")

# Data sets each scorer was trained on, recognised by their files' columns.
_FINGERPRINTS: dict[str, tuple[frozenset[str], str]] = {
    "davidson": (
        frozenset({"tweet", "hate_speech", "offensive_language", "neither"}),
        "Davidson et al. 2017 hate speech and offensive language tweets",
    ),
    "jigsaw-toxic-comment": (
        frozenset({"comment_text", "toxic", "severe_toxic", "identity_hate"}),
        "Jigsaw Toxic Comment Classification (Wikipedia talk pages)",
    ),
    "civil-comments": (
        frozenset({"comment_text", "severe_toxicity", "identity_attack"}),
        "Civil Comments / Jigsaw Unintended Bias",
    ),
}
#: What the scorers were trained on. alt-profanity-check's model was fitted on Davidson's
#: tweets and the Jigsaw toxic comments (its README says so).
_TRAINED_ON: dict[str, tuple[str, ...]] = {"linear": ("davidson", "jigsaw-toxic-comment")}


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    toxic: bool


def read_csv(
    path: Path,
    text_column: str,
    label_column: str,
    positive: Sequence[str],
    limit: int | None = None,
) -> tuple[list[Labelled], list[str]]:
    """Rows of ``path`` as (text, toxic); also the file's column names (for fingerprints)."""
    wanted = {p.strip().lower() for p in positive}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = [c for c in (reader.fieldnames or []) if c]
        for name in (text_column, label_column):
            if name not in columns:
                raise ConfigError(f"{path} has no column {name!r} (it has: {', '.join(columns)})")
        rows = []
        for row in reader:
            text = row[text_column] or ""
            rows.append(Labelled(text, (row[label_column] or "").strip().lower() in wanted))
            if limit is not None and len(rows) >= limit:
                break
    if not rows:
        raise ConfigError(f"{path} has no rows")
    return rows, columns


def overlap_warning(model: str, columns: Sequence[str]) -> str | None:
    """A note when ``model`` was trained on the data set these columns look like."""
    from moderation.scoring.catalog import MODELS

    trained = _TRAINED_ON.get(model)
    if trained is None:
        spec = MODELS.get(model.removeprefix("detoxify-"))
        trained = spec.trained_on if spec else ()
    have = set(columns)
    for name, (needed, title) in _FINGERPRINTS.items():
        if needed <= have and name in trained:
            return (
                f"NOTE: model {model} was trained on {title}, and this file looks like it: "
                "these figures are optimistic (the model may have seen these very comments)"
            )
    return None


def roc_auc(scores: npt.NDArray[np.float64], truth: npt.NDArray[np.bool_]) -> float:
    """Area under the ROC curve by the rank-sum formula (ties count half)."""
    pos = int(truth.sum())
    neg = len(truth) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[truth].sum() - pos * (pos + 1) / 2) / (pos * neg))


def curves(
    scores: npt.NDArray[np.float64], truth: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.float64], ...]:
    """(false positive rate, true positive rate, precision, recall) over every threshold."""
    order = np.argsort(-scores, kind="mergesort")
    hits = truth[order].astype(np.float64)
    tp = np.cumsum(hits)
    fp = np.cumsum(1 - hits)
    pos, neg = max(tp[-1], 1.0), max(fp[-1], 1.0)
    precision = tp / np.maximum(tp + fp, 1)
    return fp / neg, tp / pos, precision, tp / pos


@dataclass(frozen=True, slots=True)
class Result:
    model: str
    n: int
    auc: float
    precision: float
    recall: float
    f1: float
    hold_rate: float
    label_auc: dict[str, float]
    seconds: float

    def line(self) -> str:
        return (
            f"toxicity model={self.model} n={self.n} auc={self.auc:.4f} "
            f"precision={self.precision:.4f} recall={self.recall:.4f} f1={self.f1:.4f} "
            f"hold_rate={self.hold_rate:.4f}"
        )


def evaluate(
    scorer: Scorer,
    rows: Sequence[Labelled],
    thresholds: dict[str, float],
    *,
    batch_size: int = 32,
    progress: bool = False,
) -> tuple[Result, npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Score ``rows`` in batches; returns the figures, the risk scores and the truth."""
    labels = scorer.labels
    used = [label for label in labels if label in thresholds]
    if not used:
        raise ConfigError(f"no threshold applies to the scorer's labels {labels}")
    matrix = np.zeros((len(rows), len(labels)), dtype=np.float64)
    bar = _bar(len(rows)) if progress else None
    started = time.perf_counter()
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        for k, row in enumerate(scorer.score([normalize(r.text) for r in chunk])):
            matrix[start + k] = [row.get(label, 0.0) for label in labels]
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - started
    truth = np.array([r.toxic for r in rows], dtype=bool)
    limits = np.array([thresholds.get(label, np.inf) for label in labels])
    risk = (matrix / limits).max(axis=1)
    held = risk >= 1.0
    tp = int((held & truth).sum())
    precision = tp / max(int(held.sum()), 1)
    recall = tp / max(int(truth.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    label_auc = {label: roc_auc(matrix[:, j], truth) for j, label in enumerate(labels)}
    result = Result(
        model=scorer.info.name,
        n=len(rows),
        auc=roc_auc(risk, truth),
        precision=precision,
        recall=recall,
        f1=f1,
        hold_rate=float(held.mean()),
        label_auc=label_auc,
        seconds=seconds,
    )
    return result, risk, truth


def plot(
    risk: npt.NDArray[np.float64],
    truth: npt.NDArray[np.bool_],
    result: Result,
    out: Path,
    title: str,
) -> tuple[Path, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fpr, tpr, precision, recall = curves(risk, truth)
    held = risk >= 1.0
    at_fpr = (held & ~truth).sum() / max((~truth).sum(), 1)
    paths = (out / f"toxicity-roc-{result.model}.png", out / f"toxicity-pr-{result.model}.png")

    def draw(path: Path, plot: Any, point: tuple[float, float], **axes: Any) -> None:
        fig, ax = plt.subplots(figsize=(5.5, 5))
        plot(ax)
        ax.scatter(*([v] for v in point), color="red", zorder=3, label="policy thresholds")
        ax.set(xlim=(0, 1), ylim=(0, 1.01), **axes)
        ax.legend(loc="best")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def roc(ax: Any) -> None:
        ax.plot(np.r_[0, fpr], np.r_[0, tpr], label=f"{result.model} (AUC {result.auc:.3f})")
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")

    def pr(ax: Any) -> None:
        ax.plot(recall, precision, label=result.model)
        base = truth.mean()
        ax.axhline(base, color="grey", linestyle=":", label=f"base rate {base:.2f}")

    draw(
        paths[0],
        roc,
        (at_fpr, result.recall),
        xlabel="false positive rate (civil comments held)",
        ylabel="true positive rate",
        title=f"ROC: {title}",
    )
    draw(
        paths[1],
        pr,
        (result.recall, result.precision),
        xlabel="recall (toxic comments held)",
        ylabel="precision (held that are toxic)",
        title=f"Precision-recall: {title}",
    )
    return paths


def _bar(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="comments", file=sys.stderr, leave=False)


def run(settings: Settings, args: argparse.Namespace, scorer: Scorer | None = None) -> int:
    from moderation.scoring.factory import load_scorer

    try:
        import matplotlib  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"the evaluation needs {exc.name}: pip install 'moderation[dev]'"
        ) from None
    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    positive = [p for part in args.positive for p in part.split(",")] or list(DEFAULT_POSITIVE)
    rows, columns = read_csv(args.data, args.text_column, args.label_column, positive, args.limit)
    scorer = scorer or load_scorer(settings)
    info = scorer.info
    toxic = sum(r.toxic for r in rows)
    print(
        f"toxicity eval: {len(rows)} comments from {args.data} ({toxic} labelled toxic: "
        f"{args.label_column} in {{{', '.join(positive)}}})",
        flush=True,
    )
    print(
        f"scorer {info.name} {info.version} ({info.runtime or info.device})"
        + (
            " DEGRADED: the Detoxify weights are absent, this is the linear fallback"
            if info.degraded
            else ""
        ),
        flush=True,
    )
    warning = overlap_warning(info.name, columns)
    if warning:
        print(warning, flush=True)
    thresholds = dict(settings.thresholds)
    result, risk, truth = evaluate(
        scorer,
        rows,
        thresholds,
        batch_size=args.batch_size,
        progress=not args.no_progress and len(rows) >= 500,
    )
    print()
    print(f"{'label':<18}{'threshold':>10}{'ROC AUC':>10}")
    for label, auc in result.label_auc.items():
        limit = thresholds.get(label)
        print(f"{label:<18}{(f'{limit:.2f}' if limit is not None else '-'):>10}{auc:>10.4f}")
    print()
    print(f"policy (held if any label ≥ its threshold): ROC AUC {result.auc:.4f}")
    print(
        f"  precision {result.precision:.4f}  recall {result.recall:.4f}  F1 {result.f1:.4f}  "
        f"hold rate {result.hold_rate:.4f} (labelled toxic: {truth.mean():.4f})"
    )
    print(
        f"  scored {result.n} comments in {result.seconds:.1f}s "
        f"({result.n / max(result.seconds, 1e-9):,.0f} comments/s)"
    )
    roc, pr = plot(risk, truth, result, args.out, f"{args.data.name}, n={result.n}")
    print(f"plots: {roc} {pr}")
    if warning:
        print(warning)
    print(result.line(), flush=True)
    return 0
