"""Choose and load the toxicity scorer the settings ask for.

``MODERATION_SCORER``:

* ``linear``: alt-profanity-check's shipped model, on purpose (not flagged degraded).
* ``detoxify``: the configured Detoxify model, or stop with an error that names the model, the
  directory and the ``moderation models pull`` command to run.
* ``auto`` (default): Detoxify when its pulled weights are present, else the linear fallback,
  logged as a warning and flagged ``degraded`` in ``/readyz``, stats and every decision. Weights
  that are present but fail verification stop the worker in either mode: scoring with a
  half-loaded model would be a silent failure.

The runtime (``MODERATION_TOXICITY_RUNTIME``): on CUDA, PyTorch in bf16/fp16; on CPU, ONNX
Runtime int8 where it agrees with PyTorch within ``onnx_int8_tolerance``, else fp32 ONNX; PyTorch
fp32 on CPU when ONNX Runtime is not installed or ``torch`` is asked for.
"""

from __future__ import annotations

import logging

from moderation.errors import ModelUnavailable
from moderation.scoring.base import Scorer
from moderation.scoring.linear import LinearScorer
from moderation.scoring.weights import ModelFiles, load
from moderation.scoring.zero import ZeroScorer
from moderation.settings import Settings

log = logging.getLogger(__name__)


def load_scorer(settings: Settings) -> Scorer:
    if settings.scorer == "linear":
        return LinearScorer()
    if settings.scorer == "zero":
        return ZeroScorer()
    files = ModelFiles.at(settings.model_dir, settings.toxicity_model)
    if files.present():
        return load_detoxify(settings, files)
    if settings.scorer == "detoxify":
        raise ModelUnavailable(files.missing_message(settings.model_dir))
    log.warning(
        "DEGRADED: no Detoxify weights for model %r in %s; scoring with the linear fallback "
        "(alt-profanity-check), which knows only one label. Fetch the weights with "
        "`moderation models pull %s --dir %s`.",
        settings.toxicity_model,
        files.root,
        settings.toxicity_model,
        settings.model_dir,
    )
    return LinearScorer(degraded=True)


def load_detoxify(settings: Settings, files: ModelFiles) -> Scorer:
    """Load the pulled model in ``files`` with the runtime the settings resolve to."""
    from moderation.scoring.torch_backend import TorchScorer, resolve_device

    try:
        import detoxify  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise ModelUnavailable(
            f"the Detoxify scorer needs the 'detoxify' extra ({exc}); install torch==2.13.0 "
            "first, then pip install 'moderation[detoxify]'"
        ) from exc
    loaded = load(files)
    device = resolve_device(settings.device)
    runtime = settings.toxicity_runtime
    if device == "cpu" and runtime != "torch":
        try:
            from moderation.scoring.onnx_backend import OnnxScorer

            return OnnxScorer.from_settings(loaded, files.onnx_dir, settings)
        except ImportError as exc:
            if runtime != "auto":
                raise ModelUnavailable(
                    f"MODERATION_TOXICITY_RUNTIME={runtime} needs onnxruntime ({exc})"
                ) from exc
            log.warning("onnxruntime is not installed (%s): PyTorch fp32 on the CPU", exc)
    elif device != "cpu" and runtime.startswith("onnx"):
        raise ModelUnavailable(
            f"MODERATION_TOXICITY_RUNTIME={runtime} runs on the CPU only; "
            "use auto or torch with MODERATION_DEVICE=cuda"
        )
    scorer = TorchScorer(loaded, settings, device=device)
    scorer.warm_up()
    return scorer
