"""The feedback hook: moderator decisions teach the spam model.

Called by the moderation actions: approving a held comment → ``"ham"``; rejecting with reason
``spam`` → ``"spam"``. The model learns the comment as it was *when it was scored*: the text
features are recomputed from the stored text (deterministic), and the signals (near-duplicates,
velocity, author history at that moment) are read from the automatic decision stored with the
comment (``auto_decision``), so later events do not leak into what the model learns. A comment
never scored automatically is learned from its text signals alone.

Idempotent per comment and label: a second call with the same label (a double click, a retried
request) changes nothing; a different label (a moderator correcting themselves) is learned.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import CommentRecord, Decision
from moderation.normalize import normalize
from moderation.settings import Settings
from moderation.spam.features import tokenize, vectorize
from moderation.spam.model import OnlineModel
from moderation.spam.signals import DomainLists, text_signals
from moderation.store.codec import as_str
from moderation.store.comments import Store
from moderation.store.domainlists import load_domains

log = logging.getLogger("moderation.spam")

Label = Literal["spam", "ham"]

#: How long the "already learned" marker of a comment is kept.
LEARNED_TTL_S = 90 * 24 * 3600


async def record_feedback(
    redis: Redis,
    keys: Keys,
    record: CommentRecord,
    label: Label,
    *,
    settings: Settings | None = None,
) -> bool:
    """Teach the shared spam model that ``record`` is ``label``.

    ``settings`` supplies the learning rate and domain lists (defaults when omitted; pass the
    process's settings). Returns whether the model learned (False for a repeated label).
    """
    if label not in ("spam", "ham"):
        raise ValueError(f"label must be 'spam' or 'ham', not {label!r}")
    settings = settings or Settings()
    marker = keys.spam_learned(record.id)
    previous = await redis.set(marker, label, ex=LEARNED_TTL_S, get=True)
    if previous is not None and as_str(previous) == label:
        return False
    try:
        normalized = normalize(record.text)
        (auto,) = await Store(redis, keys).auto_decisions([record.id])
        signals = _scored_signals(auto)
        if signals is None:
            runtime = await load_domains(redis, keys)
            lists = DomainLists.of(
                [*settings.spam_allow_domains, *runtime["allow"]],
                [*settings.spam_deny_domains, *runtime["deny"]],
            )
            signals = text_signals(record.text, normalized, lists).as_dict()
        x = vectorize(tokenize(normalized), signals)
        model = OnlineModel(keys, settings.spam_learning_rate)
        await model.learn(redis, x, label == "spam")
    except BaseException:
        # Not learned: forget the marker so a retry learns it.
        if previous is None:
            await redis.delete(marker)
        else:
            await redis.set(marker, previous, ex=LEARNED_TTL_S)
        raise
    log.debug("spam model learned %s as %s", record.id, label)
    return True


def _scored_signals(decision: Decision | None) -> dict[str, Any] | None:
    """The spam signals of the stored automatic decision, if there is a usable one."""
    if decision is None or decision.spam is None or "error" in decision.spam.signals:
        return None
    return dict(decision.spam.signals)
