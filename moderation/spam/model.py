"""The online spam model: logistic regression over :mod:`moderation.spam.features`, in Redis.

State lives in two Redis hashes shared by every worker and API process: the learned weight of
each feature (``keys.spam_weights``, stored as an offset from the feature's prior) and the sum of
its squared gradients (``keys.spam_gradients``). Workers read the weights of a batch's features
with one call per batch (``lua/spam_weights.lua``, indices and weights msgpack-encoded so a
batch's thousands of features cost one argument); a moderator's label is learned by one Lua script
(``lua/spam_learn.lua``) that reads, steps and writes atomically, so labels given at the same
moment by several moderators are applied one after the other, never interleaved or lost.

Learning is per-coordinate AdaGrad on log loss: a feature's step shrinks as evidence about it
accumulates, so rare words learn fast from their first examples and frequent ones settle. The
signal features start with a larger accumulator (:data:`SIGNAL_DAMPING`): their priors encode
real knowledge, so a handful of labels nudges them rather than overturning them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript

from moderation.keys import Keys
from moderation.spam.features import PRIORS, TEXT_OFFSET

#: Initial squared-gradient sum of the signal features (bigger = more trust in the prior).
SIGNAL_DAMPING = 4.0
#: The same for text features: small, so the first examples of a word count.
TEXT_DAMPING = 0.01
_LEARN = resources.files("moderation").joinpath("lua", "spam_learn.lua").read_text("utf-8")
_WEIGHTS = resources.files("moderation").joinpath("lua", "spam_weights.lua").read_text("utf-8")

#: Logits are clipped here: a probability of 1 - 1e-9 explains nothing more than 0.9999.
MAX_LOGIT = 20.0


@dataclass(frozen=True, slots=True)
class ModelState:
    """The learned weights of some features, as read for one batch."""

    weights: Mapping[int, float]
    spam_examples: int = 0
    ham_examples: int = 0

    @property
    def examples(self) -> int:
        return self.spam_examples + self.ham_examples


def sigmoid(z: float) -> float:
    z = max(min(z, MAX_LOGIT), -MAX_LOGIT)
    return 1.0 / (1.0 + math.exp(-z))


def contributions(x: Mapping[int, float], weights: Mapping[int, float]) -> dict[int, float]:
    """Each feature's share of the logit: (prior + learned weight) × value."""
    return {i: (PRIORS.get(i, 0.0) + weights.get(i, 0.0)) * v for i, v in x.items()}


def logit(x: Mapping[int, float], weights: Mapping[int, float]) -> float:
    return sum(contributions(x, weights).values())


class OnlineModel:
    def __init__(self, keys: Keys, learning_rate: float) -> None:
        self.keys = keys
        self.learning_rate = learning_rate

    # --- reading ------------------------------------------------------------------------------
    async def queue_read(self, pipe: Pipeline, redis: Redis, indices: Iterable[int]) -> list[int]:
        """Queue the reads of ``indices`` (two replies); returns the index order used."""
        order = sorted(set(indices))
        script: AsyncScript = redis.register_script(_WEIGHTS)
        await script(
            keys=[self.keys.spam_weights], args=[msgspec.msgpack.encode(order)], client=pipe
        )
        pipe.hmget(self.keys.spam_model_meta, ["spam", "ham"])
        return order

    @staticmethod
    def parse(order: list[int], weights_reply: Any, meta_reply: Any) -> ModelState:
        values = msgspec.msgpack.decode(weights_reply) if weights_reply else []
        weights = {i: float(w) for i, w in zip(order, values, strict=False) if w}
        spam, ham = (int(v) if v is not None else 0 for v in meta_reply)
        return ModelState(weights, spam, ham)

    async def read(self, redis: Redis, indices: Iterable[int]) -> ModelState:
        pipe = redis.pipeline(transaction=False)
        order = await self.queue_read(pipe, redis, indices)
        weights_reply, meta_reply = await pipe.execute()
        return self.parse(order, weights_reply, meta_reply)

    # --- learning ------------------------------------------------------------------------------
    async def learn(self, redis: Redis, x: Mapping[int, float], is_spam: bool) -> float:
        """One AdaGrad step towards ``is_spam`` on example ``x`` (atomic, in Redis); returns
        the probability the model gave the example just before the step."""
        args: list[Any] = [
            1 if is_spam else 0,
            self.learning_rate,
            SIGNAL_DAMPING,
            TEXT_DAMPING,
            TEXT_OFFSET,
            MAX_LOGIT,
        ]
        order = sorted(x)
        args.append(msgspec.msgpack.encode(order))
        args.append(msgspec.msgpack.encode([x[i] for i in order]))
        args.append(msgspec.msgpack.encode([PRIORS.get(i, 0.0) for i in order]))
        keys = [self.keys.spam_weights, self.keys.spam_gradients, self.keys.spam_model_meta]
        script: AsyncScript = redis.register_script(_LEARN)
        return float(await script(keys=keys, args=args))
