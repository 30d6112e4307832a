"""Detoxify scoring: length-planned batches, long texts, ONNX against PyTorch, the GPU path
(skipped without CUDA), and decisions through a real worker with per-label thresholds."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

pytest.importorskip("detoxify", reason="the detoxify extra is not installed")

import numpy as np
import torch

from moderation.scoring import batching, onnx_backend, weights
from moderation.scoring.engine import EngineOptions
from moderation.scoring.factory import load_scorer
from moderation.scoring.torch_backend import TorchScorer
from moderation.settings import Settings
from tests.conftest import Api, comment, running_worker, wait_for
from tests.detoxify_support import files

TEXTS = [
    "Thanks for the clear explainer on the budget.",
    "you are an idiot",
    "ok",
    "I disagree with the conclusion but the reporting is fair and the numbers add up.",
    "shut up moron",
    "Great match report!",
] * 3


@pytest.fixture(scope="module")
def loaded(model_dir: Path) -> weights.LoadedModel:
    return weights.load(files(model_dir, "original"))


# --- planning batches -----------------------------------------------------------------------


def test_plan_covers_every_window_once_within_the_budget() -> None:
    rng = random.Random(3)
    lengths = [rng.randint(3, 512) for _ in range(300)]
    chunks = batching.plan(lengths, token_budget=4096, pad_multiple=8, cap=512, overhead=32)
    flat = sorted(i for c in chunks for i in c)
    assert flat == list(range(300))
    for c in chunks:
        width = batching.padded(max(lengths[i] for i in c), 8, 512)
        assert len(c) * width <= 4096 or len(c) == 1


def test_sorted_plan_pads_far_less_than_one_unsorted_batch() -> None:
    rng = random.Random(5)
    # News-comment-like lengths: mostly short, a long tail.
    lengths = [min(512, int(rng.lognormvariate(3.6, 0.8)) + 2) for _ in range(32)]
    real = sum(lengths)
    unsorted = 32 * max(lengths)
    chunks = batching.plan(lengths, token_budget=8192, pad_multiple=8, cap=512, overhead=32)
    planned = sum(len(c) * batching.padded(max(lengths[i] for i in c), 8, 512) for c in chunks)
    assert planned < 1.3 * real < unsorted


def test_a_large_per_pass_overhead_merges_chunks() -> None:
    lengths = list(range(10, 330, 10))
    cpu = batching.plan(lengths, token_budget=131072, pad_multiple=32, cap=512, overhead=32)
    gpu = batching.plan(lengths, token_budget=131072, pad_multiple=32, cap=512, overhead=20000)
    assert len(gpu) == 1 < len(cpu)


def test_collate_pads_right_with_a_mask() -> None:
    ids, mask = batching.collate([[1, 2, 3], [4]], [0, 1], pad_id=0, pad_multiple=8, cap=512)
    assert ids.shape == (2, 8) and ids[1].tolist() == [4] + [0] * 7
    assert mask.sum(axis=1).tolist() == [3, 1]


def test_planned_batches_score_like_one_text_at_a_time(loaded: weights.LoadedModel) -> None:
    scorer = TorchScorer(loaded, Settings(), device="cpu")
    together = scorer.score_array(TEXTS)
    alone = np.vstack([scorer.score_array([t]) for t in TEXTS])
    assert np.abs(together - alone).max() < 1e-4  # padding and ordering change nothing


# --- long texts -----------------------------------------------------------------------------


def test_long_texts_are_split_into_overlapping_windows(loaded: weights.LoadedModel) -> None:
    text = " ".join(f"word{i % 50}" for i in range(3000))
    enc = batching.encode(
        loaded.tokenizer, [text, "short"], max_length=512, stride=64, windows=True
    )
    owners = enc.owner
    assert owners.count(0) >= 3 and owners.count(1) == 1
    assert all(len(w) <= 512 for w in enc.windows)
    first, second = enc.windows[0], enc.windows[1]
    # Consecutive windows share `stride` tokens (after the leading special token).
    assert first[-65:-1] == second[1:65]


def test_windows_score_the_maximum_and_see_what_truncation_misses(
    loaded: weights.LoadedModel,
) -> None:
    filler = "The committee met on Tuesday to discuss the budget. " * 80
    tail = "you are an idiot and a moron, shut up " * 10
    text = filler + tail
    windows = TorchScorer(loaded, Settings(toxicity_long_text="windows"), device="cpu")
    truncate = TorchScorer(loaded, Settings(toxicity_long_text="truncate"), device="cpu")
    w = windows.score_array([text])[0]
    t = truncate.score_array([text])[0]
    assert (w >= t - 1e-6).all()  # the first window is the truncated text
    assert (w > t + 1e-4).any()  # and a later window (the tail) scores differently
    # Exactly the per-label maximum over the windows, each scored on its own.
    enc = batching.encode(loaded.tokenizer, [text], max_length=512, stride=64, windows=True)
    each = [
        windows.forward(np.array([ids]), np.ones((1, len(ids)), dtype=np.int64))[0, : len(w)]
        for ids in enc.windows
    ]
    assert len(each) > 1
    assert np.abs(np.max(each, axis=0) - w).max() < 1e-4


def test_the_longest_accepted_comment_scores(loaded: weights.LoadedModel) -> None:
    scorer = TorchScorer(loaded, Settings(), device="cpu")
    [scores] = scorer.score(["ab" * 5000])  # 10,000 characters, far past 512 tokens
    assert all(0.0 <= v <= 1.0 for v in scores.values())


# --- ONNX Runtime -----------------------------------------------------------------------------


def test_onnx_agrees_with_pytorch(loaded: weights.LoadedModel, model_dir: Path) -> None:
    onnx_dir = files(model_dir, "original").onnx_dir
    report = onnx_backend.ExportReport.read(onnx_dir / onnx_backend.REPORT)
    assert report is not None and report.probes == len(onnx_backend.PROBE_TEXTS)
    options = EngineOptions.from_settings(Settings(), loaded.max_length, gpu=False)
    reference = TorchScorer(loaded, Settings(), device="cpu").score_array(TEXTS)
    fp32 = onnx_backend.OnnxScorer(loaded, onnx_dir / onnx_backend.FP32, options, variant="fp32")
    assert np.abs(fp32.score_array(TEXTS) - reference).max() < 1e-4
    int8 = onnx_backend.OnnxScorer(loaded, onnx_dir / onnx_backend.INT8, options, variant="int8")
    diff = float(np.abs(int8.score_array(TEXTS) - reference).max())
    # The report's measured difference is what decides whether int8 may be used.
    assert report.int8_ok == (report.int8_max_diff <= report.tolerance)
    assert diff < 0.5  # quantised, so not exact; on this tiny random model possibly far off


@pytest.mark.parametrize(("tolerance", "runtime"), [(1.0, "onnx-int8"), (0.0, "onnx-fp32")])
def test_int8_is_used_only_within_its_tolerance(
    model_dir: Path, tmp_path: Path, tolerance: float, runtime: str
) -> None:
    import shutil

    shutil.copytree(files(model_dir, "original").root, tmp_path / "original")
    settings = Settings(scorer="detoxify", model_dir=tmp_path, onnx_int8_tolerance=tolerance)
    scorer = load_scorer(settings)  # re-exports: the cached report was made at 0.02
    assert scorer.info.runtime == runtime
    report = onnx_backend.ExportReport.read(tmp_path / "original" / "onnx" / "report.json")
    assert report is not None and report.tolerance == tolerance


def test_the_export_is_cached(model_dir: Path) -> None:
    f = files(model_dir, "original")
    before = (f.onnx_dir / onnx_backend.INT8).stat().st_mtime_ns
    load_scorer(Settings(scorer="detoxify", model_dir=model_dir))
    assert (f.onnx_dir / onnx_backend.INT8).stat().st_mtime_ns == before


# --- GPU ------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_cuda_half_precision_agrees_with_the_cpu(model_dir: Path, precision: str) -> None:
    cpu = TorchScorer(weights.load(files(model_dir, "original")), Settings(), device="cpu")
    expected = cpu.score_array(TEXTS)
    # A model of its own: moving a module to the GPU moves it in place.
    on_gpu = weights.load(files(model_dir, "original"))
    gpu = TorchScorer(on_gpu, Settings(toxicity_precision=precision), device="cuda")
    gpu.warm_up()
    assert gpu.info.runtime == f"torch-{precision}" and gpu.info.device.startswith("cuda")
    assert np.abs(gpu.score_array(TEXTS) - expected).max() < 0.05


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
async def test_a_cuda_worker_decides(api: Api, settings: Settings, model_dir: Path) -> None:
    s = settings.with_overrides(scorer="detoxify", model_dir=model_dir, device="cuda")
    scorer = load_scorer(s)
    assert scorer.info.device.startswith("cuda") and scorer.info.runtime in {
        "torch-bf16",
        "torch-fp16",
    }
    async with running_worker(s, name="gpu", scorer=scorer):
        r = await api.post_comment(comment(text="you are an idiot"), wait=10)
    assert r.status_code == 201 and r.json()["model"]["device"].startswith("cuda")


def test_cuda_requested_without_a_gpu_is_a_clear_error() -> None:
    from moderation.errors import ModelUnavailable
    from moderation.scoring.torch_backend import resolve_device

    if torch.cuda.is_available():
        assert resolve_device("cuda") == "cuda"
    else:
        with pytest.raises(ModelUnavailable, match="no CUDA device"):
            resolve_device("cuda")
        assert resolve_device("auto") == "cpu"


# --- decisions through a worker ---------------------------------------------------------------


async def test_worker_decides_with_detoxify_and_per_label_thresholds(
    api: Api, settings: Settings, model_dir: Path
) -> None:
    s = settings.with_overrides(
        scorer="detoxify",
        model_dir=model_dir,
        # Site-wide, nothing reaches a threshold of 1.0 (sigmoid < 1) ...
        thresholds={label: 1.0 for label in ("toxicity", "insult", "obscene", "threat")},
        spam_threshold=1.0,
    )
    scorer = load_scorer(s)
    # ... but this article holds anything with an insult score at all.
    r = await api.client.patch(
        "/v1/moderation/articles/strict/settings",
        json={"thresholds": {"insult": 0.0}},
        headers=api.auth("moderator"),
    )
    assert r.status_code == 200, r.text
    async with running_worker(s, name="detox", scorer=scorer):
        text = "you are an idiot"
        lax = (await api.post_comment(comment(article="lax", text=text))).json()
        strict = (await api.post_comment(comment(article="strict", text=text, author="u2"))).json()

        async def decided(cid: str) -> dict[str, object] | None:
            body = (await api.client.get(f"/v1/comments/{cid}", headers=api.auth())).json()
            return body if body["status"] != "pending" else None

        a = await wait_for(lambda: decided(lax["id"]), timeout=30)
        b = await wait_for(lambda: decided(strict["id"]), timeout=30)
    assert a["status"] == "approved" and b["status"] == "held"
    assert a["model"]["name"] == "detoxify-original"
    assert a["model"]["runtime"] in {"onnx-int8", "onnx-fp32"}
    assert set(a["scores"]) == set(scorer.labels)  # every label is stored with the decision
    assert b["thresholds"]["insult"] == 0.0 and a["thresholds"]["insult"] == 1.0
    [reason] = [x for x in b["reasons"] if x["code"] == "toxicity"]
    assert reason["label"] == "insult" and reason["threshold"] == 0.0


async def test_evasions_score_like_the_plain_text_and_are_stored_verbatim(
    api: Api, settings: Settings, model_dir: Path
) -> None:
    s = settings.with_overrides(scorer="detoxify", model_dir=model_dir, toxicity_runtime="torch")
    scorer = load_scorer(s)
    plain = "you are an idiot"
    disguised = "ｙｏｕ are an i\u200bd\u200bi\u200bo\u200bt"
    async with running_worker(s, name="detox-evasion", scorer=scorer):
        ids = [
            (await api.post_comment(comment(text=t, author=f"e{i}"))).json()["id"]
            for i, t in enumerate((plain, disguised))
        ]

        async def both() -> list[dict[str, object]] | None:
            docs = [
                (await api.client.get(f"/v1/comments/{i}", headers=api.auth())).json() for i in ids
            ]
            return docs if all(d["status"] != "pending" for d in docs) else None

        a, b = await wait_for(both, timeout=30)
    assert b["text"] == disguised  # stored verbatim
    assert b["scores"] == a["scores"]  # scored as the plain text
