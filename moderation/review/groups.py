"""Near-duplicate groups in the held queue: the same spam posted four times is one card
("4 copies on 3 articles") and one decision for all of them.

The copies are found the way the spam scorer found them (its MinHash index,
:func:`moderation.spam.duplicates.near_duplicates`) and kept only while they are held, so a
group never sweeps in a comment someone already decided. Deciding a group is a bulk decision on
its ids (:func:`moderation.review.decisions.decide_many`): each copy goes through
``transition.lua`` on its own, with its own audit entry, and a copy decided meanwhile is a
conflict of its own rather than a failure of the group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from moderation.review.context import Review
from moderation.spam.duplicates import near_duplicates

#: Most copies one group carries (the bulk decision's limit applies too).
MAX_GROUP = 100


@dataclass(frozen=True, slots=True)
class Group:
    """A held comment and its held near duplicates (``ids`` starts with the comment)."""

    ids: list[str]
    articles: int

    @property
    def copies(self) -> int:
        return len(self.ids)

    def words(self) -> str:
        n = self.articles
        return f"{self.copies} copies on {n} article{'' if n == 1 else 's'}"


async def held_groups(review: Review, articles: Mapping[str, str]) -> dict[str, Group]:
    """For each held comment of ``articles`` (comment id → its article, in page order) that
    has held near duplicates, its group; a comment already inside an earlier one's group gets
    none (the page shows each group once, at its first member)."""
    ids = list(articles)
    copies = await near_duplicates(
        review.redis, review.keys, ids, review.settings.spam_dup_similarity
    )
    others = sorted({c.comment_id for found in copies.values() for c in found})
    held: set[str] = set()
    if others:
        scores = await review.redis.zmscore(review.keys.held, others)
        held = {cid for cid, s in zip(others, scores, strict=True) if s is not None}
    limit = min(MAX_GROUP, review.settings.max_bulk)
    out: dict[str, Group] = {}
    taken: set[str] = set()
    for cid in ids:
        if cid in taken:
            continue
        found = [
            c for c in copies.get(cid, []) if c.comment_id in held and c.comment_id not in taken
        ][: limit - 1]
        if not found:
            continue
        group_ids = [cid, *(c.comment_id for c in found)]
        out[cid] = Group(group_ids, len({articles[cid], *(c.article_id for c in found)}))
        taken.update(group_ids)
    return out
