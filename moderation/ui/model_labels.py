"""Which thresholds do something: the labels the running scorers produce.

The policy and article pages offer a threshold for every label the policy knows; the model a
worker runs may score only some of them (the offline fallback scores ``toxicity`` alone), and a
threshold for a label no running model scores never holds anything. The live workers' heartbeat
facts name their model (:class:`moderation.ops.heartbeat.WorkerFacts`), and the scoring
catalogue says which labels each model scores (:func:`moderation.scoring.catalog.labels_of`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.ops.stats import read_state
from moderation.scoring.catalog import labels_of
from moderation.settings import Settings


@dataclass(frozen=True, slots=True)
class LabelUse:
    #: The models live workers run (sorted; empty when no worker runs).
    models: tuple[str, ...]
    #: The labels they score together; None when unknown (no worker, or a model not known).
    produced: frozenset[str] | None

    def unused(self, labels: Iterable[str]) -> list[str]:
        """The labels among ``labels`` that no running model scores (none when unknown)."""
        if self.produced is None:
            return []
        return [label for label in labels if label not in self.produced]

    @property
    def model_names(self) -> str:
        return ", ".join(self.models)


def label_use(models: Iterable[str]) -> LabelUse:
    """The labels of these models together (pure: table-tested)."""
    names = tuple(sorted(set(models)))
    produced: set[str] = set()
    for name in names:
        labels = labels_of(name)
        if labels is None:
            return LabelUse(names, None)
        produced.update(labels)
    return LabelUse(names, frozenset(produced) if names else None)


async def live_label_use(redis: Redis, keys: Keys, settings: Settings) -> LabelUse:
    """:func:`label_use` of the models the workers with a fresh heartbeat run."""
    state = await read_state(redis, keys, settings)
    live = [
        w.model
        for w in state.workers
        if w.model and not w.gone and state.now - w.last_beat <= settings.heartbeat_ttl_s
    ]
    return label_use(live)
