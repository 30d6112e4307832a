"""The offline fallback: alt-profanity-check's shipped linear SVM (TF-IDF features).

It needs no download and scores tens of thousands of comments per second, but it knows only
"offensive or not", which we report as the ``toxicity`` label. Used when Detoxify weights are
absent (``auto``) or when chosen explicitly (``linear``).

The shipped model is scikit-learn's ``CalibratedClassifierCV`` over five ``LinearSVC`` folds,
each with a sigmoid calibrator; its ``predict_proba`` costs about 3 ms a call whatever the
batch's size (input validation and five estimators called one by one), which on a lightly
loaded worker was most of a comment's time to its decision. :class:`_Folds` computes the same
probability from the same fitted numbers in one sparse product: the mean over the folds of
``expit(-(a * (w·x + b) + c))``. The TF-IDF features (word unigrams, lowercased, raw counts
times the idf, L2-normalised) are built by :class:`_Words` straight into that product: the
vectoriser's ``transform`` adds half a millisecond of checks a call, as much as a small batch's
whole scoring. Both are read once, at load; a model or vectoriser of another shape (a future
release of the package) is scored through the package's own objects instead.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from importlib import metadata
from typing import Any, ClassVar

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
        return self.calibrated(np.asarray(features @ self.weights) + self.intercepts)

    def calibrated(self, margins: Any) -> Any:
        """P(offensive) per row of ``margins`` (texts × folds): the folds' calibrated mean."""
        return (1.0 / (1.0 + np.exp(self.slopes * margins + self.offsets))).mean(axis=1)


class _Words:
    """The vectoriser's TF-IDF rows, computed as its ``transform`` does for its settings."""

    #: The settings this reimplements; any other makes the scorer use ``transform`` itself.
    SETTINGS: ClassVar[dict[str, object]] = {
        "analyzer": "word",
        "lowercase": True,
        "ngram_range": (1, 1),
        "strip_accents": None,
        "preprocessor": None,
        "tokenizer": None,
        "binary": False,
        "sublinear_tf": False,
        "use_idf": True,
        "norm": "l2",
        "input": "content",
    }

    def __init__(self, vectorizer: Any) -> None:
        for name, want in self.SETTINGS.items():
            if getattr(vectorizer, name) != want:
                raise ValueError(f"vectoriser {name} is {getattr(vectorizer, name)!r}")
        # Stop words never reach the vocabulary, so looking tokens up there drops them too.
        self.pattern = re.compile(vectorizer.token_pattern)
        self.vocabulary: dict[str, int] = dict(vectorizer.vocabulary_)
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)

    def margins(self, texts: Sequence[str], folds: _Folds) -> Any:
        """``w·x + b`` per text (rows) and fold (columns)."""
        out = np.tile(folds.intercepts, (len(texts), 1))
        vocabulary, findall = self.vocabulary, self.pattern.findall
        for row, text in enumerate(texts):
            counts = Counter(
                index
                for token in findall(text.lower())
                if (index := vocabulary.get(token)) is not None
            )
            if not counts:
                continue
            columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            values *= self.idf[columns]
            values /= np.sqrt(np.dot(values, values))
            out[row] += values @ folds.weights[columns]
        return out


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
            self._words: _Words | None = _Words(profanity_check.vectorizer)
        except (AttributeError, ValueError, TypeError):  # pragma: no cover - another release
            self._words = None
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
        folds, words = self._folds, self._words
        if folds is None:  # pragma: no cover - another release's model
            probs = self._module.predict_prob(list(texts))
        elif words is None:  # pragma: no cover - another release's vectoriser
            probs = folds.probabilities(self._module.vectorizer.transform(list(texts)))
        else:
            probs = folds.calibrated(words.margins(texts, folds))
        return [{"toxicity": round(float(p), 6)} for p in probs]
