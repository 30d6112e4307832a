"""Queue and decision statistics, computed from Redis with bounded work.

One pipeline reads everything (``read_state``): counters, the last 61 minute buckets, the
consumer groups, queue heads, the capped latency samples and the live workers. Every command in
it is O(1) or bounded (61 minutes, 1,000 samples, the worker set), so a stats call costs the
same with ten comments or ten million. ``/v1/stats``, ``/metrics``, ``moderation stats`` and the
dashboard all read through here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from moderation.keys import (
    ARCHIVE_GROUP,
    CORAL_GROUP,
    CORAL_QUEUE,
    SCORING_GROUP,
    WEBHOOK_GROUP,
    Counter,
    Keys,
    parse_counter,
)
from moderation.ops.heartbeat import WorkerFacts, load_facts
from moderation.ops.metrics import Snapshot
from moderation.settings import Settings
from moderation.store.codec import as_int, int_map, str_map
from moderation.store.webhooks import Webhooks

MINUTES = 61
#: Counter prefix of the reasons moderators give (``reason:moderator:spam``).
MODERATOR_REASON = Counter.reason("moderator:")
#: How long a worker that died (no clean stop) stays listed as stale.
STALE_WORKER_SHOWN_S = 600.0


@dataclass(slots=True)
class State:
    now: float
    counters: dict[str, int]
    minutes: list[dict[str, int]]  # index 0 = the current minute, 1 = the one before, …
    stream_length: int
    undelivered: int
    unacked: int
    undecided: int
    oldest_undecided_ms: int | None
    held: int
    oldest_held_ms: int | None
    dead_letters: int
    auto_latency_ms: list[int]
    human_latency_ms: list[int]
    workers: list[WorkerFacts]
    #: Events not yet fanned out plus messages waiting in every endpoint's queue.
    webhook_backlog: int
    #: Dead-lettered messages, all endpoints.
    webhook_dead: int
    recorded: dict[str, str]
    #: Events and audit entries the archiver has not yet written to the record.
    archive_backlog: int = 0
    #: Per webhook endpoint: (messages waiting, messages dead-lettered).
    webhook_endpoints: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: The Coral write-back: events not yet read, messages waiting, messages dead-lettered.
    coral_backlog: int = 0
    coral_queued: int = 0
    coral_dead: int = 0


def _group(groups: Any, name: str) -> tuple[int, int, str]:
    """(lag, pending, last-delivered-id) of a consumer group; zeros if absent."""
    if not isinstance(groups, list):
        return 0, 0, "0-0"
    for g in groups:
        gname = g.get("name")
        if (gname.decode() if isinstance(gname, bytes) else gname) == name:
            lag = g.get("lag")
            last = g.get("last-delivered-id", b"0-0")
            return (
                int(lag) if lag is not None else -1,
                int(g.get("pending", 0)),
                last.decode() if isinstance(last, bytes) else str(last),
            )
    return 0, 0, "0-0"


async def read_state(redis: Redis, keys: Keys, settings: Settings) -> State:
    now = time.time()
    minute = int(now) // 60
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(keys.counters)  # 0
    for m in range(MINUTES):  # 1 .. 61
        pipe.hgetall(keys.minute_counters(minute - m))
    pipe.xlen(keys.stream)  # 62
    pipe.xinfo_groups(keys.stream)  # 63
    pipe.zcard(keys.pending)  # 64
    pipe.zrange(keys.pending, 0, 0, withscores=True)  # 65
    pipe.zcard(keys.held)  # 66
    pipe.zrange(keys.held, 0, 0, withscores=True)  # 67
    pipe.xlen(keys.dead_letters)  # 68
    pipe.lrange(keys.auto_latency, 0, -1)  # 69
    pipe.lrange(keys.human_latency, 0, -1)  # 70
    # Workers seen in the last ten minutes: one that died keeps showing (stale) for that long
    # after its heartbeat hash expired; one stopped cleanly unregistered itself.
    pipe.zrangebyscore(  # 71
        keys.workers,
        now - max(STALE_WORKER_SHOWN_S, settings.heartbeat_ttl_s * 6),
        "+inf",
        withscores=True,
    )
    pipe.xinfo_groups(keys.events)  # 72
    pipe.hlen(keys.webhook_endpoints)  # 73 (unused: the endpoints are read below)
    pipe.hgetall(keys.metrics)  # 74
    pipe.xinfo_groups(keys.audit)  # 75
    r = await pipe.execute(raise_on_error=False)
    seen = [(n.decode(), float(t)) for n, t in r[71]] if isinstance(r[71], list) else []
    workers = await load_facts(redis, keys, seen)
    lag, unacked, _ = _group(r[63], SCORING_GROUP)
    if lag < 0:  # Redis 6 has no lag: all unread entries count, approximately the undecided
        lag = max(as_int(r[64]) - unacked, 0)
    webhook_lag, webhook_pending, _ = _group(r[72], WEBHOOK_GROUP)
    # One more round trip, bounded by the number of endpoints (a handful).
    hooks = Webhooks(redis, keys, settings)
    endpoint_ids = [e.id for e in await hooks.endpoints()]
    per_endpoint = await hooks.backlog(endpoint_ids) if endpoint_ids else {}
    coral_lag, coral_pending, _ = _group(r[72], CORAL_GROUP)
    coral_queued, coral_dead = (await hooks.backlog([CORAL_QUEUE]))[CORAL_QUEUE]
    archive_backlog = sum(
        max(lag, 0) + pending
        for lag, pending, _ in (_group(r[72], ARCHIVE_GROUP), _group(r[75], ARCHIVE_GROUP))
    )
    return State(
        now=now,
        counters=int_map(r[0]),
        minutes=[int_map(x) for x in r[1 : 1 + MINUTES]],
        stream_length=as_int(r[62]),
        undelivered=lag,
        unacked=unacked,
        undecided=as_int(r[64]),
        oldest_undecided_ms=_head(r[65]),
        held=as_int(r[66]),
        oldest_held_ms=_head(r[67]),
        dead_letters=as_int(r[68]),
        auto_latency_ms=[int(x) for x in r[69]] if isinstance(r[69], list) else [],
        human_latency_ms=[int(x) for x in r[70]] if isinstance(r[70], list) else [],
        workers=workers,
        webhook_backlog=max(webhook_lag, 0)
        + webhook_pending
        + sum(waiting for waiting, _ in per_endpoint.values()),
        webhook_dead=sum(dead for _, dead in per_endpoint.values()),
        webhook_endpoints=per_endpoint,
        recorded=str_map(r[74]) if isinstance(r[74], dict) else {},
        archive_backlog=archive_backlog,
        coral_backlog=max(coral_lag, 0) + coral_pending,
        coral_queued=coral_queued,
        coral_dead=coral_dead,
    )


def _head(rows: Any) -> int | None:
    if isinstance(rows, list) and rows:
        return int(rows[0][1])
    return None


def percentile(samples: Sequence[int], q: float) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return float(ordered[index])


def per_minute(state: State, field: str, window: int) -> float:
    """Average per minute of ``field`` over the last ``window`` minutes (the current minute
    counts for the part of it that has passed; the oldest bucket for the rest)."""
    elapsed = (state.now % 60) / 60
    total: float = sum(state.minutes[m].get(field, 0) for m in range(window))
    if window < MINUTES:
        total += state.minutes[window].get(field, 0) * (1 - elapsed)
    return round(total / window, 2)


def _sum_kind(state: State, kind: str, window: int) -> int:
    """All counters of one kind (``moderator`` → ``moderator:*``) over the last minutes."""
    return sum(
        v for m in range(window) for k, v in state.minutes[m].items() if parse_counter(k)[0] == kind
    )


def summarize(state: State, settings: Settings) -> dict[str, Any]:
    """The ``/v1/stats`` document."""
    c = state.counters
    now_ms = state.now * 1000

    def decided(*kinds: str) -> dict[str, float]:
        return {
            f"{w}m": round(
                sum(
                    per_minute(state, Counter.by(kind, s), w)
                    for kind in kinds
                    for s in ("approved", "held", "rejected")
                ),
                2,
            )
            for w in (1, 5, 60)
        }

    auto_total = sum(c.get(Counter.by("auto", s), 0) for s in ("approved", "held", "rejected"))
    auto_hour = {
        s: sum(state.minutes[m].get(Counter.by("auto", s), 0) for m in range(60))
        for s in ("approved", "held", "rejected")
    }
    hour_total = sum(auto_hour.values())
    workers = []
    for w in state.workers:
        workers.append(
            {
                "id": w.name,
                "host": w.host or None,
                "pid": w.pid,
                "model": w.model or None,
                "model_version": w.model_version or None,
                "device": w.device or None,
                "batch_size": w.batch_size,
                "processed": w.processed,
                "dead_lettered": w.dead_lettered,
                "last_heartbeat_age_s": round(state.now - w.last_beat, 2),
                "stale": state.now - w.last_beat > settings.heartbeat_ttl_s,
                "degraded": w.degraded,
                "runtime": w.runtime or None,
            }
        )
    return {
        "generated_at": round(state.now, 3),
        "queue": {
            "stream_length": state.stream_length,
            "undelivered": state.undelivered,
            "pending": state.unacked,
            "undecided": state.undecided,
            "oldest_undecided_age_s": _age(state.oldest_undecided_ms, now_ms),
        },
        "throughput": {
            "accepted_per_minute": {
                f"{w}m": per_minute(state, Counter.ACCEPTED, w) for w in (1, 5, 60)
            },
            # Automatic decisions (the pipeline's throughput), dead-lettered ones included.
            "decided_per_minute": decided("auto", "system"),
            "moderator_decisions_per_minute": decided("moderator", "admin"),
        },
        "decisions": {
            "total": {s: c.get(Counter.decided(s), 0) for s in ("approved", "held", "rejected")},
            "auto": {s: c.get(Counter.by("auto", s), 0) for s in ("approved", "held", "rejected")},
            "auto_last_hour": auto_hour,
            "moderator": {
                s: c.get(Counter.by("moderator", s), 0) + c.get(Counter.by("admin", s), 0)
                for s in ("approved", "rejected")
            },
            # Why the machine held or rejected (toxicity label, spam, rule, dead letter)...
            "by_reason": {
                parse_counter(k)[1]: v
                for k, v in sorted(c.items())
                if parse_counter(k)[0] == Counter.REASON and not k.startswith(MODERATOR_REASON)
            },
            # ...and the reasons moderators gave, apart.
            "moderator_by_reason": {
                k[len(MODERATOR_REASON) :]: v
                for k, v in sorted(c.items())
                if k.startswith(MODERATOR_REASON)
            },
        },
        "hold_rate": {
            "all_time": round(c.get(Counter.by("auto", "held"), 0) / auto_total, 4)
            if auto_total
            else None,
            "last_hour": round(auto_hour["held"] / hour_total, 4) if hour_total else None,
        },
        "held": {
            "backlog": state.held,
            "oldest_age_s": _age(state.oldest_held_ms, now_ms),
        },
        "moderators": {
            "actions_last_hour": _sum_kind(state, "moderator", 60) + _sum_kind(state, "admin", 60),
            "time_to_decision_s": {
                "p50": _seconds(percentile(state.human_latency_ms, 0.5)),
                "p90": _seconds(percentile(state.human_latency_ms, 0.9)),
                "samples": len(state.human_latency_ms),
            },
        },
        "auto_time_to_decision_ms": {
            "p50": percentile(state.auto_latency_ms, 0.5),
            "p99": percentile(state.auto_latency_ms, 0.99),
            "samples": len(state.auto_latency_ms),
        },
        "dead_letters": state.dead_letters,
        "coral": {
            "answered": c.get(Counter.CORAL_ANSWERED, 0),
            "missed": c.get(Counter.CORAL_MISSED, 0),
            # The write-back of later decisions (workers.coral): events to read, decisions
            # waiting to be applied, dead-lettered ones.
            "write_back": {
                "backlog": state.coral_backlog + state.coral_queued,
                "failures": state.coral_dead,
            },
        },
        "webhooks": {
            "backlog": state.webhook_backlog,
            "failures": state.webhook_dead,
            "endpoints": {
                endpoint_id: {"backlog": waiting, "failures": dead}
                for endpoint_id, (waiting, dead) in state.webhook_endpoints.items()
            },
        },
        # Transitions and audit entries not yet in the record (SQL): should stay near 0.
        "archiver": {"backlog": state.archive_backlog},
        "rate_limited": {
            "total": c.get(Counter.RATE_LIMITED, 0),
            "last_hour": sum(state.minutes[m].get(Counter.RATE_LIMITED, 0) for m in range(60)),
        },
        "workers": workers,
        "degraded": sorted(
            {f"scorer:{w['model']}" for w in workers if w["degraded"] and not w["stale"]}
        ),
        "alerts": alerts(state, settings, workers),
    }


def alerts(
    state: State, settings: Settings, workers: Sequence[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """What an operator must look at now (the dashboard's red banner)."""
    out: list[dict[str, str]] = []
    oldest = _age(state.oldest_undecided_ms, state.now * 1000)
    if oldest is not None and oldest > settings.stuck_queue_s:
        out.append(
            {
                "code": "queue_stuck",
                "message": f"Queue stuck: the oldest undecided comment is {oldest:.0f} s old "
                f"(limit {settings.stuck_queue_s:.0f} s)",
            }
        )
    live = [w for w in workers if not w["stale"]]
    if not live:
        out.append({"code": "no_workers", "message": "No scoring worker is running"})
    for w in workers:
        if w["stale"]:
            out.append(
                {
                    "code": "worker_stale",
                    "message": f"Worker {w['id']} has not sent a heartbeat for "
                    f"{w['last_heartbeat_age_s']:.0f} s",
                }
            )
    for w in live:
        if w["degraded"]:
            out.append(
                {
                    "code": "scorer_degraded",
                    "message": f"Worker {w['id']} scores with the fallback model {w['model']} "
                    "(Detoxify weights missing)",
                }
            )
    return out


def history(state: State) -> dict[str, Any]:
    """Per-minute series of the last hour, oldest first, for the dashboard's charts."""
    start = (int(state.now) // 60) * 60 - (MINUTES - 2) * 60
    minutes = list(reversed(state.minutes[: MINUTES - 1]))

    def series(*fields: str) -> list[int]:
        return [sum(m.get(f, 0) for f in fields) for m in minutes]

    auto = [Counter.by(k, s) for k in ("auto", "system") for s in ("approved", "held", "rejected")]
    human = [Counter.by(k, s) for k in ("moderator", "admin") for s in ("approved", "rejected")]
    return {
        "start": start,
        "step": 60,
        "accepted": series(Counter.ACCEPTED),
        "decided": series(*auto),
        "approved": series(Counter.by("auto", "approved")),
        "held": series(Counter.by("auto", "held"), Counter.by("system", "held")),
        "rejected": series(Counter.by("auto", "rejected")),
        "moderated": series(*human),
        "rate_limited": series(Counter.RATE_LIMITED),
    }


def _age(ms: int | None, now_ms: float) -> float | None:
    return round(max(now_ms - ms, 0) / 1000, 3) if ms is not None else None


def _seconds(ms: float | None) -> float | None:
    return round(ms / 1000, 3) if ms is not None else None


def snapshot(state: State, settings: Settings) -> Snapshot:
    """The ``/metrics`` view of the same state."""
    now_ms = state.now * 1000
    fresh = [w for w in state.workers if state.now - w.last_beat <= settings.heartbeat_ttl_s]
    return Snapshot(
        recorded=state.recorded,
        counters=state.counters,
        gauges={
            "moderation_queue_undelivered": state.undelivered,
            "moderation_queue_unacked": state.unacked,
            "moderation_queue_undecided": state.undecided,
            "moderation_queue_oldest_age_seconds": _age(state.oldest_undecided_ms, now_ms) or 0,
            "moderation_held_backlog": state.held,
            "moderation_held_oldest_age_seconds": _age(state.oldest_held_ms, now_ms) or 0,
            "moderation_dead_letter_stream_length": state.dead_letters,
            "moderation_webhook_backlog": state.webhook_backlog,
            "moderation_archive_backlog": state.archive_backlog,
            "moderation_workers": len(fresh),
        },
        workers=fresh,
        latency={
            "auto": {
                q: _seconds(percentile(state.auto_latency_ms, float(q)))
                for q in ("0.5", "0.9", "0.99")
            },
            "human": {
                q: _seconds(percentile(state.human_latency_ms, float(q)))
                for q in ("0.5", "0.9", "0.99")
            },
        },
    )
