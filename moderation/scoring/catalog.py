"""The Detoxify models we know how to fetch, and the Hugging Face files each one needs.

Detoxify publishes each model as one PyTorch Lightning checkpoint on its GitHub releases. The
checkpoint carries the trained weights and its own training config (architecture class, the
Hugging Face base model to build it from, tokenizer class, label names) but no Hugging Face
config or tokenizer files: detoxify normally fetches those from the Hub at load time. To run
offline, ``moderation models pull`` stores both next to each other (see
``moderation.scoring.weights``).
"""

from __future__ import annotations

from dataclasses import dataclass

from moderation.settings import TOXICITY_MODELS

#: Where detoxify's own code downloads its checkpoints from.
RELEASE_URL = "https://github.com/unitaryai/detoxify/releases/download/"
#: The Hugging Face Hub (``--hub-url`` / ``HF_ENDPOINT`` point elsewhere, e.g. a mirror).
HUB_URL = "https://huggingface.co"


@dataclass(frozen=True, slots=True)
class DetoxifyModel:
    """One released Detoxify model."""

    name: str
    #: Path of the checkpoint under :data:`RELEASE_URL` (its file name carries a SHA-256 prefix).
    release_path: str
    base: str
    description: str
    #: Data sets the model was trained on, so an evaluation can warn about overlap.
    trained_on: tuple[str, ...]
    #: The labels it scores (after :data:`LABEL_RENAMES`): a threshold for any other label
    #: never holds anything while this model runs.
    labels: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return RELEASE_URL + self.release_path


JIGSAW_TOXIC_LABELS = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
)
UNBIASED_LABELS = (*JIGSAW_TOXIC_LABELS, "sexual_explicit")
#: The one label of the offline fallback (alt-profanity-check, ``moderation.scoring.linear``).
LINEAR_LABELS = ("toxicity",)

MODELS: dict[str, DetoxifyModel] = {
    m.name: m
    for m in (
        DetoxifyModel(
            "original",
            "v0.1-alpha/toxic_original-c1212f89.ckpt",
            "bert-base-uncased",
            "BERT base, Jigsaw Toxic Comment Classification (Wikipedia talk pages), 6 labels",
            ("jigsaw-toxic-comment",),
            JIGSAW_TOXIC_LABELS,
        ),
        DetoxifyModel(
            "unbiased",
            "v0.3-alpha/toxic_debiased-c7548aa0.ckpt",
            "roberta-base",
            "RoBERTa base, Jigsaw Unintended Bias (Civil Comments), 7 labels",
            ("jigsaw-unintended-bias", "civil-comments"),
            UNBIASED_LABELS,
        ),
        DetoxifyModel(
            "multilingual",
            "v0.4-alpha/multilingual_debiased-0b549669.ckpt",
            "xlm-roberta-base",
            "XLM-RoBERTa base, Jigsaw Multilingual (7 languages), 7 labels",
            ("jigsaw-multilingual", "jigsaw-unintended-bias", "civil-comments"),
            UNBIASED_LABELS,
        ),
        DetoxifyModel(
            "original-small",
            "v0.1.2/original-albert-0e1d6498.ckpt",
            "albert-base-v2",
            "ALBERT base, Jigsaw Toxic Comment Classification, 6 labels (smaller, faster)",
            ("jigsaw-toxic-comment",),
            JIGSAW_TOXIC_LABELS,
        ),
        DetoxifyModel(
            "unbiased-small",
            "v0.1.2/unbiased-albert-c8519128.ckpt",
            "albert-base-v2",
            "ALBERT base, Jigsaw Unintended Bias (Civil Comments), 7 labels (smaller, faster)",
            ("jigsaw-unintended-bias", "civil-comments"),
            UNBIASED_LABELS,
        ),
    )
}

# Settings validate MODERATION_TOXICITY_MODEL against their own list (settings sit below
# scoring): the two must name the same models.
if tuple(MODELS) != TOXICITY_MODELS:
    raise AssertionError(
        f"moderation.settings.TOXICITY_MODELS {TOXICITY_MODELS} differs from the catalogue's "
        f"models {tuple(MODELS)}"
    )

#: Detoxify's label renames, applied to the checkpoint's class names (as detoxify does).
LABEL_RENAMES = {
    "toxic": "toxicity",
    "identity_hate": "identity_attack",
    "severe_toxic": "severe_toxicity",
}

#: Longest input (tokens, special tokens included) of every Detoxify architecture.
MODEL_MAX_LENGTH = 512


def labels_of(model: str) -> tuple[str, ...] | None:
    """The labels a scorer scores, from the model name it reports (``ModelInfo.name``, the
    heartbeat's ``model``: ``detoxify-original``, ``linear``); None for a name not known here."""
    if model == "linear":
        return LINEAR_LABELS
    found = MODELS.get(model.removeprefix("detoxify-"))
    return found.labels if found and found.labels else None


def get_model(name: str) -> DetoxifyModel:
    """The catalogue entry, or a :class:`KeyError` whose message lists the valid names."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(
            f"unknown Detoxify model {name!r}; choose one of {', '.join(MODELS)}"
        ) from None
