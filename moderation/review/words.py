"""Editing the banned and suspect word lists (admins), audited, versioned for the workers."""

from __future__ import annotations

import secrets
import time
from typing import Any

import msgspec
from redis.asyncio.client import Pipeline

from moderation.errors import ValidationFailed
from moderation.review.context import Review
from moderation.review.txn import watched
from moderation.store import audit
from moderation.store.audit import Actor
from moderation.store.codec import as_str
from moderation.store.wordlists import MAX_ENTRIES, canonical, check_kind, load_lists

#: Most entries one edit may add or remove.
MAX_EDIT = 1_000


class WordsEditIn(msgspec.Struct, forbid_unknown_fields=True):
    add: list[str] = msgspec.field(default_factory=list)
    remove: list[str] = msgspec.field(default_factory=list)
    note: str | None = None


def new_version() -> str:
    """A fresh version token (random, so it never repeats after a data loss)."""
    return f"{time.time_ns():x}-{secrets.token_hex(4)}"


async def edit_words(review: Review, kind: str, edit: WordsEditIn, actor: Actor) -> dict[str, Any]:
    check_kind(kind)
    if not edit.add and not edit.remove:
        raise ValidationFailed("give words to add or remove", field="add")
    for name in ("add", "remove"):
        if len(getattr(edit, name)) > MAX_EDIT:
            raise ValidationFailed(f"at most {MAX_EDIT} entries per edit", field=name)
    add = list(dict.fromkeys(canonical(w, f"add[{i}]") for i, w in enumerate(edit.add)))
    remove = list(dict.fromkeys(canonical(w, f"remove[{i}]") for i, w in enumerate(edit.remove)))
    key = review.keys.words(kind)

    async def read(pipe: Pipeline) -> set[str]:
        return {as_str(w) for w in await pipe.smembers(key)}

    async def write(pipe: Pipeline, before: set[str]) -> dict[str, Any]:
        added = [w for w in add if w not in before and w not in remove]
        removed = [w for w in remove if w in before]
        size = len(before) + len(added) - len(removed)
        if size > MAX_ENTRIES:
            raise ValidationFailed(f"a word list holds at most {MAX_ENTRIES} entries", field="add")
        if added:
            pipe.sadd(key, *added)
        if removed:
            pipe.srem(key, *removed)
        pipe.set(review.keys.words_version, new_version())
        entry = audit.new_entry(
            actor,
            "words.update",
            "words",
            kind,
            note=(edit.note or "").strip() or None,
            before={"count": len(before)},
            after={"count": size, "added": added, "removed": removed},
        )
        await review.audit.append(entry, pipe)
        return {"kind": kind, "added": added, "removed": removed, "count": size}

    result = await watched(review.redis, [key], read, write)
    result["lists"] = await load_lists(review.redis, review.keys)
    return result
