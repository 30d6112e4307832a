"""The operators' and integrations' answers as msgspec structs: readiness, ``/v1/stats``,
webhook endpoints and Coral's phase (see ``moderation.api.schemas`` for how they are used)."""

from __future__ import annotations

from typing import Any

import msgspec

from moderation.api.schemas import Out

# --- readiness -------------------------------------------------------------------------------


class ReadyWorker(Out):
    name: str
    model: str | None
    device: str | None
    degraded: bool


class Readiness(Out):
    #: ``ready`` (200) or ``not_ready`` (503, with ``Retry-After``).
    status: str
    problems: list[str]
    #: ``scorer:<model>`` for each fallback model standing in.
    degraded: list[str]
    workers: list[ReadyWorker]


# --- /v1/stats -------------------------------------------------------------------------------


class StatsQueue(Out):
    stream_length: int
    undelivered: int
    pending: int
    undecided: int
    oldest_undecided_age_s: float | None


class Throughput(Out):
    #: Keys ``1m``, ``5m``, ``60m``: averages per minute over those windows.
    accepted_per_minute: dict[str, float]
    decided_per_minute: dict[str, float]
    moderator_decisions_per_minute: dict[str, float]


class Decisions(Out):
    total: dict[str, int]
    auto: dict[str, int]
    auto_last_hour: dict[str, int]
    moderator: dict[str, int]
    by_reason: dict[str, int]
    moderator_by_reason: dict[str, int]


class HoldRate(Out):
    all_time: float | None
    last_hour: float | None


class HeldBacklog(Out):
    backlog: int
    oldest_age_s: float | None


class Percentiles(Out):
    samples: int
    p50: float | None
    p90: float | msgspec.UnsetType | None = msgspec.UNSET
    p99: float | msgspec.UnsetType | None = msgspec.UNSET


class Moderators(Out):
    actions_last_hour: int
    time_to_decision_s: Percentiles


class Backlog(Out):
    backlog: int
    failures: int


class CoralStats(Out):
    #: Phase calls answered with our decision / without one (not decided within the budget).
    answered: int
    missed: int
    #: The write-back of later decisions (``workers.coral``).
    write_back: Backlog


class WebhookStats(Out):
    backlog: int
    failures: int
    endpoints: dict[str, Backlog]


class ArchiverStats(Out):
    backlog: int


class RateLimited(Out):
    total: int
    last_hour: int


class WorkerStats(Out):
    id: str
    host: str | None
    pid: int
    model: str | None
    model_version: str | None
    device: str | None
    batch_size: int
    processed: int
    dead_lettered: int
    last_heartbeat_age_s: float
    stale: bool
    degraded: bool
    runtime: str | None


class Alert(Out):
    code: str
    message: str


class Stats(Out):
    generated_at: float
    queue: StatsQueue
    throughput: Throughput
    decisions: Decisions
    hold_rate: HoldRate
    held: HeldBacklog
    moderators: Moderators
    auto_time_to_decision_ms: Percentiles
    dead_letters: int
    coral: CoralStats
    webhooks: WebhookStats
    archiver: ArchiverStats
    rate_limited: RateLimited
    workers: list[WorkerStats]
    degraded: list[str]
    alerts: list[Alert]


# --- webhooks --------------------------------------------------------------------------------


class Endpoint(Out):
    id: str
    url: str
    events: list[str]
    description: str
    #: ``api`` (registered at run time), ``environment`` (``env``) or ``coral`` (the Coral
    #: write-back, ``coral``: read-only, its failures listed and replayed like the others).
    source: str
    created_at: str | None
    #: The current secret's first characters (the secret is shown once only).
    secret_hint: str
    previous_secret_expires_at: str | None
    #: Listings: messages waiting and dead-lettered.
    backlog: int | msgspec.UnsetType = msgspec.UNSET
    failures: int | msgspec.UnsetType = msgspec.UNSET
    #: Create and rotate only: the new ``whsec_`` secret, shown this once.
    secret: str | msgspec.UnsetType = msgspec.UNSET
    #: The sites whose events it receives (empty: every site's).
    sites: list[str] = msgspec.field(default_factory=list)


class EndpointList(Out):
    endpoints: list[Endpoint]


class Failure(Out):
    id: str
    message_id: str
    type: str
    attempts: int
    error: str
    first_attempt_at: str | None
    failed_at: str | None
    payload: Any


class FailureList(Out):
    failures: list[Failure]


class Replayed(Out):
    replayed: int


# --- Coral -----------------------------------------------------------------------------------


class CoralAction(Out):
    actionType: str
    reason: str


class CoralAnswer(Out):
    """Coral's phase result: ``{}`` (no opinion) or ``SYSTEM_WITHHELD`` with a flag."""

    status: str | msgspec.UnsetType = msgspec.UNSET
    actions: list[CoralAction] | msgspec.UnsetType = msgspec.UNSET
