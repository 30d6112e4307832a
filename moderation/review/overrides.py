"""Policy overrides: per article (moderators) and site-wide (admins).

Both are Redis hashes the worker overlays on the settings' defaults for every comment
(``moderation.pipeline.policy.Policy.overlay``): ``threshold:<label>``, ``spam_threshold``,
``spam_reject``, ``max_links``, ``premoderate`` and ``closed``. An edit names only what changes;
``null`` removes an override (the value from the next level up applies again). Each edit and its
audit entry (with the hash before and after) are one MULTI/EXEC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio.client import Pipeline

from moderation.errors import ValidationFailed
from moderation.pipeline.policy import (
    CLOSE_AFTER_DAYS,
    CLOSED,
    MAX_LINKS,
    PREMODERATE,
    SPAM_REJECT,
    SPAM_THRESHOLD,
    THRESHOLD_PREFIX,
    Policy,
)
from moderation.review.context import Review
from moderation.review.queue import held_per_article
from moderation.review.txn import watched
from moderation.settings import DEFAULT_THRESHOLDS, Settings
from moderation.store import audit
from moderation.store.audit import Actor
from moderation.store.codec import as_str

MAX_LINKS_LIMIT = 1_000
MAX_CLOSE_AFTER_DAYS = 36_500


class OverridesIn(msgspec.Struct, forbid_unknown_fields=True):
    """An edit: absent fields stay as they are; ``null`` removes an override."""

    premoderate: bool | msgspec.UnsetType = msgspec.UNSET
    closed: bool | msgspec.UnsetType = msgspec.UNSET
    thresholds: dict[str, float | None] | msgspec.UnsetType = msgspec.UNSET
    spam_threshold: float | msgspec.UnsetType | None = msgspec.UNSET
    spam_reject: float | msgspec.UnsetType | None = msgspec.UNSET
    max_links: int | msgspec.UnsetType | None = msgspec.UNSET
    #: Close articles this many days after publication (0 = never; ``null`` removes the
    #: override: the site-wide one, else ``MODERATION_CLOSE_AFTER_DAYS``, applies).
    close_after_days: int | msgspec.UnsetType | None = msgspec.UNSET
    note: str | None = None


def known_labels(settings: Settings) -> list[str]:
    return sorted(set(DEFAULT_THRESHOLDS) | set(settings.thresholds))


@dataclass(frozen=True, slots=True)
class Change:
    sets: dict[str, str]
    deletes: list[str]


def plan(edit: OverridesIn, settings: Settings) -> Change:
    """Validate an edit and turn it into hash writes."""
    sets: dict[str, str] = {}
    deletes: list[str] = []
    for name, flag in ((PREMODERATE, edit.premoderate), (CLOSED, edit.closed)):
        if flag is msgspec.UNSET:
            continue
        # "0" is never stored: absent means off, so the hash empties when all is default.
        if flag:
            sets[name] = "1"
        else:
            deletes.append(name)
    if edit.thresholds is not msgspec.UNSET:
        labels = set(known_labels(settings))
        for label, value in edit.thresholds.items():
            where = f"thresholds.{label}"
            if label not in labels:
                raise ValidationFailed(
                    f"{where}: unknown label; known: {', '.join(sorted(labels))}", field=where
                )
            _unit_or_none(value, where, sets, deletes, THRESHOLD_PREFIX + label)
    if edit.spam_threshold is not msgspec.UNSET:
        _unit_or_none(edit.spam_threshold, "spam_threshold", sets, deletes, SPAM_THRESHOLD)
    if edit.spam_reject is not msgspec.UNSET:
        _unit_or_none(edit.spam_reject, "spam_reject", sets, deletes, SPAM_REJECT)
    if edit.max_links is not msgspec.UNSET:
        if edit.max_links is None:
            deletes.append(MAX_LINKS)
        elif not 0 <= edit.max_links <= MAX_LINKS_LIMIT:
            raise ValidationFailed(
                f"max_links must be between 0 and {MAX_LINKS_LIMIT} (0 turns the rule off)",
                field="max_links",
            )
        else:
            sets[MAX_LINKS] = str(edit.max_links)
    if edit.close_after_days is not msgspec.UNSET:
        if edit.close_after_days is None:
            deletes.append(CLOSE_AFTER_DAYS)
        elif not 0 <= edit.close_after_days <= MAX_CLOSE_AFTER_DAYS:
            raise ValidationFailed(
                f"close_after_days must be between 0 and {MAX_CLOSE_AFTER_DAYS} (0 = never)",
                field="close_after_days",
            )
        else:
            sets[CLOSE_AFTER_DAYS] = str(edit.close_after_days)
    if not sets and not deletes:
        raise ValidationFailed("the edit changes nothing", field="body")
    return Change(sets, deletes)


def _unit_or_none(
    value: float | None, field: str, sets: dict[str, str], deletes: list[str], name: str
) -> None:
    if value is None:
        deletes.append(name)
    elif not 0.0 <= value <= 1.0 or value != value:
        raise ValidationFailed(f"{field} must be within [0, 1]", field=field)
    else:
        sets[name] = repr(float(value))


def parse(raw: Mapping[Any, Any]) -> dict[str, Any]:
    """A settings hash as a JSON-friendly dict (only the overrides that are set)."""
    data = {as_str(k): as_str(v) for k, v in raw.items()}
    out: dict[str, Any] = {}
    thresholds = {
        k[len(THRESHOLD_PREFIX) :]: _float(v)
        for k, v in data.items()
        if k.startswith(THRESHOLD_PREFIX)
    }
    if thresholds:
        out["thresholds"] = thresholds
    for name in (SPAM_THRESHOLD, SPAM_REJECT):
        if name in data:
            out[name] = _float(data[name])
    for name in (MAX_LINKS, CLOSE_AFTER_DAYS):
        if name in data:
            out[name] = int(data[name]) if data[name].isdigit() else None
    for flag in (PREMODERATE, CLOSED):
        if flag in data:
            out[flag] = data[flag] == "1"
    return out


def effective(policy: Policy) -> dict[str, Any]:
    return {
        "thresholds": dict(sorted(policy.thresholds.items())),
        "spam_threshold": policy.spam_threshold,
        "spam_reject": policy.spam_reject,
        "max_links": policy.max_links,
        "premoderate": policy.premoderate,
        "closed": policy.closed,
        "sources": dict(policy.sources),
    }


async def apply(
    review: Review,
    hash_key: str,
    edit: OverridesIn,
    actor: Actor,
    *,
    action: str,
    target_type: str,
    target: str,
    index_set: str | None = None,
) -> dict[str, Any]:
    """Apply ``edit`` to ``hash_key`` with its audit entry; returns the overrides after.

    ``index_set`` (the set of configured articles) gains ``target`` while the hash holds
    anything and loses it when the hash empties.
    """
    change = plan(edit, review.settings)
    note = (edit.note or "").strip() or None

    async def read(pipe: Pipeline) -> dict[str, str]:
        raw = await pipe.hgetall(hash_key)
        return {as_str(k): as_str(v) for k, v in raw.items()}

    async def write(pipe: Pipeline, before: dict[str, str]) -> dict[str, Any]:
        after = {k: v for k, v in before.items() if k not in change.deletes}
        after.update(change.sets)
        if change.deletes:
            pipe.hdel(hash_key, *change.deletes)
        if change.sets:
            pipe.hset(hash_key, mapping=change.sets)  # type: ignore[arg-type]
        if index_set is not None:
            if after:
                pipe.sadd(index_set, target)
            else:
                pipe.srem(index_set, target)
        entry = audit.new_entry(
            actor,
            action,
            target_type,
            target,
            note=note,
            before=parse(before),
            after=parse(after),
        )
        await review.audit.append(entry, pipe)
        return parse(after)

    return await watched(review.redis, [hash_key], read, write)


async def site_policy(review: Review) -> tuple[dict[str, str], Policy]:
    raw = {
        as_str(k): as_str(v) for k, v in (await review.redis.hgetall(review.keys.policy)).items()
    }
    return raw, Policy.from_settings(review.settings).overlay(raw, "site")


async def article_overview(review: Review, article_id: str) -> dict[str, Any]:
    keys = review.keys
    pipe = review.redis.pipeline(transaction=False)
    pipe.hgetall(keys.policy)
    pipe.hgetall(keys.article_settings(article_id))
    pipe.zcard(keys.approved(article_id))
    pipe.zcard(keys.article_held(article_id))
    pipe.hget(keys.archived_counts, article_id)  # approved ones retention moved out
    site_raw, article_raw, approved, held, archived = await pipe.execute()
    site = Policy.from_settings(review.settings).overlay(site_raw, "site")
    return {
        "article_id": article_id,
        "counts": {"approved": int(approved) + int(archived or 0), "held": int(held)},
        "settings": parse(article_raw),
        "site": parse(site_raw),
        "effective": effective(site.overlay(article_raw, "article")),
        "labels": known_labels(review.settings),
    }


async def articles_overview(review: Review, *, limit: int = 500) -> list[dict[str, Any]]:
    """Articles with held comments or overrides, most held first."""
    keys = review.keys
    held, _ = await held_per_article(review.redis, keys)
    configured = await review.redis.smembers(keys.configured_articles)
    ids = sorted(set(held) | {as_str(a) for a in configured})[: limit * 4]
    if not ids:
        return []
    pipe = review.redis.pipeline(transaction=False)
    for aid in ids:
        pipe.zcard(keys.article_held(aid))
        pipe.zcard(keys.approved(aid))
        pipe.hgetall(keys.article_settings(aid))
    pipe.hmget(keys.archived_counts, ids)  # approved ones retention moved out
    *replies, archived = await pipe.execute()
    rows: list[dict[str, Any]] = [
        {
            "article_id": aid,
            "held": int(replies[3 * i]),
            "approved": int(replies[3 * i + 1]) + int(archived[i] or 0),
            "settings": parse(replies[3 * i + 2]),
        }
        for i, aid in enumerate(ids)
    ]
    rows.sort(key=lambda r: (-r["held"], r["article_id"]))
    return rows[:limit]


def _float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None
