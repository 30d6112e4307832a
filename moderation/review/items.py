"""Loading comments for review: the comment, its automatic decision, its risk and its author's
standing, for many comments in two round trips; and their JSON view."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import Decision, StoredComment
from moderation.store import articles, decisions
from moderation.store.articles import ArticleInfo
from moderation.store.codec import as_int, as_str
from moderation.store.comment_reads import STORED_FIELDS, decode_stored, hmget_many
from moderation.store.comments import Store
from moderation.store.views import comment_view

#: Who decides automatically (their decision is the automatic one).
_MACHINES = frozenset({"auto", "system"})
#: Fields of the author hash a reviewer sees.
_AUTHOR_FIELDS = ("state", "pending", "approved", "held", "rejected")


@dataclass(frozen=True, slots=True)
class Standing:
    """An author's state and the number of their comments in each status."""

    state: str = "normal"
    pending: int = 0
    approved: int = 0
    held: int = 0
    rejected: int = 0

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Standing:
        state, *counts = (as_str(v) if v is not None else None for v in row)
        numbers = [max(as_int(c), 0) for c in counts]
        return cls(state or "normal", *numbers)

    def view(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "pending": self.pending,
            "approved": self.approved,
            "held": self.held,
            "rejected": self.rejected,
        }


@dataclass(frozen=True, slots=True)
class ReviewItem:
    stored: StoredComment
    #: The automatic decision (the one that held it), kept when a moderator decides.
    auto: Decision | None
    #: The held queue's risk score (None once the comment left the held queue).
    risk: float | None
    author: Standing
    #: What the site told us about the comment's article (title, link), if anything.
    article: ArticleInfo | None = None

    @property
    def id(self) -> str:
        return self.stored.record.id

    @property
    def evidence(self) -> Decision | None:
        """The decision whose scores and reasons explain the comment (automatic first)."""
        return self.auto or self.stored.decision

    def reason_codes(self) -> set[str]:
        """Codes a queue filter can name: ``toxicity``, ``toxicity:insult``, ``spam``, …"""
        d = self.evidence
        out: set[str] = set()
        for r in d.reasons if d else []:
            out.add(r.code)
            if r.label:
                out.add(f"{r.code}:{r.label}")
        return out

    def matched_words(self) -> dict[str, list[str]]:
        """Word-list entries the automatic decision matched, by kind (banned, suspect)."""
        out: dict[str, list[str]] = {}
        d = self.evidence
        for r in d.reasons if d else []:
            if r.words and r.code in ("banned_words", "suspect_words"):
                out.setdefault(r.code.removesuffix("_words"), []).extend(r.words)
        return out


async def load_items(redis: Redis, keys: Keys, ids: Sequence[str]) -> list[ReviewItem | None]:
    """Items in the order of ``ids`` (``None`` where a comment does not exist)."""
    if not ids:
        return []
    rows = await hmget_many(redis, [keys.comment(cid) for cid in ids], STORED_FIELDS)
    await decisions.load_facts(redis, keys, (row[3] for row in rows))
    risks = await redis.zmscore(keys.held_risk, list(ids))
    stored: list[tuple[StoredComment, float | None] | None] = []
    for cid, row, risk in zip(ids, rows, risks, strict=True):
        try:
            s = decode_stored(row, cid)
        except msgspec.DecodeError:
            s = None  # a corrupt document is shown nowhere rather than breaking the page
        stored.append((s, float(risk) if risk is not None else None) if s else None)
    # A human decision replaced the automatic one in "decision"; fetch that one separately
    # (never needed for the held queue, where every decision is automatic).
    human = [
        s[0].record.id
        for s in stored
        if s is not None and s[0].decision is not None and s[0].decision.by not in _MACHINES
    ]
    autos: dict[str, Decision | None] = {}
    if human:
        found = await Store(redis, keys).auto_decisions(human)
        autos = dict(zip(human, found, strict=True))
    return await _assemble(redis, keys, stored, autos)


async def items_of_stored(
    redis: Redis, keys: Keys, stored: Sequence[StoredComment], autos: dict[str, Decision]
) -> list[ReviewItem]:
    """Items for comments read elsewhere (the record), with ``autos`` their automatic
    decisions where a human one is in force, and the author's standing, the article and the
    held risk read from Redis."""
    if not stored:
        return []
    risks = await redis.zmscore(keys.held_risk, [s.record.id for s in stored])
    pairs = [(s, float(r) if r is not None else None) for s, r in zip(stored, risks, strict=True)]
    return [i for i in await _assemble(redis, keys, pairs, autos) if i is not None]


async def _assemble(
    redis: Redis,
    keys: Keys,
    stored: Sequence[tuple[StoredComment, float | None] | None],
    autos: Mapping[str, Decision | None],
) -> list[ReviewItem | None]:
    # Authors and articles are their site's: read each comment's from its own site's keys.
    records = [s[0].record for s in stored if s is not None]
    authors = sorted({(r.site, r.author.id) for r in records})
    rows = await hmget_many(
        redis, [keys.for_site(site).author(a) for site, a in authors], _AUTHOR_FIELDS
    )
    standings = {pair: Standing.from_row(row) for pair, row in zip(authors, rows, strict=True)}
    infos: dict[tuple[str, str], ArticleInfo] = {}
    for site in sorted({r.site for r in records}):
        ids = sorted({r.article_id for r in records if r.site == site})
        for info in await articles.load_many(redis, keys.for_site(site), ids):
            infos[site, info.id] = info
    out: list[ReviewItem | None] = []
    for entry in stored:
        if entry is None:
            out.append(None)
            continue
        comment, risk = entry
        r = comment.record
        auto = autos.get(r.id, comment.decision)
        standing = standings[r.site, r.author.id]
        out.append(ReviewItem(comment, auto, risk, standing, infos[r.site, r.article_id]))
    return out


async def load_standings(
    redis: Redis, keys: Keys, author_ids: Sequence[str]
) -> dict[str, Standing]:
    if not author_ids:
        return {}
    rows = await hmget_many(redis, [keys.author(a) for a in author_ids], _AUTHOR_FIELDS)
    return {aid: Standing.from_row(row) for aid, row in zip(author_ids, rows, strict=True)}


def item_view(item: ReviewItem) -> dict[str, Any]:
    """A comment as the review API returns it: the private comment view plus risk, the author's
    standing and the automatic decision's reasons (which stay visible after a moderator's)."""
    view = comment_view(item.stored, private=True)
    view["risk"] = item.risk
    if view["author"] is not None:  # None: a deleted comment (its author's name is erased)
        view["author"]["standing"] = item.author.view()
    auto = item.auto
    view["auto_decision"] = (
        {
            "status": auto.status.value,
            "by": auto.by,
            "reasons": [msgspec.to_builtins(r) for r in auto.reasons],
            "scores": auto.scores,
            "spam_score": auto.spam.score if auto.spam else None,
        }
        if auto
        else None
    )
    view["matched_words"] = item.matched_words()
    a = item.article
    view["article"] = {"id": a.id, "title": a.title, "url": a.url} if a else None
    return view
