"""``moderation eval toxicity``: figures that are right on crafted data, the exact last line,
the plots, the training-overlap note, and a run on a slice of the shipped Davidson data."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from moderation.cli import main
from moderation.evaluation.toxicity import overlap_warning, roc_auc
from tests.conftest import ROOT

LINE = re.compile(
    r"^toxicity model=(\S+) n=(\d+) auc=([\d.]+|nan) precision=([\d.]+) recall=([\d.]+) "
    r"f1=([\d.]+) hold_rate=([\d.]+)$"
)
DATA = Path(os.environ.get("EVAL_DATA_DIR", ROOT.parent / "shared" / "data"))
DAVIDSON = DATA / "davidson-hate-offensive" / "labeled_data.csv"


def test_roc_auc_matches_the_textbook_definition() -> None:
    rng = np.random.default_rng(1)
    scores = rng.random(300).round(2)  # ties on purpose
    truth = rng.random(300) < scores
    pairs = [(p, n) for p in scores[truth] for n in scores[~truth]]
    expected = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)
    assert roc_auc(scores, truth) == pytest.approx(expected)
    assert roc_auc(np.array([0.1, 0.9]), np.array([False, True])) == 1.0


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["comment", "label"])
        w.writerows(rows)
    return path


def test_crafted_file_with_the_linear_scorer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODERATION_SCORER", "linear")
    toxic = ["you are a fucking idiot", "shut up you stupid bitch", "what a dumb fucking moron"]
    civil = ["thanks for the clear article", "the council meets on tuesday", "nice photos"]
    data = _csv(tmp_path / "c.csv", [(t, "toxic") for t in toxic] + [(t, "ok") for t in civil])
    code = main(
        [
            "eval",
            "toxicity",
            "--data",
            str(data),
            "--text-column",
            "comment",
            "--label-column",
            "label",
            "--positive",
            "toxic",
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    m = LINE.match(out.strip().splitlines()[-1])
    assert m, out
    model, n, auc, precision, recall, f1, hold_rate = m.groups()
    assert model == "linear" and n == "6"
    assert float(auc) == 1.0 and float(precision) == 1.0  # blatant cases: perfectly separated
    assert float(hold_rate) == pytest.approx(float(recall) * 0.5)
    p, r = float(precision), float(recall)
    assert float(f1) == pytest.approx(2 * p * r / (p + r), abs=1e-4)
    for name in ("toxicity-roc-linear.png", "toxicity-pr-linear.png"):
        assert (tmp_path / "out" / name).read_bytes()[:4] == b"\x89PNG"
    assert "NOTE" not in out  # two made-up columns look like no training set


def _eval(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``moderation eval toxicity ARGS`` in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "moderation", "eval", "toxicity", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    data = _csv(tmp_path / "c.csv", [("x", "1")])
    out = _eval("--data", str(data), "--text-column", "text", "--label-column", "label")
    assert out.returncode != 0 and "no column 'text'" in out.stderr


def test_the_training_overlap_note() -> None:
    davidson = ["", "count", "hate_speech", "offensive_language", "neither", "class", "tweet"]
    assert "trained on Davidson" in (overlap_warning("linear", davidson) or "")
    assert overlap_warning("detoxify-original", davidson) is None
    jigsaw = ["id", "comment_text", "toxic", "severe_toxic", "obscene", "identity_hate"]
    assert "Jigsaw Toxic" in (overlap_warning("detoxify-original", jigsaw) or "")


@pytest.mark.skipif(not DAVIDSON.is_file(), reason=f"evaluation data not found under {DATA}")
def test_a_slice_of_davidson_with_detoxify(model_dir: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    env.update({"MODERATION_MODEL_DIR": str(model_dir), "MODERATION_SCORER": "detoxify"})
    out = _eval(
        *("--data", str(DAVIDSON), "--text-column", "tweet", "--label-column", "class"),
        *("--positive", "0,1", "--limit", "200", "--out", str(tmp_path), "--no-progress"),
        env=env,
    )
    assert out.returncode == 0, out.stderr
    m = LINE.match(out.stdout.strip().splitlines()[-1])
    assert m and m.group(1) == "detoxify-original" and m.group(2) == "200"
    for label in ("toxicity", "severe_toxicity", "identity_attack"):
        assert re.search(rf"^{label}\s+0\.\d\d\s+[\d.]+$", out.stdout, re.M), label
    assert (tmp_path / "toxicity-roc-detoxify-original.png").is_file()
