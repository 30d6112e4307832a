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

from collections.abc import Sequence
from dataclasses import dataclass

from moderation.messages import Status
from moderation.review.context import Review
from moderation.review.items import ReviewItem
from moderation.spam.duplicates import near_duplicates
from moderation.spam.minhash import party_key

#: Most copies one group carries (the bulk decision's limit applies too).
MAX_GROUP = 100
#: Most comments of one page whose copies are looked up (each lookup reads 8 band buckets).
MAX_LOOKUPS = 100
#: Reasons that make a held comment worth a lookup even when it had no copy when scored (the
#: first copy of a campaign: its copies came after it).
_SPAMMY = frozenset({"spam", "spam_blatant"})


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


def worth_a_lookup(item: ReviewItem) -> bool:
    """Whether ``item`` may have copies: the scorer saw near duplicates of it, or spam held it.
    (Everything else is left out: a queue page must not read 8 buckets for each of its 500
    comments.)"""
    evidence = item.evidence
    if evidence is None or evidence.spam is None:
        return False
    dup = evidence.spam.signals.get("dup_count")
    return (isinstance(dup, int) and dup > 0) or bool(item.reason_codes() & _SPAMMY)


async def held_groups(review: Review, items: Sequence[ReviewItem]) -> dict[str, Group]:
    """Near-duplicate groups among held comments, keyed by the first of ``items`` (page order)
    in each: that card stands for the group, the group's other members leave the page.
    Copies off the page are members too. Comments not :func:`worth_a_lookup` join a group
    only as the copy of one that is."""
    held_items = [i for i in items if i.stored.status is Status.HELD]
    probes = [i for i in held_items if worth_a_lookup(i)][:MAX_LOOKUPS]
    copies = await near_duplicates(
        review.redis,
        review.keys,
        [(i.id, i.stored.record.created_at) for i in probes],
        window_s=review.settings.spam_dup_window_s,
        threshold=review.settings.spam_dup_similarity,
    )
    others = sorted({c.comment_id for found in copies.values() for c in found})
    held: set[str] = set()
    if others:
        scores = await review.redis.zmscore(review.keys.held, others)
        held = {cid for cid, s in zip(others, scores, strict=True) if s is not None}
    # Union of each probe with its held copies; the article of every member, to count them.
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    # Articles as the index keeps them (minhash.party_key): a group counts distinct ones.
    article = {i.id: party_key(i.stored.record.article_id) for i in held_items}
    for cid, found in copies.items():
        for c in found:
            if c.comment_id in held:
                article[c.comment_id] = c.article_key
                parent[root(c.comment_id)] = root(cid)
    members: dict[str, list[str]] = {}
    for cid in parent:
        members.setdefault(root(cid), []).append(cid)
    limit = min(MAX_GROUP, review.settings.max_bulk)
    out: dict[str, Group] = {}
    for item in held_items:
        if item.id not in parent:
            continue
        group = members.pop(root(item.id), None)
        if group is None or len(group) < 2:
            continue
        ids = [item.id, *sorted(c for c in group if c != item.id)][:limit]
        out[item.id] = Group(ids, len({article[c] for c in ids}))
    return out


async def copies_of(review: Review, item: ReviewItem) -> Group | None:
    """The group of one held comment (looked up whatever its scores), or None when it has no
    held copy or is not held itself."""
    if item.stored.status is not Status.HELD:
        return None
    copies = (
        await near_duplicates(
            review.redis,
            review.keys,
            [(item.id, item.stored.record.created_at)],
            window_s=review.settings.spam_dup_window_s,
            threshold=review.settings.spam_dup_similarity,
        )
    ).get(item.id, [])
    if not copies:
        return None
    scores = await review.redis.zmscore(review.keys.held, [c.comment_id for c in copies])
    kept = [c for c, s in zip(copies, scores, strict=True) if s is not None]
    kept = kept[: min(MAX_GROUP, review.settings.max_bulk) - 1]
    if not kept:
        return None
    ids = [item.id, *(c.comment_id for c in kept)]
    articles = {party_key(item.stored.record.article_id), *(c.article_key for c in kept)}
    return Group(ids, len(articles))
