"""News-comment-shaped text for the benchmarks: the library's shared corpus, re-exported.

The generators live in :mod:`moderation.evaluation.corpus` (one corpus for tests and
benchmarks); ``news_comments(n, seed=7)`` gives the same comments as it always has.
"""

from __future__ import annotations

from moderation.evaluation.corpus import SENTENCES, news_comments

__all__ = ["SENTENCES", "news_comments"]
