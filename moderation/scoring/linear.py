"""The offline fallback: alt-profanity-check's shipped linear SVM (TF-IDF features).

It needs no download and scores tens of thousands of comments per second, but it knows only
"offensive or not", which we report as the ``toxicity`` label. Used when Detoxify weights are
absent (``auto``) or when chosen explicitly (``linear``).

The shipped model is scikit-learn's ``CalibratedClassifierCV`` over five ``LinearSVC`` folds,
each with a sigmoid calibrator; its ``predict_proba`` costs about 3 ms a call whatever the
batch's size (input validation and five estimators called one by one), which on a lightly
loaded worker was most of a comment's time to its decision. :class:`_Folds` computes the same
probability from the same fitted numbers in one sparse product: the mean over the folds of
``expit(-(a * (w·x + b) + c))``. The folds are read once, at load; a model of another shape
(a future release of the package) is scored through the package's own function instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np

from moderation.messages import ModelInfo
from moderation.scoring.catalog import LINEAR_LABELS


class _Folds:
    """The calibrated folds' numbers: weights (features × folds), intercepts, and each
    sigmoid calibrator's slope and offset."""

    def __init__(self, model: Any) -> None:
        folds = model.calibrated_classifiers_
        if list(model.classes_) != [0, 1] or not folds:
            raise ValueError("not a binary calibrated classifier")
        weights, intercepts, slopes, offsets = [], [], [], []
        for fold in folds:
            if getattr(fold, "method", None) != "sigmoid" or len(fold.calibrators) != 1:
                raise ValueError("not one sigmoid calibrator per fold")
            coef = np.asarray(fold.estimator.coef_, dtype=np.float64)
            if coef.shape[0] != 1:
                raise ValueError("not a binary linear estimator")
            weights.append(coef[0])
            intercepts.append(float(np.ravel(fold.estimator.intercept_)[0]))
            slopes.append(float(fold.calibrators[0].a_))
            offsets.append(float(fold.calibrators[0].b_))
        self.weights = np.ascontiguousarray(np.stack(weights, axis=1))
        self.intercepts = np.array(intercepts)
        self.slopes = np.array(slopes)
        self.offsets = np.array(offsets)

    def probabilities(self, features: Any) -> Any:
        """P(offensive) per row of the sparse TF-IDF matrix ``features``."""
        margins = np.asarray(features @ self.weights) + self.intercepts
        return (1.0 / (1.0 + np.exp(self.slopes * margins + self.offsets))).mean(axis=1)


class LinearScorer:
    #: Cheap and bounded (a sparse product): scored on the worker's loop (``scoring.base``).
    inline = True

    def __init__(self, *, degraded: bool = False) -> None:
        # Imported here: loading the pickled vectoriser takes a moment and a few MB.
        from profanity_check import profanity_check

        self._module = profanity_check
        try:
            self._folds: _Folds | None = _Folds(profanity_check.model)
        except (AttributeError, ValueError, TypeError):  # pragma: no cover - another release
            self._folds = None
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
        if self._folds is None:  # pragma: no cover - another release's model
            probs = self._module.predict_prob(list(texts))
        else:
            probs = self._folds.probabilities(self._module.vectorizer.transform(list(texts)))
        return [{"toxicity": round(float(p), 6)} for p in probs]
