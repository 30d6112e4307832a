"""Editing the spam allow and deny domain lists (admins), audited, versioned for the scorers
(see :mod:`moderation.store.domainlists`)."""

from __future__ import annotations

from typing import Any

import msgspec
from redis.asyncio.client import Pipeline

from moderation.errors import ValidationFailed
from moderation.review.context import Review
from moderation.review.txn import watched
from moderation.review.words import new_version
from moderation.store import audit
from moderation.store.audit import Actor
from moderation.store.codec import as_str
from moderation.store.domainlists import (
    DOMAIN_KINDS,
    MAX_DOMAINS,
    canonical_domain,
    check_domain_kind,
    load_domains,
)

#: Most entries one edit may add or remove.
MAX_EDIT = 500


class DomainsEditIn(msgspec.Struct, forbid_unknown_fields=True):
    add: list[str] = msgspec.field(default_factory=list)
    remove: list[str] = msgspec.field(default_factory=list)
    note: str | None = None


async def edit_domains(
    review: Review, kind: str, edit: DomainsEditIn, actor: Actor
) -> dict[str, Any]:
    """Add and remove domains of the ``kind`` list; a domain added to one list leaves the other
    (a domain cannot be both allowed and denied). One audit entry per edit (``spam.domains``)."""
    check_domain_kind(kind)
    if not edit.add and not edit.remove:
        raise ValidationFailed("give domains to add or remove", field="add")
    for name in ("add", "remove"):
        if len(getattr(edit, name)) > MAX_EDIT:
            raise ValidationFailed(f"at most {MAX_EDIT} domains per edit", field=name)
    add = list(dict.fromkeys(canonical_domain(d, f"add[{i}]") for i, d in enumerate(edit.add)))
    remove = list(
        dict.fromkeys(canonical_domain(d, f"remove[{i}]") for i, d in enumerate(edit.remove))
    )
    key = review.keys.spam_domains(kind)
    other = review.keys.spam_domains(next(k for k in DOMAIN_KINDS if k != kind))

    async def read(pipe: Pipeline) -> tuple[set[str], set[str]]:
        mine = {as_str(d) for d in await pipe.smembers(key)}
        theirs = {as_str(d) for d in await pipe.smembers(other)}
        return mine, theirs

    async def write(pipe: Pipeline, state: tuple[set[str], set[str]]) -> dict[str, Any]:
        before, theirs = state
        added = [d for d in add if d not in before and d not in remove]
        removed = [d for d in remove if d in before]
        moved = [d for d in add if d in theirs]
        size = len(before) + len(added) - len(removed)
        if size > MAX_DOMAINS:
            raise ValidationFailed(f"a domain list holds at most {MAX_DOMAINS}", field="add")
        if added:
            pipe.sadd(key, *added)
        if removed:
            pipe.srem(key, *removed)
        if moved:
            pipe.srem(other, *moved)
        pipe.set(review.keys.spam_domains_version, new_version())
        entry = audit.new_entry(
            actor,
            "spam.domains",
            "spam_domains",
            kind,
            note=(edit.note or "").strip() or None,
            before={"count": len(before)},
            after={"count": size, "added": added, "removed": removed}
            | ({"moved_from_other_list": moved} if moved else {}),
        )
        await review.audit.append(entry, pipe)
        return {"kind": kind, "added": added, "removed": removed, "count": size}

    result = await watched(review.redis, [key, other], read, write)
    result["lists"] = await load_domains(review.redis, review.keys)
    return result
