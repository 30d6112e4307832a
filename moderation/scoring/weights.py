"""Pulled Detoxify weights on disk, and loading them through detoxify's own code, verified.

Layout of one model under ``MODERATION_MODEL_DIR`` (written by ``moderation models pull``)::

    <model_dir>/<model>/
        checkpoint.ckpt   detoxify's checkpoint, its ``model_type`` rewritten to ./hf (absolute)
        hf/               Hugging Face config (declaring the label count) and tokenizer files
        manifest.json     where every file came from, its SHA-256, labels, versions
        onnx/             the ONNX export and its int8 quantisation (made on pull or first start)

Two traps of loading detoxify checkpoints offline are handled here rather than trusted to the
files: the architecture config is read from the directory next to the checkpoint, whatever path
the checkpoint names, and every weight of the built model is compared with the checkpoint,
because transformers skips state-dict keys it does not recognise *silently*, which would leave a
randomly initialised classifier deciding comments.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moderation.errors import ModelUnavailable
from moderation.scoring.catalog import LABEL_RENAMES, MODEL_MAX_LENGTH

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.ckpt"
HF_DIR = "hf"
MANIFEST = "manifest.json"
ONNX_DIR = "onnx"

#: Buffers the architectures compute from their config rather than learn; a checkpoint written
#: by another transformers version may lack them without harm.
_DERIVED_BUFFERS = ("position_ids", "token_type_ids")
#: Old (TensorFlow-era) names of LayerNorm parameters that transformers still maps on load.
_LEGACY_SUFFIXES = {".gamma": ".weight", ".beta": ".bias"}


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """Where one pulled model lives. ``root`` is ``<model_dir>/<model>``."""

    name: str
    root: Path

    @classmethod
    def at(cls, model_dir: Path, name: str) -> ModelFiles:
        return cls(name, model_dir / name)

    @property
    def checkpoint(self) -> Path:
        return self.root / CHECKPOINT

    @property
    def hf(self) -> Path:
        return self.root / HF_DIR

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    @property
    def onnx_dir(self) -> Path:
        return self.root / ONNX_DIR

    def present(self) -> bool:
        return self.checkpoint.is_file() and (self.hf / "config.json").is_file()

    def manifest(self) -> dict[str, Any]:
        try:
            data = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def missing_message(self, model_dir: Path) -> str:
        return (
            f"Detoxify weights for model {self.name!r} are not in {self.root} "
            f"(expected {CHECKPOINT} and {HF_DIR}/config.json); fetch them with "
            f"`moderation models pull {self.name} --dir {model_dir}` on a machine with internet "
            "access, or set MODERATION_SCORER=linear to run on the offline fallback"
        )


@dataclass(slots=True)
class LoadedModel:
    """A Detoxify model built by detoxify's code and verified against its checkpoint."""

    name: str
    model: Any  # transformers PreTrainedModel
    tokenizer: Any  # transformers tokenizer (fast)
    labels: tuple[str, ...]
    #: Longest input in tokens, special tokens included.
    max_length: int
    #: SHA-256 of the checkpoint file as recorded at pull time ("" when unknown).
    sha256: str
    architecture: str


def load(files: ModelFiles) -> LoadedModel:
    """Load a pulled model on the CPU, through ``detoxify.detoxify.get_model_and_tokenizer``.

    Raises :class:`ModelUnavailable` naming the model, the directory and the remedy when files
    are missing, the checkpoint is malformed, or any weight did not load.
    """
    if not files.present():
        raise ModelUnavailable(files.missing_message(files.root.parent))
    import torch
    from detoxify.detoxify import get_model_and_tokenizer

    try:
        loaded = torch.load(files.checkpoint, map_location="cpu", weights_only=False)
        arch = dict(loaded["config"]["arch"]["args"])
        classes = list(loaded["config"]["dataset"]["args"]["classes"])
        state_dict = loaded["state_dict"]
    except (KeyError, TypeError, OSError, RuntimeError, EOFError) as exc:
        raise ModelUnavailable(
            f"{files.checkpoint} is not a Detoxify checkpoint ({exc!r}); pull it again with "
            f"`moderation models pull {files.name} --dir {files.root.parent}`"
        ) from exc
    # Whatever folder the checkpoint names (the pull may have happened elsewhere, or the folder
    # moved), the config and tokenizer come from the files beside it.
    arch["model_type"] = str(files.hf)
    try:
        model, tokenizer = get_model_and_tokenizer(
            **arch, state_dict=state_dict, huggingface_config_path=str(files.hf)
        )
    except (OSError, ValueError, AttributeError, KeyError) as exc:
        raise ModelUnavailable(
            f"could not build Detoxify model {files.name!r} from {files.root}: {exc}"
        ) from exc
    verify_weights(model, state_dict, where=str(files.checkpoint))
    model.eval()
    labels = tuple(LABEL_RENAMES.get(c, c) for c in classes)
    outputs = int(model.config.num_labels)
    if outputs < len(labels):
        raise ModelUnavailable(
            f"{files.hf}/config.json declares {outputs} labels but the checkpoint has "
            f"{len(labels)} classes; pull the model again"
        )
    max_length = _max_length(model, tokenizer)
    tokenizer.model_max_length = max_length
    if not getattr(tokenizer, "is_fast", False):
        raise ModelUnavailable(
            f"the tokenizer of {files.name!r} loaded as a slow (Python) tokenizer; this service "
            "needs transformers >= 5 (fast tokenizers for batching and long-text windows)"
        )
    return LoadedModel(
        name=files.name,
        model=model,
        tokenizer=tokenizer,
        labels=labels,
        max_length=max_length,
        sha256=str(files.manifest().get("sha256", "")),
        architecture=str(arch.get("model_name", type(model).__name__)),
    )


def _max_length(model: Any, tokenizer: Any) -> int:
    """The model's input window: 512 for every Detoxify architecture.

    A tokenizer config without ``model_max_length`` reports a huge sentinel, and truncation to it
    lets a long comment reach the position embeddings' end and crash; so clamp to what the
    position table holds (RoBERTa-style models reserve ``pad_token_id + 1`` leading positions).
    """
    positions = int(getattr(model.config, "max_position_embeddings", MODEL_MAX_LENGTH))
    if getattr(model.config, "model_type", "") in {"roberta", "xlm-roberta"}:
        positions -= int(getattr(model.config, "pad_token_id", 1) or 1) + 1
    declared = int(getattr(tokenizer, "model_max_length", MODEL_MAX_LENGTH) or MODEL_MAX_LENGTH)
    return max(8, min(declared, positions, MODEL_MAX_LENGTH))


def verify_weights(model: Any, state_dict: dict[str, Any], *, where: str) -> None:
    """Every parameter and persistent buffer of ``model`` must equal a checkpoint tensor.

    Checks names (allowing for the base-model prefix and legacy LayerNorm names) and values, so
    a key transformers ignored, a shape it resized or a tensor it re-initialised is caught.
    """
    import torch

    source = {_modern(k): v for k, v in state_dict.items() if hasattr(v, "shape")}
    prefix = str(getattr(model, "base_model_prefix", "") or "")
    used: set[str] = set()
    missing: list[str] = []
    different: list[str] = []
    own = model.state_dict()
    for name, tensor in own.items():
        key = _find(name, source, prefix)
        if key is None:
            if name.rsplit(".", 1)[-1] not in _DERIVED_BUFFERS:
                missing.append(name)
            continue
        used.add(key)
        value = source[key]
        if tuple(value.shape) != tuple(tensor.shape) or not torch.equal(
            value.to(dtype=tensor.dtype, device=tensor.device), tensor
        ):
            different.append(name)
    if missing or different:
        unused = sorted(
            k for k in source if k not in used and k.rsplit(".", 1)[-1] not in _DERIVED_BUFFERS
        )
        problems = []
        if missing:
            problems.append(f"{len(missing)} not found in the checkpoint (e.g. {missing[:3]})")
        if different:
            problems.append(f"{len(different)} differ from it (e.g. {different[:3]})")
        hint = f"; checkpoint keys left unused: {unused[:3]}" if unused else ""
        raise ModelUnavailable(
            f"refusing to score with {where}: of {len(own)} weights, "
            + " and ".join(problems)
            + hint
            + ". Those weights would be random. Was the checkpoint saved with an extra key "
            "prefix (e.g. 'model.')? Pull the model again or convert the checkpoint."
        )
    log.info("verified %d weights against %s", len(own), where)


def _modern(key: str) -> str:
    for old, new in _LEGACY_SUFFIXES.items():
        if key.endswith(old):
            return key[: -len(old)] + new
    return key


def _find(name: str, source: dict[str, Any], prefix: str) -> str | None:
    if name in source:
        return name
    if prefix:
        alt = name[len(prefix) + 1 :] if name.startswith(prefix + ".") else f"{prefix}.{name}"
        if alt in source:
            return alt
    return None
