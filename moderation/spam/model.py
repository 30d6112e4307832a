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
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from moderation.keys import Keys
from moderation.spam.features import N_BUCKETS, PRIORS, TEXT_OFFSET
from moderation.store.codec import as_int, script

#: Initial squared-gradient sum of the signal features (bigger = more trust in the prior).
SIGNAL_DAMPING = 4.0
#: The same for text features: small, so the first examples of a word count.
TEXT_DAMPING = 0.01

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


def _decode(raw: Any) -> list[float]:
    return [float(w) for w in msgspec.msgpack.decode(raw)] if raw else []


@dataclass(slots=True)
class PendingRead:
    """A read queued on a pipeline by :meth:`OnlineModel.queue_read`."""

    wanted: set[int]
    #: The indices whose weights were queued (those not known from the cache).
    missing: list[int]
    #: How many replies the pipeline will carry for this read (they come last).
    replies: int


class OnlineModel:
    """Reads and trains the shared model.

    With ``cache`` (workers), weights already read are kept in memory together with the
    model's version, which every learning step increments: each batch reads the version and
    only the weights it has not seen, and a changed version discards the cache. So a worker
    never scores with weights older than the version it read, while the common case, no
    feedback since the last batch, costs Redis almost nothing (reading thousands of weights per
    batch otherwise dominates Redis' time). The cache covers the whole feature space
    (``N_BUCKETS``: a bitmap of the weights known, 256 KB, and the learned ones, which are few):
    it never overflows, so a worker that has seen every feature reads no weight again until
    a moderator's label changes the model.
    """

    def __init__(self, keys: Keys, learning_rate: float, *, cache: bool = False) -> None:
        self.keys = keys
        self.learning_rate = learning_rate
        #: Which weights are cached (by feature index); ``None``: no cache.
        self._known: npt.NDArray[np.bool_] | None = (
            np.zeros(N_BUCKETS, dtype=np.bool_) if cache else None
        )
        #: The cached weights that are not 0 (most features never learned one): a batch's
        #: weights are these among its features.
        self._nonzero: dict[int, float] = {}
        self._version: Any = None
        self._cached = False

    # --- reading ------------------------------------------------------------------------------
    async def queue_read(self, pipe: Pipeline, redis: Redis, indices: Iterable[int]) -> PendingRead:
        """Queue the model counters and the weights of ``indices`` not cached. A ``set`` is
        kept as it is (not copied: a batch's union of features runs to 100,000 indices), so
        the caller must not change it until :meth:`finish_read` has run."""
        wanted = indices if isinstance(indices, set) else set(indices)
        if self._known is not None and self._cached:
            every = np.fromiter(wanted, dtype=np.int64, count=len(wanted))
            missing: list[int] = np.sort(every[~self._known[every]]).tolist()
        else:
            missing = sorted(wanted)
        # The version is read first: weights read after it are at least that new.
        pipe.hmget(self.keys.spam_model_meta, ["spam", "ham", "version"])
        if missing:
            await self._queue_weights(pipe, redis, missing)
        return PendingRead(wanted, missing, 2 if missing else 1)

    async def finish_read(
        self, redis: Redis, pending: PendingRead, replies: list[Any]
    ) -> ModelState:
        """The weights of ``pending.wanted`` from the replies of :meth:`queue_read` (one more
        round trip only when the model changed since the cache was filled)."""
        spam, ham, version = replies[0]
        fresh = dict(
            zip(pending.missing, _decode(replies[1]) if pending.missing else [], strict=True)
        )
        known = self._known
        if known is None:
            weights = {i: w for i in pending.wanted if (w := fresh.get(i, 0.0))}
            return ModelState(weights, as_int(spam), as_int(ham))
        if self._cached and version != self._version:
            known[:] = False  # learned since: every cached weight may be stale
            self._nonzero.clear()
            rest = sorted(pending.wanted.difference(fresh))
            if rest:
                pipe = redis.pipeline(transaction=False)
                await self._queue_weights(pipe, redis, rest)
                [raw] = await pipe.execute()
                fresh.update(zip(rest, _decode(raw), strict=True))
        if fresh:
            known[np.fromiter(fresh, dtype=np.int64, count=len(fresh))] = True
            self._nonzero.update((i, w) for i, w in fresh.items() if w)
        self._version, self._cached = version, True
        # Within a version a weight never changes, so the nonzero ones of the wanted features
        # are those of the cache's nonzero ones that are wanted.
        nonzero = self._nonzero
        weights = {i: nonzero[i] for i in nonzero.keys() & pending.wanted}
        return ModelState(weights, as_int(spam), as_int(ham))

    async def read(self, redis: Redis, indices: Iterable[int]) -> ModelState:
        pipe = redis.pipeline(transaction=False)
        pending = await self.queue_read(pipe, redis, indices)
        return await self.finish_read(redis, pending, await pipe.execute())

    async def _queue_weights(self, pipe: Pipeline, redis: Redis, order: list[int]) -> None:
        await script(redis, "spam_weights.lua")(
            keys=[self.keys.spam_weights], args=[msgspec.msgpack.encode(order)], client=pipe
        )

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
        return float(await script(redis, "spam_learn.lua")(keys=keys, args=args))
