"""Spam scoring: local signals now; the learned model arrives with the spam issue.

:class:`SpamScorer` is the worker's entry point. It is async because later signals (near
duplicates, velocity, author history) read shared state from Redis.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import CommentRecord, SpamResult
from moderation.settings import Settings

_LINK = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SpamInput:
    record: CommentRecord
    #: The normalised text (see ``moderation.normalize``).
    text: str


class SpamScorer:
    """Signal-only spam score in [0, 1]."""

    def __init__(self, redis: Redis, keys: Keys, settings: Settings) -> None:
        self.redis = redis
        self.keys = keys
        self.settings = settings

    async def score(self, items: Sequence[SpamInput]) -> list[SpamResult]:
        return [self._one(item) for item in items]

    def _one(self, item: SpamInput) -> SpamResult:
        links = len(_LINK.findall(item.text))
        ctx = item.record.context
        honeypot = bool(ctx and ctx.honeypot)
        signals: dict[str, object] = {"links": links, "honeypot": honeypot}
        score = 0.0
        if honeypot:
            score = 0.99
        elif links:
            score = min(0.3 * links, 0.9)
        return SpamResult(score=round(score, 4), signals=signals)
