"""Explicit rules: author standing, article settings, link counts.

The worker loads, in one round trip per batch, everything the rules need for the batch's
comments (:func:`load_context`), then evaluates each comment with the pure function
:func:`evaluate`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import CommentRecord, Reason, SpamResult
from moderation.pipeline.policy import Policy
from moderation.store.codec import as_int, as_str
from moderation.store.wordlists import EMPTY, WordMatcher, matcher_cache


class AuthorState(enum.StrEnum):
    NORMAL = "normal"
    BANNED = "banned"
    TRUSTED = "trusted"
    PREMODERATED = "premoderated"


@dataclass(frozen=True, slots=True)
class AuthorFacts:
    state: AuthorState = AuthorState.NORMAL
    approved: int = 0
    rejected: int = 0
    held: int = 0

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> AuthorFacts:
        data = {as_str(k): as_str(v) for k, v in raw.items()}
        try:
            state = AuthorState(data.get("state", "normal"))
        except ValueError:
            state = AuthorState.NORMAL
        return cls(
            state=state,
            approved=max(as_int(data.get("approved")), 0),
            rejected=max(as_int(data.get("rejected")), 0),
            held=max(as_int(data.get("held")), 0),
        )


@dataclass(slots=True)
class BatchContext:
    """Policies and author facts for the comments of one batch."""

    policies: dict[str, Policy] = field(default_factory=dict)  # by article id
    authors: dict[str, AuthorFacts] = field(default_factory=dict)  # by author id
    #: The banned/suspect word lists in force (see ``moderation.store.wordlists``).
    words: WordMatcher = EMPTY


async def load_context(
    redis: Redis, keys: Keys, base: Policy, records: Sequence[CommentRecord]
) -> BatchContext:
    """Site-wide overrides, per-article overrides, author facts and the word lists' version,
    in one pipeline (the word lists themselves are reloaded only when their version changes)."""
    articles = sorted({r.article_id for r in records})
    authors = sorted({r.author.id for r in records})
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(keys.policy)
    for aid in articles:
        pipe.hgetall(keys.article_settings(aid))
    for author_id in authors:
        pipe.hgetall(keys.author(author_id))
    pipe.get(keys.words_version)
    replies = await pipe.execute()
    site = base.overlay(replies[0], "site")
    ctx = BatchContext()
    for aid, raw in zip(articles, replies[1 : 1 + len(articles)], strict=True):
        ctx.policies[aid] = site.overlay(raw, "article")
    for author_id, raw in zip(authors, replies[1 + len(articles) : -1], strict=True):
        ctx.authors[author_id] = AuthorFacts.from_hash(raw)
    ctx.words = await matcher_cache.matcher(redis, keys, replies[-1])
    return ctx


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    holds: dict[str, str | Reason]
    rejections: dict[str, str | Reason]
    #: Trusted authors' comments skip the spam hold (toxicity thresholds still apply).
    ignore_spam: bool = False


def evaluate(
    record: CommentRecord,
    policy: Policy,
    author: AuthorFacts,
    spam: SpamResult,
    words: WordMatcher = EMPTY,
) -> RuleOutcome:
    holds: dict[str, str | Reason] = {}
    rejections: dict[str, str | Reason] = {}
    if author.state is AuthorState.BANNED:
        rejections["banned_author"] = f"author {record.author.id!r} is banned"
    if author.state is AuthorState.PREMODERATED:
        holds["premoderated_author"] = f"author {record.author.id!r} is pre-moderated"
    if policy.premoderate and author.state is not AuthorState.TRUSTED:
        holds["premoderated_article"] = f"article {record.article_id!r} is pre-moderated"
    if "error" in spam.signals:
        # The spam signals could not be computed: fail safe, visibly.
        holds["spam_unavailable"] = str(spam.signals["error"])
    links = spam.signals.get("links", 0)
    if isinstance(links, int) and links >= policy.max_links and policy.max_links > 0:
        holds["too_many_links"] = f"{links} links (held at {policy.max_links} or more)"
    banned, suspect = words.match(record.text)
    if banned:
        rejections["banned_words"] = Reason(
            code="banned_words", message=f"banned {_quoted(banned)}", words=banned
        )
    if suspect:
        holds["suspect_words"] = Reason(
            code="suspect_words", message=f"suspect {_quoted(suspect)}", words=suspect
        )
    return RuleOutcome(
        holds=holds, rejections=rejections, ignore_spam=author.state is AuthorState.TRUSTED
    )


def _quoted(entries: list[str]) -> str:
    noun = "word" if len(entries) == 1 else "words"
    return f"{noun}: " + ", ".join(f"“{e}”" for e in entries)
