"""What the record (SQL) adds to review: search, an author's whole history, the audit trail
beyond Redis's window.

Redis answers first wherever it can (it is current to the millisecond); the record answers what
Redis no longer holds. Each function here takes the API's :class:`~moderation.record.Reader`, so
a database that cannot be reached is a 503 with ``Retry-After``, never a silently short page.
"""

from __future__ import annotations

from dataclasses import dataclass

from moderation.ids import is_comment_id
from moderation.keys import SITE_AUDIT_TARGETS
from moderation.messages import StoredComment
from moderation.record import Reader, SearchQuery
from moderation.record.reads import AuditQuery
from moderation.review.context import Review
from moderation.review.items import ReviewItem, items_of_stored, load_items
from moderation.store.audit import AuditEntry, entry_from_doc

#: Who decides automatically (a decision by anyone else overrides the automatic one).
_MACHINES = frozenset({"auto", "system"})


async def review_items(
    review: Review, reader: Reader, stored: list[StoredComment]
) -> list[ReviewItem]:
    """Items for comments read from the record, each with its automatic decision."""
    human = [
        s.record.id for s in stored if s.decision is not None and s.decision.by not in _MACHINES
    ]
    autos = await reader.machine_decisions(human)
    return await items_of_stored(review.redis, review.keys, stored, autos)


@dataclass(frozen=True, slots=True)
class SearchPage:
    items: list[ReviewItem]
    next_cursor: str | None


async def search(review: Review, reader: Reader, q: SearchQuery) -> SearchPage:
    """One page of the record's comments matching ``q``, newest first."""
    found, next_id = await reader.search(q)
    return SearchPage(await review_items(review, reader, found), next_id)


async def older_audit(
    reader: Reader,
    *,
    before: str | None,
    limit: int,
    target_type: str | None,
    target: str | None,
    actor: str | None,
    site: str | None = None,
) -> tuple[list[AuditEntry], bool]:
    """Up to ``limit`` archived audit entries strictly older than ``before`` (a stream id),
    newest first, and whether there are more; with ``site``, only those about that site's
    authors and articles (give it for an author's or an article's trail: their ids are the
    site's own)."""
    rows = await reader.audit_page(
        AuditQuery(
            limit=limit + 1,
            before=before,
            target_type=target_type,
            target=target,
            actor=actor,
            site=site,
        )
    )
    entries = [e for e in (entry_from_doc(eid, doc) for eid, doc in rows) if e is not None]
    return entries[:limit], len(rows) > limit


def site_trail(target_type: str | None, target: str | None) -> bool:
    """Whether the audit trail asked for is one site's: an author's or an article's (their ids
    are the site's own), read with a ``Review`` bound to that site."""
    return target is not None and target_type in SITE_AUDIT_TARGETS


async def audit_trail(
    review: Review,
    reader: Reader,
    *,
    limit: int,
    cursor: str | None,
    target_type: str | None,
    target: str | None,
    actor: str | None,
) -> tuple[list[AuditEntry], str | None]:
    """One page of the audit trail, newest first, and the cursor of the next: Redis's entries,
    then, once Redis has no older one, the record's (``review`` is bound to the site of an
    author or article target, whose ids are the site's own)."""
    entries, next_cursor = await review.audit.read(
        limit=limit, cursor=cursor, target_type=target_type, target=target, actor=actor
    )
    if next_cursor is None:
        older, more = await older_audit(
            reader,
            before=entries[-1].id if entries else cursor,
            limit=limit - len(entries),
            target_type=target_type,
            target=target,
            actor=actor,
            site=review.keys.site if site_trail(target_type, target) else None,
        )
        entries += older
        next_cursor = entries[-1].id if more and entries else None
    return entries, next_cursor


async def load_item(review: Review, reader: Reader, comment_id: str) -> ReviewItem | None:
    """One comment for review: from Redis, else (retention moved it, or a restore) from the
    record, shown the same way; ``None`` when neither has it (or the id is no comment id)."""
    if not is_comment_id(comment_id):
        return None
    item = (await load_items(review.redis, review.keys, [comment_id]))[0]
    if item is None:
        found = list((await reader.get_many([comment_id])).values())
        item = next(iter(await review_items(review, reader, found)), None)
    return item


async def comment_trail(
    review: Review, reader: Reader, comment_id: str, *, limit: int
) -> list[AuditEntry]:
    """Up to ``limit`` audit entries of one comment, newest first: Redis's, then the older
    ones only the record still holds."""
    entries, more = await review.audit.read(limit=limit, target_type="comment", target=comment_id)
    if more is None and len(entries) < limit:
        older, _ = await older_audit(
            reader,
            before=entries[-1].id if entries else None,
            limit=limit - len(entries),
            target_type="comment",
            target=comment_id,
            actor=None,
        )
        entries += older
    return entries
