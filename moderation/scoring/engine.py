"""The scoring loop shared by Detoxify's runtimes (PyTorch and ONNX Runtime).

A runtime only supplies ``forward(input_ids, attention_mask) -> probabilities``; tokenising,
long-text windows, length-sorted chunks within a token budget and the per-text maximum are done
here once (see ``moderation.scoring.batching`` for why each is done that way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from moderation.messages import ModelInfo
from moderation.scoring import batching
from moderation.scoring.weights import LoadedModel
from moderation.settings import Settings


@dataclass(frozen=True, slots=True)
class EngineOptions:
    max_length: int
    #: Tokens shared by consecutive windows of a long text.
    stride: int
    #: ``True``: score every window of a long text (max per label); ``False``: truncate.
    windows: bool
    token_budget: int
    pad_multiple: int
    #: Fixed cost of one forward pass, in tokens (see ``batching.plan``).
    overhead: int = 32
    #: Most rows in one forward pass (0: only the token budget limits it).
    max_rows: int = 0

    @classmethod
    def from_settings(cls, settings: Settings, max_length: int, *, gpu: bool) -> EngineOptions:
        budget = settings.toxicity_token_budget or (131_072 if gpu else 8_192)
        # A CPU runs any shape at the same speed per token: pad only to the chunk's longest
        # (measured: 7% faster than multiples of 8). A GPU wants few recurring shapes.
        multiple = settings.toxicity_pad_multiple or (32 if gpu else 1)
        stride = min(settings.toxicity_window_stride, max_length // 2)
        return cls(
            max_length=max_length,
            stride=stride,
            windows=settings.toxicity_long_text == "windows",
            token_budget=max(budget, max_length),
            pad_multiple=multiple,
            # A GPU forward pass costs ~2 ms of launches whatever its size (≈ 2k tokens of
            # bf16 compute on an H100); on a CPU the arithmetic dwarfs it.
            overhead=2048 if gpu else 32,
        )


class TransformerScorer:
    """A :class:`~moderation.scoring.base.Scorer` over a Detoxify model. Subclasses implement
    :meth:`forward`; it must return sigmoid probabilities with at least ``len(labels)`` columns.
    """

    def __init__(self, loaded: LoadedModel, options: EngineOptions, info: ModelInfo) -> None:
        self.loaded = loaded
        self.options = options
        self._info = info
        self._labels = loaded.labels
        pad = loaded.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else 0)
        #: Tokens fed to the model by the last ``score`` call (padding included), for benchmarks.
        self.last_padded_tokens = 0
        self.last_tokens = 0

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    def forward(
        self, input_ids: npt.NDArray[np.int64], attention_mask: npt.NDArray[np.int64]
    ) -> npt.NDArray[Any]:
        raise NotImplementedError

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        probs = self.score_array(texts)
        labels = self._labels
        return [{label: round(float(row[j]), 6) for j, label in enumerate(labels)} for row in probs]

    def score_array(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Scores as a ``[texts, labels]`` array (benchmarks and evaluation use this)."""
        o = self.options
        encoded = batching.encode(
            self.loaded.tokenizer,
            texts,
            max_length=o.max_length,
            stride=o.stride,
            windows=o.windows,
        )
        chunks = batching.plan(
            [len(w) for w in encoded.windows],
            token_budget=o.token_budget,
            pad_multiple=o.pad_multiple,
            cap=o.max_length,
            overhead=o.overhead,
            max_rows=o.max_rows,
        )
        outputs = self.run_chunks(encoded, chunks)
        self.last_tokens = encoded.tokens
        self.last_padded_tokens = sum(
            len(chunk)
            * batching.padded(
                max(len(encoded.windows[i]) for i in chunk), o.pad_multiple, o.max_length
            )
            for chunk in chunks
        )
        return batching.combine(encoded, chunks, outputs)

    def run_chunks(
        self, encoded: batching.Encoded, chunks: Sequence[Sequence[int]]
    ) -> list[npt.NDArray[Any]]:
        """One forward pass per chunk; runtimes that can overlap work override this."""
        n = len(self._labels)
        return [np.asarray(self.forward(*self.collate(encoded, c)))[:, :n] for c in chunks]

    def collate(
        self, encoded: batching.Encoded, chunk: Sequence[int]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """``input_ids`` and ``attention_mask`` of one chunk."""
        return batching.collate(
            encoded.windows,
            chunk,
            pad_id=self.pad_id,
            pad_multiple=self.options.pad_multiple,
            cap=self.options.max_length,
        )
