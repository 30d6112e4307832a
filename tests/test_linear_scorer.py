"""The linear scorer gives the shipped model's own probabilities, from its folds' numbers.

``LinearScorer`` does not call the package's ``predict_prob`` (3 ms a call whatever the batch):
it reads the five calibrated folds once and scores with one product, on TF-IDF features it
builds itself. These tests hold
it to the package's answer on real comments and crafted ones, and to the worker's contract
for an ``inline`` scorer (scored on the loop: no scoring thread is used).
"""

from __future__ import annotations

import numpy as np
import pytest
from profanity_check import profanity_check

from moderation.scoring.linear import LinearScorer

TEXTS = [
    "Thanks for the budget story, the numbers look right.",
    "You are a complete idiot and a moron, shut up.",
    "What the hell is wrong with this council, they are fucking useless",
    "",
    "a",
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
    "Ünïcödé tëxt with émojis 🎉🎉 and ДРУГОЙ алфавит",
    "stupid " * 500,
    "A thoughtful reply about the harbour plans. " * 40,
]


@pytest.fixture(scope="module")
def scorer() -> LinearScorer:
    return LinearScorer()


def test_same_probabilities_as_the_package(scorer: LinearScorer) -> None:
    got = [d["toxicity"] for d in scorer.score(TEXTS)]
    want = [round(float(p), 6) for p in profanity_check.predict_prob(TEXTS)]
    assert got == want
    # Not a degenerate model: the insults score far above the thanks.
    assert got[1] > 0.5 > got[0]


def test_unrounded_values_agree_to_float_precision(scorer: LinearScorer) -> None:
    folds, words = scorer._folds, scorer._words
    assert folds is not None, "the shipped model's folds were not read"
    assert words is not None, "the shipped vectoriser's settings were not recognised"
    want = profanity_check.predict_prob(TEXTS)
    # The folds on the package's own features, and on the features built here.
    from_package = folds.probabilities(profanity_check.vectorizer.transform(TEXTS))
    assert np.abs(from_package - want).max() < 1e-12
    assert np.abs(folds.calibrated(words.margins(TEXTS, folds)) - want).max() < 1e-12


def test_batches_of_any_size_match_one_by_one(scorer: LinearScorer) -> None:
    one_by_one = [scorer.score([t])[0] for t in TEXTS]
    assert scorer.score(TEXTS) == one_by_one
    assert scorer.score([]) == []


def test_marked_inline_for_the_worker(scorer: LinearScorer) -> None:
    assert LinearScorer.inline is True
    assert scorer.labels == ("toxicity",)
