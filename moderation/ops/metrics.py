"""Every Prometheus metric of the service, declared in one place, and how they are kept.

Metrics are **cluster-wide**: each process accumulates its increments in memory and flushes
them to one Redis hash (``keys.metrics``) about once a second; the comment counters and queue
gauges are read from the state the Lua transitions already maintain. So ``GET /metrics`` on any
API process returns the same totals, correct with any number of API processes and workers on any
number of machines. Scrape it through one address (the service name), not every replica: the
series are global, and per-replica scrapes would count everything once per replica.

No label ever carries a comment, author or article id (unbounded cardinality).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from redis.asyncio import Redis
from redis.exceptions import RedisError

from moderation import __version__
from moderation.keys import Counter, Keys, parse_counter
from moderation.ops.heartbeat import WorkerFacts
from moderation.tasks import stop_task

log = logging.getLogger("moderation.ops.metrics")

_SEP = "\x1f"  # separates the metric name and label values in a Redis hash field


@dataclass(frozen=True, slots=True)
class Def:
    name: str
    kind: str  # "counter" | "histogram"
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
SCORING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# --- recorded by processes (flushed to Redis) ------------------------------------------------
HTTP_REQUESTS = Def(
    "moderation_http_requests",
    "counter",
    "HTTP requests answered, by route template and status.",
    ("route", "method", "status"),
)
HTTP_DURATION = Def(
    "moderation_http_request_duration_seconds",
    "histogram",
    "Time to answer an HTTP request (including ?wait= time).",
    ("route", "method"),
    LATENCY_BUCKETS,
)
BATCH_SIZE = Def(
    "moderation_scoring_batch_size",
    "histogram",
    "Comments per scored batch.",
    ("model",),
    BATCH_BUCKETS,
)
BATCH_DURATION = Def(
    "moderation_scoring_batch_duration_seconds",
    "histogram",
    "Time to score one batch: toxicity and spam (its shared state in Redis included).",
    ("model",),
    SCORING_BUCKETS,
)
WEBHOOK_DELIVERIES = Def(
    "moderation_webhook_deliveries",
    "counter",
    "Webhook delivery attempts by outcome.",
    ("outcome",),
)

RECORDED: tuple[Def, ...] = (
    HTTP_REQUESTS,
    HTTP_DURATION,
    BATCH_SIZE,
    BATCH_DURATION,
    WEBHOOK_DELIVERIES,
)


@dataclass
class Recorder:
    """In-process accumulation of :data:`RECORDED` metrics, flushed to Redis periodically.

    ``observe``/``inc`` are plain dict updates (no I/O on the request path). A failed flush
    keeps the increments for the next one, so an outage delays metrics but loses none.
    """

    redis: Redis
    keys: Keys
    interval_s: float = 1.0
    _ints: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _floats: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    _task: asyncio.Task[None] | None = None

    def inc(self, metric: Def, labels: Sequence[str], amount: int = 1) -> None:
        self._ints[_field(metric.name, labels)] += amount

    def observe(self, metric: Def, labels: Sequence[str], value: float) -> None:
        base = _field(metric.name, labels)
        for bound in metric.buckets:
            if value <= bound:
                # Store the non-cumulative bucket; rendering accumulates.
                self._ints[f"{base}{_SEP}le={bound}"] += 1
                break
        else:
            self._ints[f"{base}{_SEP}le=+Inf"] += 1
        self._ints[f"{base}{_SEP}count"] += 1
        self._floats[f"{base}{_SEP}sum"] += value

    async def flush(self) -> None:
        if not self._ints and not self._floats:
            return
        ints, floats = self._ints, self._floats
        self._ints, self._floats = defaultdict(int), defaultdict(float)
        try:
            pipe = self.redis.pipeline(transaction=False)
            for name, n in ints.items():
                pipe.hincrby(self.keys.metrics, name, n)
            for name, x in floats.items():
                pipe.hincrbyfloat(self.keys.metrics, name, x)
            await pipe.execute()
        except (RedisError, OSError):
            for name, n in ints.items():
                self._ints[name] += n
            for name, x in floats.items():
                self._floats[name] += x
            raise

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="metrics-flush")

    async def stop(self) -> None:
        await stop_task(self._task)
        with contextlib.suppress(RedisError, OSError):
            await self.flush()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.flush()
            except (RedisError, OSError) as exc:
                log.debug("metrics flush failed (kept for the next one): %s", exc)


def _field(name: str, labels: Sequence[str]) -> str:
    return _SEP.join((name, *labels))


# --- rendering ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Snapshot:
    """What ``/metrics`` shows, read from Redis in one round trip (see ``stats.read_snapshot``)."""

    recorded: Mapping[str, str]
    counters: Mapping[str, int]
    gauges: Mapping[str, float]
    workers: Sequence[WorkerFacts]
    #: Quantiles (0.5, 0.9, 0.99) of recent automatic and human time-to-decision, seconds.
    latency: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)


def recorded_families(recorded: Mapping[str, str]) -> list[Metric]:
    by_name: dict[str, dict[tuple[str, ...], dict[str, float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    defs = {d.name: d for d in RECORDED}
    for key, value in recorded.items():
        parts = key.split(_SEP)
        d = defs.get(parts[0])
        if d is None:
            continue
        labels = tuple(parts[1 : 1 + len(d.labels)])
        rest = parts[1 + len(d.labels) :]
        slot = rest[0] if rest else "value"
        by_name[d.name][labels][slot] = float(value)
    families: list[Metric] = []
    for d in RECORDED:
        series = by_name.get(d.name, {})
        if d.kind == "counter":
            counter = CounterMetricFamily(d.name, d.help, labels=list(d.labels))
            for labels, slots in sorted(series.items()):
                counter.add_metric(list(labels), slots.get("value", 0.0))
            families.append(counter)
        else:
            hist = HistogramMetricFamily(d.name, d.help, labels=list(d.labels))
            for labels, slots in sorted(series.items()):
                cumulative = 0.0
                buckets: list[tuple[str, float]] = []
                for bound in d.buckets:
                    cumulative += slots.get(f"le={bound}", 0.0)
                    buckets.append((_bound(bound), cumulative))
                cumulative += slots.get("le=+Inf", 0.0)
                buckets.append(("+Inf", cumulative))
                hist.add_metric(list(labels), buckets, sum_value=slots.get("sum", 0.0))
            families.append(hist)
    return families


def _bound(bound: float) -> str:
    return str(float(bound))


def state_families(snapshot: Snapshot) -> list[Metric]:
    c = snapshot.counters
    g = snapshot.gauges
    accepted = CounterMetricFamily(
        "moderation_comments_accepted", "Comments accepted (2xx) by the API."
    )
    accepted.add_metric([], c.get(Counter.ACCEPTED, 0))
    decisions = CounterMetricFamily(
        "moderation_decisions",
        "Status transitions by new status and kind of actor.",
        labels=["status", "by"],
    )
    for name, value in sorted(c.items()):
        by, _, status = name.partition(":")
        if by in ("auto", "system", "moderator", "admin") and status:
            decisions.add_metric([status, by], value)
    reasons = CounterMetricFamily(
        "moderation_decision_reasons",
        "Decisions by primary reason: automatic ones by toxicity label, spam or rule; "
        "moderators' as moderator:<reason>.",
        labels=["reason"],
    )
    for name, value in sorted(c.items()):
        kind, reason = parse_counter(name)
        if kind == Counter.REASON:
            reasons.add_metric([reason], value)
    rate_limited = CounterMetricFamily(
        "moderation_rate_limited", "Comments refused by flood control (429)."
    )
    rate_limited.add_metric([], c.get(Counter.RATE_LIMITED, 0))
    dead = CounterMetricFamily(
        "moderation_dead_letters", "Stream entries dead-lettered after too many deliveries."
    )
    dead.add_metric([], c.get(Counter.reason("dead_letter"), 0))

    gauges: list[Metric] = [accepted, decisions, reasons, rate_limited, dead]
    for name, help_text in (
        ("moderation_queue_undelivered", "Queued comments no worker has read yet (group lag)."),
        ("moderation_queue_unacked", "Comments read by a worker but not yet acknowledged."),
        ("moderation_queue_undecided", "Comments waiting for an automatic decision."),
        ("moderation_queue_oldest_age_seconds", "Age of the oldest undecided comment."),
        ("moderation_held_backlog", "Comments in the held queue awaiting a moderator."),
        ("moderation_held_oldest_age_seconds", "Age of the oldest held comment."),
        ("moderation_dead_letter_stream_length", "Entries in the dead-letter stream."),
        ("moderation_webhook_backlog", "Events not yet delivered to the webhook endpoint."),
        (
            "moderation_archive_backlog",
            "Events and audit entries not yet written to the record (SQL).",
        ),
        ("moderation_workers", "Workers with a fresh heartbeat."),
    ):
        gauge = GaugeMetricFamily(name, help_text)
        gauge.add_metric([], g.get(name, 0.0))
        gauges.append(gauge)

    build = GaugeMetricFamily(
        "moderation_build_info",
        "Version of the service answering this scrape.",
        labels=["version", "python"],
    )
    build.add_metric([__version__, platform.python_version()], 1)
    model = GaugeMetricFamily(
        "moderation_model_info",
        "Scoring models in use by live workers (value: worker count).",
        labels=["model", "version", "device", "runtime", "degraded"],
    )
    models: dict[tuple[str, str, str, str, str], int] = defaultdict(int)
    for w in snapshot.workers:
        models[
            (w.model, w.model_version, w.device, w.runtime, "true" if w.degraded else "false")
        ] += 1
    for labels, n in sorted(models.items()):
        model.add_metric(list(labels), n)
    gauges += [build, model]
    for kind, help_text in (
        ("auto", "Recent automatic time-to-decision (last 1,000 comments), by quantile."),
        ("human", "Recent held-to-moderator time-to-decision (last 1,000), by quantile."),
    ):
        latency = GaugeMetricFamily(
            f"moderation_{kind}_time_to_decision_seconds", help_text, labels=["quantile"]
        )
        for q, seconds in sorted(snapshot.latency.get(kind, {}).items()):
            if seconds is not None:
                latency.add_metric([q], seconds)
        gauges.append(latency)
    return gauges


class _Static:
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


def render(snapshot: Snapshot) -> bytes:
    """Prometheus text exposition of a snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Static([*state_families(snapshot), *recorded_families(snapshot.recorded)]))
    return generate_latest(registry)
