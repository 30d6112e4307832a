"""Turning a batch of comments into model-sized tensors with little padding.

Three decisions live here:

* **Long texts** are split into overlapping windows of the model's length (512 tokens) and the
  comment's score for each label is the **maximum over its windows**. Truncating would let
  anyone hide abuse after a few paragraphs of filler; averaging would dilute one abusive
  paragraph in a long, civil comment. The overlap (``stride`` tokens) keeps a phrase that
  straddles a window boundary whole in one of them. The cost is bounded: at most
  ``max_text_chars`` characters reach the model.
* **Length sorting**: windows are sorted by token count and cut into chunks, so each chunk pads
  to its own longest member instead of the batch's (unsorted batches of news comments were 2.5×
  padding).
* **Token budget**: a chunk grows while ``rows × padded length`` stays within the budget, so a
  batch of short comments runs as one wide chunk and long ones as several narrow ones, with
  bounded memory either way. Lengths are rounded up to a multiple (``pad_multiple``) so a GPU
  sees a few recurring shapes and keeps its kernels warm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Encoded:
    """Token windows of a batch of texts. ``owner[i]`` is the text window ``i`` belongs to."""

    windows: list[list[int]]
    owner: list[int]
    texts: int

    @property
    def tokens(self) -> int:
        return sum(len(w) for w in self.windows)


def encode(
    tokenizer: Any, texts: Sequence[str], *, max_length: int, stride: int, windows: bool
) -> Encoded:
    """Tokenise (special tokens included), splitting texts over ``max_length`` into windows
    that overlap by ``stride`` tokens, or truncating them when ``windows`` is false."""
    if not texts:
        return Encoded([], [], 0)
    enc = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        stride=stride if windows else 0,
        return_overflowing_tokens=windows,
        return_attention_mask=False,
        return_token_type_ids=False,
        padding=False,
    )
    ids: list[list[int]] = [list(x) for x in enc["input_ids"]]
    owner = list(enc["overflow_to_sample_mapping"]) if windows else list(range(len(texts)))
    return Encoded(ids, owner, len(texts))


def padded(length: int, multiple: int, cap: int) -> int:
    """``length`` rounded up to ``multiple`` (at most ``cap``)."""
    if multiple <= 1:
        return min(length, cap)
    return min(-(-length // multiple) * multiple, cap)


def plan(
    lengths: Sequence[int],
    *,
    token_budget: int,
    pad_multiple: int,
    cap: int,
    overhead: int = 0,
    max_rows: int = 0,
) -> list[list[int]]:
    """Cut windows into chunks, each padded to its own longest member, minimising
    ``padded tokens + overhead × forward passes`` within ``token_budget`` padded tokens a chunk.

    Windows are sorted by length and grouped by padded length; a chunk is a run of consecutive
    groups, chosen by dynamic programming over the (few) group boundaries. ``overhead`` is the
    fixed cost of one forward pass expressed in tokens: small on a CPU (compute dominates, so
    every length gets its own chunk), large on a GPU (kernel launches dominate, so chunks merge).
    A window longer than the budget still gets a chunk of its own.
    """
    if not lengths:
        return []
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    widths = [padded(lengths[i], pad_multiple, cap) for i in order]
    # Group boundaries: ends[k] is one past the last window of group k.
    ends = [k + 1 for k in range(len(widths)) if k + 1 == len(widths) or widths[k + 1] != widths[k]]
    starts = [0, *ends[:-1]]

    def rows_per_chunk(width: int) -> int:
        rows = max(1, token_budget // width)
        return min(rows, max_rows) if max_rows else rows

    # best[b]: least cost of chunking windows [0, ends[b-1]); choice[b]: the group it starts at.
    best = [0.0] + [float("inf")] * len(ends)
    choice = [0] * (len(ends) + 1)
    for b in range(1, len(ends) + 1):
        width = widths[ends[b - 1] - 1]
        per = rows_per_chunk(width)
        for a in range(b - 1, -1, -1):
            rows = ends[b - 1] - starts[a]
            cost = best[a] + rows * width + overhead * -(-rows // per)
            if cost < best[b]:
                best[b], choice[b] = cost, a
    cuts: list[tuple[int, int]] = []
    b = len(ends)
    while b > 0:
        a = choice[b]
        cuts.append((starts[a], ends[b - 1]))
        b = a
    chunks: list[list[int]] = []
    for lo, hi in reversed(cuts):
        per = rows_per_chunk(widths[hi - 1])
        for at in range(lo, hi, per):
            chunks.append(order[at : min(at + per, hi)])
    return chunks


def collate(
    windows: Sequence[Sequence[int]],
    chunk: Sequence[int],
    *,
    pad_id: int,
    pad_multiple: int,
    cap: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``input_ids`` and ``attention_mask`` of one chunk, padded on the right."""
    width = padded(max(len(windows[i]) for i in chunk), pad_multiple, cap)
    ids = np.full((len(chunk), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(chunk), width), dtype=np.int64)
    for row, i in enumerate(chunk):
        w = windows[i]
        ids[row, : len(w)] = w
        mask[row, : len(w)] = 1
    return ids, mask


def combine(
    encoded: Encoded, chunks: Sequence[Sequence[int]], outputs: Sequence[npt.NDArray[Any]]
) -> npt.NDArray[np.float32]:
    """Per-text scores ``[texts, labels]``: each text's maximum over its windows."""
    labels = outputs[0].shape[1] if outputs else 0
    result = np.full((encoded.texts, labels), -np.inf, dtype=np.float32)
    for chunk, probs in zip(chunks, outputs, strict=True):
        owners = np.asarray([encoded.owner[i] for i in chunk])
        np.maximum.at(result, owners, probs.astype(np.float32))
    return result
