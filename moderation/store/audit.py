"""The audit trail: every moderator and admin action, who, when, what, why, before and after.

Entries go to one Redis stream (``keys.audit``) and their ids to capped per-target and per-actor
index lists, so "everything about this author" or "everything alice did" is a short read. An
entry is always written **together with** the change it records: a comment decision appends it
from inside ``transition.lua`` (only if the transition applies); other edits append it with
``audit.lua`` inside the same MULTI/EXEC as the edit.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from moderation.errors import BadRequest
from moderation.keys import SITE_AUDIT_TARGETS, Keys
from moderation.messages import Role, iso, json_encoder
from moderation.settings import Settings
from moderation.store.codec import as_str, script
from moderation.store.transitions import AuditAppend

#: Entries kept per index list (per comment, author, article, actor).
INDEX_CAP = 1_000
#: The index kind of the per-target-type lists (``keys.audit_index(TYPE_INDEX, "policy")``).
TYPE_INDEX = "type"
#: Audit entries scanned at most by one unindexed, filtered read.
SCAN_BUDGET = 5_000

_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


@dataclass(frozen=True, slots=True)
class Actor:
    """A person acting through a moderator or admin key (directly, or via a web session)."""

    name: str
    role: Role
    via: str = "key"  # "key" | "session"

    @property
    def label(self) -> str:
        """How decisions and transitions name this person: ``moderator:<name>`` or
        ``admin:<name>`` (``Decision.by``, the transition's actor, the events' ``by``)."""
        return f"{self.role.value}:{self.name}"


class AuditEntry(msgspec.Struct, omit_defaults=True, kw_only=True):
    at: int  # epoch ms
    actor: str  # key name
    role: str
    via: str
    #: ``comment.approve``, ``comment.reject``, ``comment.delete``, ``comment.edit`` (by a site),
    #: ``author.state``, ``article.settings``,
    #: ``policy.update``, ``words.update``, ``session.sign_in``, ``session.sign_out``,
    #: ``key.create``, ``key.revoke`` (by an operator at the command line).
    action: str
    target_type: str  # comment | author | article | policy | words | session | key
    target: str
    reason: str | None = None
    note: str | None = None
    before: dict[str, Any] = msgspec.field(default_factory=dict)
    after: dict[str, Any] = msgspec.field(default_factory=dict)
    #: Extra facts (e.g. the article of a decided comment, the size of a bulk action).
    detail: dict[str, Any] = msgspec.field(default_factory=dict)
    #: The site of an author or an article (their ids are a site's own; "" for any other
    #: target): set on the way in from the keys the entry is written under (``_sited``).
    site: str = ""
    #: The stream id; set when read back.
    id: str = ""


_decoder = msgspec.json.Decoder(AuditEntry)


def new_entry(
    actor: Actor,
    action: str,
    target_type: str,
    target: str,
    *,
    reason: str | None = None,
    note: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    return AuditEntry(
        at=int(time.time() * 1000),
        actor=actor.name,
        role=actor.role.value,
        via=actor.via,
        action=action,
        target_type=target_type,
        target=target,
        reason=reason,
        note=note,
        before=before or {},
        after=after or {},
        detail=detail or {},
    )


def _sited(keys: Keys, entry: AuditEntry) -> AuditEntry:
    """``entry`` with its site when its target is a site's own (the record filters by it)."""
    if entry.target_type in SITE_AUDIT_TARGETS and entry.site != keys.site:
        return msgspec.structs.replace(entry, site=keys.site)
    return entry


def _indexes(keys: Keys, entry: AuditEntry) -> tuple[str, ...]:
    return (
        keys.audit_index(entry.target_type, entry.target),
        keys.audit_index("actor", entry.actor),
        # "Every policy change", "every author action": the newest INDEX_CAP of each type.
        keys.audit_index(TYPE_INDEX, entry.target_type),
    )


def for_transition(keys: Keys, settings: Settings, entry: AuditEntry) -> AuditAppend:
    """The audit part of a ``Store.transition`` call (written only if the transition applies)."""
    return AuditAppend(
        stream=keys.audit,
        doc=json_encoder.encode(_sited(keys, entry)),
        indexes=_indexes(keys, entry),
        maxlen=0,  # trimmed by the archiver, never past what it archived
        index_cap=INDEX_CAP,
    )


class AuditLog:
    """Appending (inside a caller's MULTI) and reading the audit trail."""

    def __init__(self, redis: Redis, keys: Keys, settings: Settings) -> None:
        self.redis = redis
        self.keys = keys
        self.settings = settings
        self._append = script(redis, "audit.lua")

    async def append(self, entry: AuditEntry, pipe: Pipeline | None = None) -> Any:
        """Append ``entry``; with ``pipe``, queue it there (e.g. in the edit's MULTI)."""
        return await self._append(
            keys=[self.keys.audit, *_indexes(self.keys, entry)],
            # maxlen 0: the archiver trims the stream, never past what it archived.
            args=[json_encoder.encode(_sited(self.keys, entry)), 0, INDEX_CAP],
            client=pipe,
        )

    async def read(
        self,
        *,
        limit: int,
        cursor: str | None = None,
        target_type: str | None = None,
        target: str | None = None,
        actor: str | None = None,
    ) -> tuple[list[AuditEntry], str | None]:
        """Newest first. ``cursor`` is the id of the last entry of the previous page.

        A target (``target_type`` + ``target``), a target type alone or an ``actor`` reads that
        index list (the narrowest one given), and the other filters given are applied to what
        it lists; with no filter the stream itself is read backwards. A target type alone lists
        the newest :data:`INDEX_CAP` entries of that type written since the type index exists.
        """
        before = check_cursor(cursor)
        if target_type and target:
            ids = await self._index(self.keys.audit_index(target_type, target), before)
        elif target_type:
            ids = await self._index(self.keys.audit_index(TYPE_INDEX, target_type), before)
        elif actor:
            ids = await self._index(self.keys.audit_index("actor", actor), before)
        else:
            start = f"({before}" if before else "+"
            rows: Any = await self.redis.xrevrange(self.keys.audit, start, "-", count=limit + 1)
            decoded = [_decode(r) for r in rows]
            newest = [e for e in decoded if e is not None][:limit]
            more = len(rows) > limit
            return newest, (newest[-1].id if more and newest else None)
        # Index lists hold the newest entries first; read their stream entries in one pipeline.
        entries: list[AuditEntry] = []
        scanned = 0
        for chunk_start in range(0, len(ids), max(limit * 2, 50)):
            chunk = ids[chunk_start : chunk_start + max(limit * 2, 50)]
            pipe = self.redis.pipeline(transaction=False)
            for sid in chunk:
                pipe.xrange(self.keys.audit, sid, sid)
            for rows in await pipe.execute():
                scanned += 1
                entry = _decode(rows[0]) if rows else None  # trimmed away: skip
                if entry is None:
                    continue
                if actor and entry.actor != actor:
                    continue
                if target_type and entry.target_type != target_type:
                    continue
                entries.append(entry)
                if len(entries) > limit:
                    break
            if len(entries) > limit or scanned >= SCAN_BUDGET:
                break
        page = entries[:limit]
        more = len(entries) > limit
        return page, (page[-1].id if more and page else None)

    async def _index(self, key: str, before: str | None) -> list[str]:
        ids = [as_str(i) for i in await self.redis.lrange(key, 0, INDEX_CAP - 1)]
        if before is None:
            return ids
        cut = _id_tuple(before)
        return [i for i in ids if _id_tuple(i) < cut]


def entry_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": iso(entry.at),
        "actor": entry.actor,
        "role": entry.role,
        "via": entry.via,
        "action": entry.action,
        "target_type": entry.target_type,
        "target": entry.target,
        "reason": entry.reason,
        "note": entry.note,
        "before": entry.before,
        "after": entry.after,
        "detail": entry.detail,
    }


def _decode(row: Any) -> AuditEntry | None:
    sid, fields = row
    fields = {as_str(k): v for k, v in fields.items()}
    doc = fields.get("doc")
    if doc is None:
        return None
    try:
        entry = _decoder.decode(doc)
    except msgspec.DecodeError:
        return None
    entry.id = as_str(sid)
    # Transitions record the statuses they observed next to the entry (transition.lua).
    if "from" in fields:
        entry.before = {**entry.before, "status": as_str(fields["from"])}
        entry.after = {**entry.after, "status": as_str(fields["to"])}
    return entry


class _Observed(msgspec.Struct):
    """The statuses a transition observed, as the record keeps them inside the document."""

    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None


_observed_decoder = msgspec.json.Decoder(_Observed)


def entry_from_doc(entry_id: str, doc: bytes) -> AuditEntry | None:
    """An entry as the record (SQL) keeps it: the stream entry's document with the observed
    ``from``/``to`` statuses folded in. ``None`` for a document that does not decode."""
    try:
        entry = _decoder.decode(doc)
        observed = _observed_decoder.decode(doc)
    except msgspec.DecodeError:
        return None
    entry.id = entry_id
    if observed.from_ is not None:
        entry.before = {**entry.before, "status": observed.from_}
        entry.after = {**entry.after, "status": observed.to}
    return entry


def check_cursor(cursor: str | None) -> str | None:
    """An audit cursor (a stream id) as given, or ``BadRequest``."""
    if not cursor:
        return None
    if not _STREAM_ID.match(cursor):
        raise BadRequest("cursor is not one this service issued", field="cursor")
    return cursor


def _id_tuple(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)
