"""Which thresholds do something (moderation.ui.model_labels): table-driven."""

from __future__ import annotations

import pytest

from moderation.review.overrides import known_labels
from moderation.settings import Settings
from moderation.ui.model_labels import label_use

ALL = known_labels(Settings())


@pytest.mark.parametrize(
    ("models", "unused"),
    [
        (["linear"], [label for label in ALL if label != "toxicity"]),
        (["detoxify-original"], ["sexual_explicit"]),
        (["detoxify-unbiased"], []),
        (["detoxify-multilingual", "detoxify-original-small"], []),
        # Two workers, one on the fallback: a label either scores is in use.
        (["linear", "detoxify-original"], ["sexual_explicit"]),
        (["linear", "linear"], [label for label in ALL if label != "toxicity"]),
        ([], []),  # no worker: unknown, nothing marked
        (["something-new"], []),  # a model not in the catalogue: unknown
    ],
)
def test_unused_labels(models: list[str], unused: list[str]) -> None:
    use = label_use(models)
    assert use.unused(ALL) == unused
    assert use.models == tuple(sorted(set(models)))


def test_every_default_label_is_scored_by_some_model() -> None:
    assert label_use(["detoxify-unbiased"]).produced == frozenset(ALL)
