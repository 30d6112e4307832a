"""Spam scoring: local signals plus an online model that learns from moderators.

:class:`SpamScorer` is the worker's entry point: ``await scorer.score(items)`` gives one
:class:`~moderation.messages.SpamResult` per comment, a probability in [0, 1] with the signals
that explain it. Per batch it makes at most two Redis round trips whatever the batch size: one
pipeline with one script call that indexes every comment for near-duplicate detection
(:mod:`.duplicates`), records and reads posting velocity and author history
(:mod:`.velocity`; both in :mod:`.state`), and a read of the model weights of every feature in
the batch (:mod:`.model`); and one ``MGET`` that confirms the
near-duplicate candidates whose signatures this process has not cached. Everything else is pure
computation (:mod:`.signals`, :mod:`.features`).

The score is the model's probability: a logistic combination of the signals (weighted by priors
until moderators teach it otherwise) and the hashed text, learned from moderator decisions
through :func:`moderation.spam.feedback.record_feedback`.

If computing the signals of one comment fails, that comment gets a ``SpamResult`` with an
``error`` signal (the rules hold it, saying why) and the rest of the batch is scored normally.
Redis errors propagate: the worker retries the whole batch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import CommentRecord, SpamResult
from moderation.settings import Settings
from moderation.spam.duplicates import DuplicateIndex, DupSignals
from moderation.spam.features import (
    MAX_TEXT_CHARS,
    MAX_WORDS,
    PRIORS,
    SIGNAL_NAMES,
    TEXT_OFFSET,
    Tokens,
    signal_vector,
    text_scale,
    text_sets,
    tokenize,
    tokenize_many,
)
from moderation.spam.minhash import Probe, signature
from moderation.spam.model import ModelState, OnlineModel, contributions, sigmoid
from moderation.spam.signals import DomainLists, TextSignals, text_signals
from moderation.spam.state import SharedState
from moderation.spam.velocity import Velocity
from moderation.store.codec import execute_verified
from moderation.store.domainlists import DomainCache

log = logging.getLogger("moderation.spam")

__all__ = ["SpamInput", "SpamScorer", "context_signals", "explain"]

#: A page-load time this far after the submission is clock skew, not information.
_SKEW_MS = 5_000


@dataclass(frozen=True, slots=True)
class SpamInput:
    record: CommentRecord
    #: The normalised text (see ``moderation.normalize``).
    text: str


@dataclass(slots=True)
class _Prepared:
    """The pure part of one comment's assessment, computed before any Redis call."""

    record: CommentRecord
    text: TextSignals
    context: dict[str, Any]
    tokens: Tokens
    probe: Probe | None
    #: The hashed text features (see ``features.text_sets``; each of value ``text_scale``).
    text_x: set[int] = field(default_factory=set)


def context_signals(record: CommentRecord, min_submit_s: float) -> dict[str, Any]:
    """Honeypot and time-to-submit, from what the site reported about the request."""
    ctx = record.context
    honeypot = bool(ctx and ctx.honeypot and ctx.honeypot.strip())
    submit_s: float | None = None
    if ctx and ctx.page_loaded_at is not None:
        elapsed = record.created_at - ctx.page_loaded_at
        if elapsed >= -_SKEW_MS:
            submit_s = round(max(elapsed, 0) / 1000, 3)
    return {
        "honeypot": honeypot,
        "submit_s": submit_s,
        "too_fast": submit_s is not None and submit_s < min_submit_s,
    }


def explain(x: dict[int, float], state: ModelState) -> tuple[float, dict[str, Any]]:
    """The spam probability of feature vector ``x`` and how it came about.

    The explanation lists each signal feature's contribution to the log-odds (prior plus what
    feedback taught), the text's contribution as one number, and how many labelled examples
    the model has learned from.
    """
    signal_x = {i: v for i, v in x.items() if i < TEXT_OFFSET}
    text_x = {i: v for i, v in x.items() if i >= TEXT_OFFSET}
    return explain_split(signal_x, text_x, state)


def explain_split(
    signal_x: Mapping[int, float], text_x: Mapping[int, float], state: ModelState
) -> tuple[float, dict[str, Any]]:
    """:func:`explain` of ``signal_x | text_x``, the signal and text features apart: text
    features have no prior, so only those the model learned a weight for contribute, and a
    comment's hundreds of text features cost a set intersection, not a loop."""
    weights = state.weights
    learned = weights.keys() & text_x.keys()
    text = sum(weights[i] * v for i, v in text_x.items() if i in learned) if learned else 0.0
    return _explained(signal_x, text, state)


def explain_set(
    signal_x: Mapping[int, float], text_x: Set[int], state: ModelState
) -> tuple[float, dict[str, Any]]:
    """:func:`explain_split` with the text features as the set of their indices, each of value
    ``text_scale(text_x)`` (equal results: the same products summed in the same order), so a
    batch never builds a dict per comment for them."""
    weights = state.weights
    learned = weights.keys() & text_x
    if learned:
        scale = text_scale(text_x)
        text = sum(weights[i] * scale for i in text_x if i in learned)
    else:
        text = 0.0
    return _explained(signal_x, text, state)


def _explained(
    signal_x: Mapping[int, float], text: float, state: ModelState
) -> tuple[float, dict[str, Any]]:
    parts = contributions(signal_x, state.weights)
    named = {SIGNAL_NAMES[i]: round(v, 3) for i, v in sorted(parts.items())}
    probability = sigmoid(sum(parts.values()) + text)
    return probability, {
        "contributions": named,
        "text_logit": round(text, 3),
        "learned_from": state.examples,
    }


class SpamScorer:
    """Spam probability in [0, 1] per comment, explained by named signals."""

    def __init__(self, redis: Redis, keys: Keys, settings: Settings) -> None:
        self.redis = redis
        self.keys = keys
        self.settings = settings
        self.lists = DomainLists.of(settings.spam_allow_domains, settings.spam_deny_domains)
        # The lists admins edit at run time add to the settings' (moderation.store.domainlists).
        self.domain_cache = DomainCache()
        self._runtime: dict[str, list[str]] | None = None
        self.duplicates = DuplicateIndex(
            keys, settings.spam_dup_window_s, settings.spam_dup_similarity
        )
        self.velocity = Velocity(keys, settings.spam_velocity_window_s)
        self.state = SharedState(redis, keys, self.duplicates, self.velocity)
        self.model = OnlineModel(keys, settings.spam_learning_rate, cache=True)

    async def _refresh_lists(self) -> None:
        runtime = await self.domain_cache.lists(self.redis, self.keys)
        if runtime is not self._runtime:
            self._runtime = runtime
            s = self.settings
            self.lists = DomainLists.of(
                [*s.spam_allow_domains, *runtime["allow"]], [*s.spam_deny_domains, *runtime["deny"]]
            )

    async def score(self, items: Sequence[SpamInput]) -> list[SpamResult]:
        if not items:
            return []
        await self._refresh_lists()
        prepared: list[_Prepared | None] = []
        failures: dict[int, str] = {}
        batch_tokens = self._tokenize(items)
        for n, item in enumerate(items):
            try:
                prepared.append(self._prepare(item, batch_tokens[n]))
            except Exception as exc:  # one odd text must not fail its batch
                log.exception("spam signals failed for comment %s", item.record.id)
                failures[n] = f"spam signals failed: {type(exc).__name__}"
                prepared.append(None)
        self._text_features(prepared, failures)
        ready = [p for p in prepared if p is not None]
        state, shared = await self._shared_state(ready)

        results = []
        for n, p in enumerate(prepared):
            if p is None:
                results.append(SpamResult(score=0.0, signals={"error": failures[n]}))
                continue
            signals: dict[str, Any] = {**p.text.as_dict(), **p.context, **shared[p.record.id]}
            probability, why = explain_set(signal_vector(signals), p.text_x, state)
            signals.update(why)
            results.append(SpamResult(score=round(probability, 4), signals=signals))
        return results

    async def _shared_state(
        self, prepared: Sequence[_Prepared]
    ) -> tuple[ModelState, dict[str, dict[str, Any]]]:
        """The model weights of the batch's features, and each comment's signals from shared
        state (near duplicates, velocity, history), in two round trips for the whole batch."""
        # A transaction: the near-duplicate index's reads and the batch script that appends to
        # it must see the same index (moderation.spam.state).
        pipe = self.redis.pipeline(transaction=True)
        queued = await self.state.queue(
            pipe, [p.record for p in prepared], [p.probe for p in prepared]
        )
        wanted: set[int] = set(PRIORS)
        for p in prepared:
            wanted.update(p.text_x)
        pending = await self.model.queue_read(pipe, self.redis, wanted)
        replies = await execute_verified(pipe)

        n = queued.replies
        model_state = await self.model.finish_read(self.redis, pending, replies[n:])
        found = self.state.parse(replies[:n], queued)
        probes = [p.probe for p in prepared if p.probe is not None]
        candidates = [f.candidates for p, f in zip(prepared, found, strict=True) if p.probe]
        confirmed = await self.duplicates.confirm(self.redis, probes, candidates)
        dups = {probe.comment_id: dup for probe, dup in zip(probes, confirmed, strict=True)}
        shared = {
            p.record.id: {
                **dups.get(p.record.id, DupSignals()).as_dict(),
                **f.velocity.as_dict(),
            }
            for p, f in zip(prepared, found, strict=True)
        }
        return model_state, shared

    @staticmethod
    def _tokenize(items: Sequence[SpamInput]) -> Sequence[Tokens | None]:
        """The batch's tokens, hashed together (``features.tokenize_many``); where a text
        breaks that (one that cannot be encoded), ``None`` each: every comment is then
        tokenised on its own, so the culprit alone fails."""
        try:
            return tokenize_many([item.text for item in items])
        except Exception:
            return [None] * len(items)

    @staticmethod
    def _text_features(prepared: list[_Prepared | None], failures: dict[int, str]) -> None:
        """Fill in the text features of the batch's prepared comments, bucketed together;
        where one breaks that, each on its own, a failing one marked failed like in
        :meth:`_prepare`."""
        ready = [p for p in prepared if p is not None]
        try:
            sets = text_sets([p.tokens for p in ready], [p.text.domains for p in ready])
        except Exception:
            sets = None
        if sets is not None:
            for ok, text_x in zip(ready, sets, strict=True):
                ok.text_x = text_x
            return
        for n, one in enumerate(prepared):
            if one is None:
                continue
            try:
                [one.text_x] = text_sets([one.tokens], [one.text.domains])
            except Exception as exc:
                log.exception("spam signals failed for comment %s", one.record.id)
                failures[n] = f"spam signals failed: {type(exc).__name__}"
                prepared[n] = None

    def _prepare(self, item: SpamInput, tokens: Tokens | None = None) -> _Prepared:
        record = item.record
        if tokens is None:
            tokens = tokenize(item.text)
        # The tokeniser's words are the text signals' too, unless it cut the text short.
        whole = len(item.text) <= MAX_TEXT_CHARS and len(tokens.words) < MAX_WORDS
        text = text_signals(record.text, item.text, self.lists, tokens.words if whole else None)
        probe = None
        if len(tokens.joined) >= self.settings.spam_dup_min_chars and len(tokens.grams):
            probe = Probe(
                record.id,
                record.author.id,
                record.article_id,
                record.created_at,
                signature(tokens.grams),
            )
        return _Prepared(
            record=record,
            text=text,
            context=context_signals(record, self.settings.spam_min_submit_s),
            tokens=tokens,
            probe=probe,
        )
