"""Site-side changes of a comment: deleting it and editing its text (#11).

Both are transitions (``transition.lua``) that also replace the stored submission document in
the same atomic step, with their audit entry:

* **delete** — from any status to the terminal ``deleted``: the comment leaves the approved
  set (its count), the thread lists, the held queues and the pending set at once; the document
  keeps only ids, times and the thread links (text, author name and e-mail, request context
  erased); the decision trail (the events, the stored decisions, the audit) stays. Deleting a
  deleted comment changes nothing and answers the same.
* **edit** — from ``pending``, ``approved`` or ``held`` back to ``pending`` with a new revision
  (``revision`` + 1) of the text, queued for its own automatic decision. The comment is hidden
  from the moment of the edit until that decision (see the README, "Deleting and editing").
  A rejected comment cannot be edited (its rejection would otherwise be re-scored away); a
  deleted one cannot either. An edit to the text it already has changes nothing.

Neither touches spam state: what a moderator taught the spam model stays taught.
"""

from __future__ import annotations

import dataclasses

import msgspec

from moderation.errors import DecisionConflict, NotFound
from moderation.ids import is_comment_id
from moderation.messages import Author, CommentRecord, Decision, Status, StoredComment
from moderation.settings import Settings
from moderation.store import audit
from moderation.store.audit import Actor
from moderation.store.comments import Store, now_ms
from moderation.store.transitions import CommentRef

#: Statuses an edit may start from (a rejected or deleted comment stays as it is).
EDITABLE = (Status.PENDING, Status.APPROVED, Status.HELD)
#: Every status but the terminal one: a deletion applies from any of them.
DELETABLE = tuple(s for s in Status if s is not Status.DELETED)
#: Edits retried when another change wins the race between our read and our write.
_ATTEMPTS = 3


def erased(record: CommentRecord) -> CommentRecord:
    """The document a deleted comment keeps: ids, times and thread links, no personal data."""
    return CommentRecord(
        id=record.id,
        article_id=record.article_id,
        text="",
        author=Author(id=record.author.id, name=""),
        created_at=record.created_at,
        site=record.site,
        parent_id=record.parent_id,
        root_id=record.root_id,
        revision=record.revision,
        edited_at=record.edited_at,
    )


async def _read(store: Store, comment_id: str, site: str | None) -> StoredComment:
    """The comment, if it exists and belongs to ``site`` (``None``: any site); else 404 (a
    site never learns whether another site's comment id exists)."""
    stored = None
    if is_comment_id(comment_id):
        stored = await store.get(comment_id)
    if stored is None or (site is not None and stored.record.site != site):
        raise NotFound(f"no comment with id {comment_id!r}", field="comment_id")
    return stored


async def delete(
    store: Store, settings: Settings, actor: Actor, comment_id: str, site: str | None = None
) -> StoredComment:
    """Delete a comment (idempotent) of ``site`` (``None``: any); returns it as stored
    afterwards."""
    stored = await _read(store, comment_id, site)
    if stored.status is not Status.DELETED:
        record = stored.record
        entry = audit.new_entry(
            actor,
            "comment.delete",
            "comment",
            record.id,
            detail={"article_id": record.article_id, "author_id": record.author.id},
        )
        now = now_ms()
        decision = Decision(status=Status.DELETED, by=actor.label, decided_at=now)
        ref = dataclasses.replace(CommentRef.of(record), revision=None)
        await store.transition(
            ref,
            DELETABLE,
            decision,
            actor=actor.label,
            reason_code="site:deleted",
            audit=audit.for_transition(store.keys, settings, entry),
            replace=erased(record),
        )
        stored = await _read(store, comment_id, site)
    return stored


async def edit(
    store: Store,
    settings: Settings,
    actor: Actor,
    comment_id: str,
    text: str,
    site: str | None = None,
) -> tuple[StoredComment, bool]:
    """Store ``text`` as the new revision of a comment of ``site`` (``None``: any), pending its
    own automatic decision.

    Returns the comment afterwards and whether a revision was made (``False``: same text).
    Raises :class:`NotFound`, or :class:`DecisionConflict` for a rejected or deleted comment.
    """
    for _ in range(_ATTEMPTS):
        stored = await _read(store, comment_id, site)
        record = stored.record
        if stored.status not in EDITABLE:
            raise DecisionConflict(
                f"comment {comment_id} is {stored.status.value}: it cannot be edited",
                extra={"current": {"id": comment_id, "status": stored.status.value}},
            )
        if record.text == text:
            return stored, False
        now = now_ms()
        revision = msgspec.structs.replace(
            record, text=text, revision=record.revision + 1, edited_at=now
        )
        entry = audit.new_entry(
            actor,
            "comment.edit",
            "comment",
            record.id,
            before={"revision": record.revision, "status": stored.status.value},
            after={"revision": revision.revision, "status": Status.PENDING.value},
            detail={"article_id": record.article_id, "author_id": record.author.id},
        )
        decision = Decision(
            status=Status.PENDING,
            by=actor.label,
            decided_at=now,
            note=f"edited: revision {revision.revision} awaits its automatic decision",
        )
        result = await store.transition(
            CommentRef.of(record),
            [stored.status],
            decision,
            actor=actor.label,
            reason_code="site:edited",
            audit=audit.for_transition(store.keys, settings, entry),
            replace=revision,
        )
        if result.applied:
            # What this edit stored, not a read back: the same call queued the revision, and a
            # worker can decide it before a read would answer (the answer would then say
            # "approved" to the request that made the comment pending).
            return StoredComment(revision, Status.PENDING, now, decision), True
    raise DecisionConflict(
        f"comment {comment_id} kept changing while it was being edited; try again",
        extra={"current": {"id": comment_id}},
    )
