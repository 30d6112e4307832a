"""The scorer contract shared by every toxicity model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from moderation.messages import ModelInfo


class Scorer(Protocol):
    """Scores batches of texts. Implementations are used from one worker thread at a time.

    ``score`` returns one ``{label: probability}`` dict per input text, in input order, with
    every label the model produces. It raises on failure; the worker then isolates the failing
    text by scoring items one by one.

    A scorer may also set a class attribute ``inline = True``: its calls are cheap (well under
    a millisecond a batch), bounded whatever the text, and hold the GIL throughout, so the
    worker calls it on its event loop instead of its scoring thread (no deadline applies:
    there is nothing to overrun). Without it, the worker scores in its thread.
    """

    @property
    def info(self) -> ModelInfo: ...

    @property
    def labels(self) -> tuple[str, ...]: ...

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]: ...
