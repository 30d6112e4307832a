"""Detoxify on ONNX Runtime: the fast CPU path.

The loaded PyTorch model is exported once (``models pull``, or the first start, cached under the
model's ``onnx/`` folder), its graph fused by ONNX Runtime's transformer optimiser (attention,
LayerNorm and GELU become single kernels), and dynamically quantised to int8 weights. The int8
model is used only if, on a fixed set of probe comments, **every** label's score stays within
``tolerance`` (0.02) of PyTorch fp32 on the same checkpoint; otherwise fp32 ONNX is used, which
matches PyTorch to float rounding. Both figures are kept in ``report.json`` and logged.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from moderation.errors import ModelUnavailable
from moderation.messages import ModelInfo
from moderation.scoring.engine import EngineOptions, TransformerScorer
from moderation.scoring.weights import LoadedModel
from moderation.settings import Settings

log = logging.getLogger(__name__)

FP32 = "model.fp32.onnx"
INT8 = "model.int8.onnx"
REPORT = "report.json"
#: Bump when the export recipe changes, so cached exports are redone.
RECIPE = 1

# Comments the int8 model must agree on: short and long, civil and abusive, several scripts,
# one longer than the model's window (so window splitting is compared too).
PROBE_TEXTS: tuple[str, ...] = (
    "Thank you for this clear explainer on the council budget.",
    "You are an absolute idiot and everyone here knows it.",
    "I disagree with the conclusion, but the reporting is fair.",
    "Shut up, nobody cares what a moron like you thinks.",
    "Great match report, the second half was thrilling!",
    "These people are vermin and should be driven out of the country.",
    "Where can I find the full text of the planning application?",
    "I will find where you live and make you regret this.",
    "What a load of garbage. Fire the editor.",
    "My grandmother lived on that street; thank you for the photos.",
    "Check out my channel for FREE crypto giveaways!!! http://bit.ly/xyz",
    "Der Artikel ist sehr gut geschrieben, danke.",
    "C'est une honte pour toute la ville, franchement.",
    "El alcalde no dijo nada sobre el presupuesto.",
    "Это просто ужасная статья, автор ничего не понимает.",
    "ok",
    "?!",
    "lol 😂😂😂 this is hilarious",
    "The numbers in paragraph four do not add up: 12% of 40,000 is 4,800, not 48,000.",
    "Go back to where you came from, nobody wants your kind here.",
    "Honestly the bus lanes have made my commute ten minutes shorter.",
    "You're a pathetic loser with no life.",
    "Sources would help; the claim about rents is hard to believe.",
    "I hope the reporter gets hit by a bus.",
    " ".join(["The committee met again on Tuesday to discuss the budget."] * 70),
)


@dataclass(frozen=True, slots=True)
class ExportReport:
    sha256: str
    recipe: int
    optimized: bool
    fp32_max_diff: float
    int8_max_diff: float
    tolerance: float
    int8_ok: bool
    probes: int

    @classmethod
    def read(cls, path: Path) -> ExportReport | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def export(
    loaded: LoadedModel,
    out_dir: Path,
    *,
    tolerance: float = 0.02,
    options: EngineOptions | None = None,
) -> ExportReport:
    """Export ``loaded`` to ``out_dir`` (fp32 and int8) and measure both against PyTorch."""
    import onnxruntime  # noqa: F401  (fail early, with the import error, if it is absent)

    from moderation.scoring.torch_backend import TorchScorer

    # PyTorch fp32 on the CPU is the reference the exports must agree with.
    reference = TorchScorer(loaded, Settings(), device="cpu")
    reference.options = options = options or reference.options
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    try:
        model = reference.model
        raw = work / "raw.onnx"
        _torch_export(model, loaded, raw)
        fp32, optimized = work / FP32, _optimize(raw, work / FP32, model.config)
        if not optimized:
            raw.replace(fp32)
        _quantize(fp32, work / INT8)

        expected = reference.score_array(PROBE_TEXTS)
        diffs = []
        for name in (FP32, INT8):
            got = OnnxScorer(loaded, work / name, options, variant="probe").score_array(PROBE_TEXTS)
            diffs.append(float(np.max(np.abs(got - expected))))
        report = ExportReport(
            sha256=loaded.sha256,
            recipe=RECIPE,
            optimized=optimized,
            fp32_max_diff=round(diffs[0], 6),
            int8_max_diff=round(diffs[1], 6),
            tolerance=tolerance,
            int8_ok=diffs[1] <= tolerance,
            probes=len(PROBE_TEXTS),
        )
        for name in (FP32, INT8):
            os.replace(work / name, out_dir / name)
        (out_dir / REPORT).write_text(json.dumps(asdict(report), indent=2) + "\n")
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ensure_exported(
    loaded: LoadedModel, onnx_dir: Path, *, tolerance: float
) -> tuple[Path, ExportReport]:
    """The cached export for this checkpoint, made now if absent or stale. Returns its folder
    (a private temporary one when the model folder is read-only) and report."""
    report = ExportReport.read(onnx_dir / REPORT)
    if (
        report is not None
        and report.sha256 == loaded.sha256
        and report.recipe == RECIPE
        and report.tolerance == tolerance
        and (onnx_dir / FP32).is_file()
        and (onnx_dir / INT8).is_file()
    ):
        return onnx_dir, report
    log.warning("exporting %s to ONNX in %s (once per checkpoint)", loaded.name, onnx_dir)
    try:
        return onnx_dir, export(loaded, onnx_dir, tolerance=tolerance)
    except PermissionError:
        scratch = Path(tempfile.mkdtemp(prefix=f"moderation-onnx-{loaded.name}-"))
        log.warning("%s is read-only; exporting to %s for this process only", onnx_dir, scratch)
        return scratch, export(loaded, scratch, tolerance=tolerance)


class OnnxScorer(TransformerScorer):
    def __init__(
        self,
        loaded: LoadedModel,
        path: Path,
        options: EngineOptions,
        *,
        variant: str,
        threads: int = 0,
    ) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.inter_op_num_threads = 1
        if threads:
            so.intra_op_num_threads = threads
        so.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=so, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelUnavailable(f"ONNX Runtime could not load {path}: {exc}") from exc
        self.variant = variant
        info = ModelInfo(
            name=f"detoxify-{loaded.name}",
            version=loaded.sha256[:12] or "unknown",
            device="cpu",
            runtime=f"onnx-{variant}",
        )
        super().__init__(loaded, options, info)

    @classmethod
    def from_settings(cls, loaded: LoadedModel, onnx_dir: Path, settings: Settings) -> OnnxScorer:
        folder, report = ensure_exported(loaded, onnx_dir, tolerance=settings.onnx_int8_tolerance)
        wanted = settings.toxicity_runtime
        variant = "fp32"
        if wanted in {"auto", "onnx-int8"}:
            if report.int8_ok:
                variant = "int8"
            else:
                log.warning(
                    "int8 ONNX of %s differs from PyTorch by up to %.4f (> %.4f): using fp32 ONNX",
                    loaded.name,
                    report.int8_max_diff,
                    report.tolerance,
                )
        log.info(
            "ONNX Runtime %s for %s (probe max diff vs PyTorch: fp32 %.4f, int8 %.4f)",
            variant,
            loaded.name,
            report.fp32_max_diff,
            report.int8_max_diff,
        )
        options = EngineOptions.from_settings(settings, loaded.max_length, gpu=False)
        path = folder / (INT8 if variant == "int8" else FP32)
        return cls(loaded, path, options, variant=variant, threads=settings.threads)

    def forward(
        self, input_ids: npt.NDArray[np.int64], attention_mask: npt.NDArray[np.int64]
    ) -> npt.NDArray[Any]:
        out = self.session.run(
            ["probs"], {"input_ids": input_ids, "attention_mask": attention_mask}
        )
        return np.asarray(out[0])


# --- the export recipe --------------------------------------------------------------------------


def _torch_export(model: Any, loaded: LoadedModel, path: Path) -> None:
    import torch

    class Probabilities(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            logits = self.inner(input_ids=input_ids, attention_mask=attention_mask).logits
            return torch.sigmoid(logits)

    # The eager attention graph is the one ONNX Runtime's optimiser knows how to fuse.
    previous = getattr(model.config, "_attn_implementation", None)
    _set_attention(model, "eager")
    example = loaded.tokenizer(
        ["an example comment to trace the graph with", "short"],
        padding=True,
        return_tensors="pt",
        return_token_type_ids=False,
    )
    import warnings

    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Probabilities(model).eval(),
                (example["input_ids"], example["attention_mask"]),
                str(path),
                input_names=["input_ids", "attention_mask"],
                output_names=["probs"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "probs": {0: "batch"},
                },
                opset_version=17,
                do_constant_folding=True,
                dynamo=False,
            )
    finally:
        if previous:
            _set_attention(model, previous)


def _set_attention(model: Any, implementation: str) -> None:
    setter = getattr(model, "set_attn_implementation", None)
    if callable(setter):
        try:
            setter(implementation)
            return
        except (ValueError, AttributeError, TypeError):
            pass
    model.config._attn_implementation = implementation


def _optimize(raw: Path, out: Path, config: Any) -> bool:
    """Fuse the graph with ONNX Runtime's transformer optimiser; False if it could not."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        optimized = optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
            opt_level=1,
        )
        optimized.save_model_to_file(str(out))
        return True
    except Exception as exc:  # the optimiser's failures are not typed; fall back to raw
        log.warning("ONNX graph optimisation failed (%s); using the unfused graph", exc)
        return False


def _quantize(fp32: Path, int8: Path) -> None:
    import logging as _logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser logs a pre-processing suggestion at WARNING on every call.
    root = _logging.getLogger()
    level = root.level
    root.setLevel(_logging.ERROR)
    try:
        import onnx

        quantize_dynamic(
            str(fp32),
            str(int8),
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
