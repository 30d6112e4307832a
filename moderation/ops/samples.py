"""A short history of the queue's gauges for the dashboard: sampled into a capped Redis stream.

The per-minute counters (``ops.stats.history``) give the dashboard its rates for the last hour;
gauges (queue depth, age of the oldest undecided and held comment, time-to-decision
percentiles) have no history there, so the dashboard's charts of them would start empty on
every load. Every API process runs a :class:`Sampler`; each ``dashboard_sample_s`` one of them
(whichever takes the short ``SET NX`` lock first) reads the stats once and appends one entry to
``keys.stats_samples``, trimmed to ``dashboard_history_s`` worth of entries.

Why a Redis stream rather than the memory of a process: every API process (and a restarted
one) serves the same history, it is filled whether or not anyone watches the dashboard, and it
costs one ``read_state`` per interval for the whole installation (not one per process or per
viewer). The cumulative 5xx and rate-limit counts are sampled too, so the dashboard can say
how many happened within the last hour from counters that only ever grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from moderation.keys import Keys
from moderation.ops.metrics import HTTP_REQUESTS
from moderation.ops.stats import read_state, summarize
from moderation.settings import Settings
from moderation.store.codec import as_str
from moderation.tasks import stop_task

log = logging.getLogger("moderation.ops.samples")

_SEP = "\x1f"  # as in ops.metrics' Redis hash fields
#: The fields of one sample, in order (numbers; "" where there is no value).
FIELDS = (
    "t",
    "undecided",
    "held",
    "oldest_undecided_s",
    "oldest_held_s",
    "auto_p50_ms",
    "auto_p99_ms",
    "human_p50_s",
    "human_p90_s",
    "api_errors",
    "rate_limited",
)


def api_errors(recorded: dict[str, str]) -> int:
    """HTTP requests answered with a 5xx since the installation started (all routes)."""
    total = 0
    for name, value in recorded.items():
        parts = name.split(_SEP)
        # name, route, method, status — and no histogram suffix.
        if len(parts) == 4 and parts[0] == HTTP_REQUESTS.name and parts[3].startswith("5"):
            with contextlib.suppress(ValueError):
                total += int(float(value))
    return total


def sample_of(doc: dict[str, Any], recorded: dict[str, str]) -> dict[str, float | None]:
    """One sample from a ``/v1/stats`` document and the recorded metrics."""
    return {
        "t": doc["generated_at"],
        "undecided": doc["queue"]["undecided"],
        "held": doc["held"]["backlog"],
        "oldest_undecided_s": doc["queue"]["oldest_undecided_age_s"],
        "oldest_held_s": doc["held"]["oldest_age_s"],
        "auto_p50_ms": doc["auto_time_to_decision_ms"]["p50"],
        "auto_p99_ms": doc["auto_time_to_decision_ms"]["p99"],
        "human_p50_s": doc["moderators"]["time_to_decision_s"]["p50"],
        "human_p90_s": doc["moderators"]["time_to_decision_s"]["p90"],
        "api_errors": api_errors(recorded),
        "rate_limited": doc["rate_limited"]["total"],
    }


def _number(raw: str) -> float | None:
    if raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


async def read_samples(
    redis: Redis, keys: Keys, since_s: float, count: int | None = None
) -> list[dict[str, float | None]]:
    """The samples taken since ``since_s`` (epoch seconds), oldest first (the first ``count``)."""
    rows: Any = await redis.xrange(
        keys.stats_samples, min=f"{int(since_s * 1000)}-0", max="+", count=count
    )
    out = []
    for _, data in rows or ():
        fields = {as_str(k): as_str(v) for k, v in data.items()}
        sample = {name: _number(fields.get(name, "")) for name in FIELDS}
        if sample["t"] is not None:
            out.append(sample)
    return out


@dataclass
class Sampler:
    """Appends one sample per ``dashboard_sample_s`` for the whole installation."""

    redis: Redis
    keys: Keys
    settings: Settings
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    @property
    def cap(self) -> int:
        return max(
            2, math.ceil(self.settings.dashboard_history_s / self.settings.dashboard_sample_s)
        )

    async def sample_once(self) -> bool:
        """Take a sample unless another process took one this interval; whether it did."""
        lock_ms = max(1, int(self.settings.dashboard_sample_s * 1000 * 0.9))
        if not await self.redis.set(self.keys.stats_sample_lock, 1, nx=True, px=lock_ms):
            return False
        state = await read_state(self.redis, self.keys, self.settings)
        sample = sample_of(summarize(state, self.settings), state.recorded)
        entry: dict[Any, Any] = {k: "" if v is None else repr(float(v)) for k, v in sample.items()}
        await self.redis.xadd(self.keys.stats_samples, entry, maxlen=self.cap, approximate=False)
        return True

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="stats-sampler")

    async def stop(self) -> None:
        await stop_task(self._task)

    async def _loop(self) -> None:
        while True:
            # Sleep first: a process that just started (a test's app, a restarted replica)
            # adds no Redis work in its first interval, and the other processes sample meanwhile.
            await asyncio.sleep(self.settings.dashboard_sample_s)
            try:
                await self.sample_once()
            except (RedisError, OSError) as exc:  # Redis down: the next interval retries
                log.debug("stats sample skipped: %s", exc)
            except Exception:  # never let the sampler die with the process still serving
                log.exception("stats sample failed")
