"""The offline fallback: alt-profanity-check's shipped linear SVM (TF-IDF features).

It needs no download and scores tens of thousands of comments per second, but it knows only
"offensive or not", which we report as the ``toxicity`` label. Used when Detoxify weights are
absent (``auto``) or when chosen explicitly (``linear``).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata

from moderation.messages import ModelInfo
from moderation.scoring.catalog import LINEAR_LABELS


class LinearScorer:
    def __init__(self, *, degraded: bool = False) -> None:
        # Imported here: loading the pickled vectoriser takes a moment and a few MB.
        from profanity_check import profanity_check

        self._module = profanity_check
        try:
            version = metadata.version("alt-profanity-check")
        except metadata.PackageNotFoundError:  # pragma: no cover - vendored copies
            version = "unknown"
        self._info = ModelInfo(name="linear", version=version, device="cpu", degraded=degraded)

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def labels(self) -> tuple[str, ...]:
        return LINEAR_LABELS

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        probs = self._module.predict_prob(list(texts))
        return [{"toxicity": round(float(p), 6)} for p in probs]
