"""A scorer that costs nothing: every label 0.0, for measuring everything but the model.

``MODERATION_SCORER=zero`` exists for benchmarks (``bench/pipeline.py``) and for tests of the
worker pool, where the model's cost would only hide the pipeline's own. It approves whatever
the spam signals and rules let through, so it must never run in production: its model name,
``zero``, is stored with every decision it makes, so a misconfiguration is visible.
"""

from __future__ import annotations

from collections.abc import Sequence

from moderation.messages import ModelInfo

#: Detoxify ``original``'s labels, so decisions look like a real model's.
LABELS = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
)


class ZeroScorer:
    #: Costs nothing: scored on the worker's loop (``scoring.base``).
    inline = True

    def __init__(self) -> None:
        self._info = ModelInfo(name="zero", version="0", device="cpu")

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def labels(self) -> tuple[str, ...]:
        return LABELS

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        zero = dict.fromkeys(LABELS, 0.0)
        return [dict(zero) for _ in texts]
