"""Detoxify weights: pulling over HTTP, the offline layout, every model family through
detoxify's own loading code, weight verification, and the scorer choice (auto / detoxify /
linear) with its degraded flag."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("detoxify", reason="the detoxify extra is not installed")

import torch

from moderation.errors import ModelUnavailable
from moderation.scoring import weights
from moderation.scoring.factory import load_scorer
from moderation.scoring.linear import LinearScorer
from moderation.scoring.pull import pull
from moderation.scoring.synthetic import JIGSAW_CLASSES, SHAPES, UNBIASED_CLASSES
from moderation.scoring.torch_backend import TorchScorer
from moderation.settings import Settings
from tests.conftest import ROOT, make_settings
from tests.detoxify_support import Release, files

SEVEN = UNBIASED_CLASSES
#: Detoxify's names for the Jigsaw classes.
SIX = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")


def test_pull_fetches_over_http_and_fixes_the_offline_traps(
    release: Release, model_dir: Path
) -> None:
    f = files(model_dir, "original")
    # What was fetched: the checkpoint and the base model's config and tokenizer files.
    assert f"/{release.made['original'].checkpoint.name}" in release.requests
    assert "/hub/synthetic/bert-tiny/resolve/main/vocab.txt" in release.requests
    # The checkpoint names the local folder, not the Hub repository.
    ckpt = torch.load(f.checkpoint, map_location="cpu", weights_only=False)
    assert ckpt["config"]["arch"]["args"]["model_type"] == str(f.hf)
    # config.json declares the label count; the tokenizer its 512-token window.
    config = json.loads((f.hf / "config.json").read_text())
    assert config["num_labels"] == 6 and config["id2label"]["0"] == "toxic"
    assert json.loads((f.hf / "tokenizer_config.json").read_text())["model_max_length"] == 512
    manifest = f.manifest()
    assert manifest["sha256"] == release.made["original"].sha256
    assert manifest["base_model"] == "synthetic/bert-tiny"
    assert set(manifest["hub_files"]) >= {"config.json", "vocab.txt"}
    # The ONNX export and its agreement report were made at pull time.
    report = json.loads((f.onnx_dir / "report.json").read_text())
    assert report["sha256"] == manifest["sha256"] and report["fp32_max_diff"] < 1e-3


@pytest.mark.parametrize("name", list(SHAPES))
def test_every_model_family_loads_through_detoxify(model_dir: Path, name: str) -> None:
    from detoxify import Detoxify

    f = files(model_dir, name)
    loaded = weights.load(f)
    _, classes, outputs = SHAPES[name]
    assert loaded.labels == (SIX if classes == JIGSAW_CLASSES else SEVEN)
    assert loaded.max_length == 512 and int(loaded.model.config.num_labels) == outputs
    texts = ["you are a complete idiot", "Thanks, a clear and useful explainer."]
    ours = TorchScorer(loaded, Settings(), device="cpu").score(texts)
    assert [set(s) for s in ours] == [set(loaded.labels)] * 2
    assert all(0.0 <= v <= 1.0 for s in ours for v in s.values())
    # detoxify's own class, offline, on the pulled folder gives the same numbers.
    reference = Detoxify(checkpoint=str(f.checkpoint), huggingface_config_path=str(f.hf))
    theirs = reference.predict(texts)
    for label in loaded.labels:
        for i in range(2):
            assert ours[i][label] == pytest.approx(theirs[label][i], abs=1e-5)


def _pull(
    release: Release,
    out: Path,
    checkpoint_url: str,
    *,
    hub_url: str | None = None,
    expected_sha256: str | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> weights.ModelFiles:
    """``original`` pulled from ``checkpoint_url`` and the release's Hub, without ONNX."""
    return pull(
        "original",
        out,
        checkpoint_url=checkpoint_url,
        hub_url=hub_url or release.hub_url,
        export_onnx=False,
        expected_sha256=expected_sha256,
        say=say,
    )


def test_a_checkpoint_whose_weights_would_silently_not_load_is_refused(
    release: Release, tmp_path: Path
) -> None:
    bad = release.made["prefixed"]
    with pytest.raises(ModelUnavailable, match="not found in the checkpoint") as err:
        url = f"{release.base}/bad/{bad.checkpoint.name}"
        _pull(release, tmp_path, url, hub_url=f"{release.base}/bad/hub")
    assert "model." in str(err.value)  # the unused keys show the culprit prefix
    assert not (tmp_path / "original").exists()  # nothing half-installed is left behind


def test_the_worker_refuses_a_tampered_checkpoint(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "original"
    shutil.copytree(files(model_dir, "original").root, copy)
    ckpt = torch.load(copy / "checkpoint.ckpt", map_location="cpu", weights_only=False)
    del ckpt["state_dict"]["classifier.weight"]
    torch.save(ckpt, copy / "checkpoint.ckpt")
    with pytest.raises(ModelUnavailable, match=r"classifier\.weight"):
        weights.load(weights.ModelFiles.at(tmp_path, "original"))


def test_a_pinned_sha256_is_enforced_and_a_name_mismatch_is_recorded(
    release: Release, tmp_path: Path
) -> None:
    good = release.made["original"]
    (release.root / "renamed").mkdir(exist_ok=True)
    renamed = release.root / "renamed" / "toxic_original-0badc0de.ckpt"
    shutil.copyfile(good.checkpoint, renamed)
    url = f"{release.base}/renamed/{renamed.name}"
    with pytest.raises(ModelUnavailable, match="not the expected 0badc0de"):
        _pull(release, tmp_path, url, expected_sha256="0badc0de")
    assert not (tmp_path / "original").exists()
    said: list[str] = []
    files = _pull(release, tmp_path, url, say=said.append)
    manifest = files.manifest()
    assert manifest["sha256"] == good.sha256 and manifest["name_hash_matches"] is False
    assert any(line.startswith("warning:") and "0badc0de" in line for line in said)
    # The real digest, pinned, is accepted.
    _pull(release, tmp_path, url, expected_sha256=good.sha256[:12])
    assert files.manifest()["sha256_pinned"] is True


def test_an_unreachable_release_names_the_url(tmp_path: Path, release: Release) -> None:
    with pytest.raises(ModelUnavailable, match="404"):
        _pull(release, tmp_path, f"{release.base}/nowhere.ckpt")


def test_a_missing_model_max_length_cannot_crash_long_comments(
    model_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "original"
    shutil.copytree(files(model_dir, "original").root, copy)
    (copy / "hf" / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    loaded = weights.load(weights.ModelFiles.at(tmp_path, "original"))
    assert loaded.max_length == 512
    scorer = TorchScorer(loaded, Settings(toxicity_long_text="truncate"), device="cpu")
    [scores] = scorer.score(["word " * 5000])
    assert set(scores) == set(SIX)


# --- choosing the scorer ------------------------------------------------------------------------


def test_detoxify_without_weights_stops_with_the_command_to_run(tmp_path: Path) -> None:
    settings = Settings(scorer="detoxify", model_dir=tmp_path / "models")
    with pytest.raises(ModelUnavailable) as err:
        load_scorer(settings)
    message = str(err.value)
    assert "'original'" in message and str(tmp_path / "models") in message
    assert f"moderation models pull original --dir {tmp_path / 'models'}" in message


def test_the_worker_process_exits_with_that_error(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "MODERATION_SCORER": "detoxify",
        "MODERATION_TOXICITY_MODEL": "unbiased",
        "MODERATION_MODEL_DIR": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
    }
    out = subprocess.run(
        [sys.executable, "-m", "moderation", "worker"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert f"moderation models pull unbiased --dir {tmp_path}" in out.stderr + out.stdout


def test_auto_without_weights_falls_back_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scorer = load_scorer(Settings(scorer="auto", model_dir=tmp_path))
    assert isinstance(scorer, LinearScorer) and scorer.info.degraded
    assert "DEGRADED" in caplog.text and "moderation models pull original" in caplog.text


def test_auto_with_weights_uses_detoxify_on_onnx(model_dir: Path) -> None:
    scorer = load_scorer(Settings(scorer="auto", model_dir=model_dir))
    info = scorer.info
    assert info.name == "detoxify-original" and not info.degraded
    assert info.runtime in {"onnx-int8", "onnx-fp32"} and info.device == "cpu"
    assert set(scorer.labels) == set(SIX)


@pytest.mark.parametrize("name", ["unbiased", "multilingual"])
def test_the_setting_picks_the_model(model_dir: Path, name: str) -> None:
    scorer = load_scorer(
        Settings(
            scorer="detoxify", model_dir=model_dir, toxicity_model=name, toxicity_runtime="torch"
        )
    )
    assert scorer.info.name == f"detoxify-{name}" and scorer.info.runtime == "torch-fp32"
    assert scorer.labels == SEVEN


def test_models_list_shows_what_is_pulled(model_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "moderation", "models", "list", "--dir", str(model_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split()[1] for line in out.stdout.splitlines()[:5]}
    assert rows == dict.fromkeys(SHAPES, "pulled")


def test_settings_refuse_unknown_models_and_runtimes() -> None:
    from moderation.errors import ConfigError

    with pytest.raises(ConfigError, match="MODERATION_TOXICITY_MODEL"):
        Settings.from_env({"MODERATION_TOXICITY_MODEL": "perspective"})
    with pytest.raises(ConfigError, match="MODERATION_TOXICITY_RUNTIME"):
        Settings.from_env({"MODERATION_TOXICITY_RUNTIME": "tensorrt"})
    s = make_settings("redis://x", toxicity_model="original-small")
    assert s.toxicity_model == "original-small"
