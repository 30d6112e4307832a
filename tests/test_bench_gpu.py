"""bench/gpu.py runs: on the CPU with a tiny model always (a benchmark that cannot run is broken),
on CUDA in bf16 where there is a GPU (skipped otherwise)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_bench

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("detoxify")

LINE = re.compile(
    r"^gpu device=(\w+) precision=(\w+) processes=(\d+) batch=(\d+) n=(\d+) "
    r"raw=([\d.]+) e2e=([\d.]+) ratio=([\d.]+)$",
    re.M,
)


def synth(tmp_path: Path) -> Path:
    """Random tiny weights of ``original``, installed by the real command."""
    out = subprocess.run(
        [
            *(sys.executable, "-m", "moderation", "models", "synth", "original"),
            *("--dir", str(tmp_path), "--size", "tiny", "--no-onnx"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return tmp_path


def gpu_bench(*args: str) -> re.Match[str]:
    out = run_bench("bench/gpu.py", *args, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "raw forward ceiling" in out.stdout and "end to end" in out.stdout, out.stdout
    match = LINE.search(out.stdout)
    assert match is not None, out.stdout
    return match


@pytest.mark.slow
def test_gpu_bench_runs_on_cpu(tmp_path: Path) -> None:
    model_dir = synth(tmp_path)
    found = gpu_bench(
        "--device", "cpu", "--model-dir", str(model_dir), "-n", "24", "--batch-size", "8"
    )
    device, precision, processes, batch, n = found.group(1, 2, 3, 4, 5)
    assert (device, precision, processes, batch, n) == ("cpu", "fp32", "1", "8", "24")
    raw, e2e, ratio = (float(v) for v in found.group(6, 7, 8))
    assert raw > 0 and e2e > 0
    assert ratio == pytest.approx(e2e / raw, rel=0.02)  # figures printed rounded


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.slow
@pytest.mark.skipif(not _cuda(), reason="no CUDA device")
def test_gpu_bench_runs_on_cuda_in_bf16(tmp_path: Path) -> None:
    model_dir = synth(tmp_path)
    found = gpu_bench("--device", "cuda", "--model-dir", str(model_dir), "-n", "2000")
    assert found.group(1) == "cuda"
    assert found.group(2) in ("bf16", "fp16")
    assert found.group(3) == "4" and found.group(4) == "512"
