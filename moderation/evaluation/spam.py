"""``moderation eval spam``: how well the spam scorer does on labelled data, two ways.

* **zero-shot**: comments replayed in time order through the real pipeline (``Store.submit``
  → stream → ``BatchPipeline.process`` in batches of ``batch_size`` → stored decision) with no
  feedback at all: the signals and their priors alone.
* **prequential** (test-then-train): the same replay one comment at a time; after each
  decision the true label is applied as a moderator would (the comment is moved to approved or
  rejected through ``Store.transition``, which also updates the author's history) and fed to
  :func:`moderation.spam.feedback.record_feedback`. Every prediction is made before its label
  is learned, so the figures are out-of-sample throughout, cold start included.

A comment counts as flagged when its spam score reaches the spam threshold in force (the
``spam_threshold`` setting, ``MODERATION_SPAM_THRESHOLD``); toxicity is not scored (a stand-in
scorer returns no labels) because this measures spam alone.

Each mode runs under its own key prefix against a real Redis: ``--redis-url``, or else a
private ``redis-server`` started for the run on a Unix socket in a temporary directory and
stopped afterwards. Keys written to a given Redis are deleted at the end.

Output: a table, segment-by-segment figures of the prequential run (the learning curve in
numbers), a learning-curve PNG, and as the last lines, one per mode, prequential last::

    spam mode=<zero-shot|prequential> n=<N> precision=<p> recall=<r> f1=<f> fpr=<x>
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from moderation.errors import ConfigError
from moderation.evaluation.datasets import LabelledComment, load
from moderation.evaluation.report import (
    ModeResult,
    Outcome,
    data_label,
    errors,
    plot,
    segments,
    summary_line,
    sweep,
    table,
)
from moderation.ids import new_id
from moderation.keys import Keys
from moderation.messages import Author, CommentRecord, Decision, ModelInfo, Reason, Status
from moderation.pipeline.batch import BatchPipeline
from moderation.settings import Settings
from moderation.spam.feedback import record_feedback
from moderation.store.comments import Store, now_ms
from moderation.store.embedded import temporary_redis
from moderation.store.queue import Entry
from moderation.store.transitions import CommentRef

MODES = ("zero-shot", "prequential")
#: Progress bars appear from this many comments on.
PROGRESS_FROM = 200


class _NoToxicity:
    """Stands in for the toxicity model: this evaluation measures spam only."""

    info = ModelInfo(name="none", version="0")
    labels: tuple[str, ...] = ()

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return [{} for _ in texts]


async def replay(
    data: Sequence[LabelledComment],
    mode: str,
    settings: Settings,
    url: str,
    *,
    progress: bool,
    feedback: str = "all",
) -> ModeResult:
    """Run ``data`` through the real pipeline in one mode; returns every decision's outcome.

    ``feedback`` (prequential only): ``all`` labels every comment after its decision (the
    textbook protocol); ``reviewed`` only what moderators would see in practice: held
    comments, and spam that was published (reported by readers, then removed).
    """
    from tqdm import tqdm

    prefix = f"eval-spam-{mode}-{os.getpid()}-{os.urandom(3).hex()}"
    settings = settings.with_overrides(key_prefix=prefix, redis_url=url)
    keys = Keys(prefix)
    redis = Redis.from_url(url, socket_timeout=30)
    result = ModeResult(mode)
    learn = mode == "prequential"
    batch = 1 if learn else settings.batch_size
    started = time.perf_counter()
    try:
        store = Store(redis, keys)
        pipeline = BatchPipeline(settings, redis, _NoToxicity(), consumer=f"eval-{mode}")
        await pipeline.queue.ensure_group()
        bar = tqdm(total=len(data), desc=mode, unit="comment", disable=not progress, leave=False)
        for start in range(0, len(data), batch):
            chunk = data[start : start + batch]
            records = [_record(item) for item in chunk]
            for record in records:
                await store.submit(record, record.id, None, 3600)
            entries: list[Entry] = []
            while len(entries) < len(records):
                got = await pipeline.queue.read(len(records) - len(entries), 1000, 0)
                if not got:
                    raise RuntimeError("submitted comments did not reach the stream")
                entries.extend(got)
            await pipeline.process(entries)
            stored = await store.get_many([r.id for r in records])
            for item, record, comment in zip(chunk, records, stored, strict=True):
                if comment is None or comment.decision is None or comment.decision.spam is None:
                    raise RuntimeError(f"comment {record.id} ({item.source}) was not decided")
                decision = comment.decision
                spam = decision.spam
                assert spam is not None
                # A comment whose signals failed is held: count it as flagged.
                score = 1.0 if "error" in spam.signals else spam.score
                threshold = decision.spam_threshold
                result.outcomes.append(
                    Outcome(
                        score,
                        threshold if threshold is not None else settings.spam_threshold,
                        item.is_spam,
                        item.source,
                        item.text,
                        _why(spam.signals),
                    )
                )
                reviewed = comment.status is Status.HELD or item.is_spam
                if learn and (feedback == "all" or reviewed):
                    await _moderate(store, redis, keys, settings, record, comment.status, item)
            bar.update(len(chunk))
        bar.close()
    finally:
        result.seconds = time.perf_counter() - started
        await _delete_prefix(redis, prefix)
        await redis.aclose()
    return result


def _why(signals: dict[str, Any]) -> dict[str, float]:
    parts = signals.get("contributions")
    why = {k: float(v) for k, v in parts.items()} if isinstance(parts, dict) else {}
    if isinstance(signals.get("text_logit"), int | float):
        why["text"] = float(signals["text_logit"])
    return why


def _record(item: LabelledComment) -> CommentRecord:
    return CommentRecord(
        id=new_id(item.created_ms),
        article_id=item.article,
        text=item.text or " ",
        author=Author(id=item.author, name=item.author),
        created_at=item.created_ms,
        site="eval",
    )


async def _moderate(
    store: Store,
    redis: Redis,
    keys: Keys,
    settings: Settings,
    record: CommentRecord,
    status: Status,
    item: LabelledComment,
) -> None:
    """Apply the true label as a moderator would, then feed it back to the spam model."""
    target = Status.REJECTED if item.is_spam else Status.APPROVED
    if status is not target:
        decision = Decision(
            status=target,
            by="moderator:eval",
            decided_at=now_ms(),
            reasons=[Reason(code="spam" if item.is_spam else "ok", message="evaluation label")],
        )
        await store.transition(
            CommentRef.of(record),
            [Status.APPROVED, Status.HELD, Status.REJECTED],
            decision,
            actor="moderator",
        )
    await record_feedback(redis, keys, record, "spam" if item.is_spam else "ham", settings=settings)


async def _delete_prefix(redis: Redis, prefix: str) -> None:
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await redis.unlink(*batch)
            batch.clear()
    if batch:
        await redis.unlink(*batch)


# --- reporting --------------------------------------------------------------------------------


def _require_reporting_packages() -> None:
    try:
        import matplotlib  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"the evaluation needs {exc.name}: pip install 'moderation[dev]' "
            "(or pip install matplotlib tqdm)"
        ) from None


def run(settings: Settings, args: argparse.Namespace) -> int:
    _require_reporting_packages()
    data = load(args.data, shuffle_seed=args.shuffle)
    if args.limit is not None:
        if args.limit < 1:
            raise ConfigError("--limit must be at least 1")
        data = data[: args.limit]
    modes = MODES if args.mode == "both" else (args.mode,)
    progress = not args.no_progress and len(data) >= PROGRESS_FROM
    spam = sum(c.is_spam for c in data)
    names = ", ".join(sorted({c.source.split(":")[0] for c in data}))
    print(f"spam eval: {len(data)} comments ({spam} spam) from {names}", flush=True)
    print(
        f"spam threshold {settings.spam_threshold}; prequential feedback: {args.feedback}",
        flush=True,
    )

    async def all_modes(url: str) -> list[ModeResult]:
        return [
            await replay(data, mode, settings, url, progress=progress, feedback=args.feedback)
            for mode in modes
        ]

    if args.redis_url:
        results = asyncio.run(all_modes(args.redis_url))
    else:
        with temporary_redis(settings.redis_server) as url:
            results = asyncio.run(all_modes(url))

    sys.stdout.flush()
    print()
    print(table(results))
    for r in results:
        text = segments(r)
        if text:
            print()
            print(text)
        print(sweep(r))
        if args.show_errors:
            print()
            print(errors(r, args.show_errors))
    label = data_label(args.data)
    png = args.out / f"spam-learning-curve-{label}.png"
    plot(
        results,
        png,
        f"spam scorer on {label}: {len(data)} comments, threshold {settings.spam_threshold}",
    )
    print(f"\nlearning curve: {png}")
    for r in results:
        print(summary_line(r), flush=True)
    return 0
