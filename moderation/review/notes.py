"""Moderators' notes on an author ("warned twice about personal attacks", "is the councillor
herself"): what one moderator tells the next, shown on the author's page.

A note is appended to ``keys.author_notes(id)`` (newest first, at most :data:`MAX_NOTES` kept)
and its audit entry (``author.note``) is written in the same MULTI, so a note and its record
cannot disagree. Notes are plain text, escaped when shown.
"""

from __future__ import annotations

import time

import msgspec

from moderation.errors import ValidationFailed
from moderation.messages import json_encoder
from moderation.review.context import Review
from moderation.store import audit
from moderation.store.audit import Actor

#: Notes kept per author (older ones fall off; the audit keeps every one).
MAX_NOTES = 200
MAX_NOTE_CHARS = 2_000


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    text: str


class AuthorNote(msgspec.Struct, kw_only=True):
    at: int  # epoch ms
    #: The actor's label, ``moderator:<name>`` or ``admin:<name>``.
    by: str
    text: str


_decode = msgspec.json.Decoder(AuthorNote)


def check_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise ValidationFailed("text must not be empty", field="text")
    if len(text) > MAX_NOTE_CHARS:
        raise ValidationFailed(f"text is longer than {MAX_NOTE_CHARS} characters", field="text")
    return text


async def add_note(review: Review, author_id: str, text: str, actor: Actor) -> AuthorNote:
    """Append a note on ``author_id`` (already checked) and its audit entry, atomically."""
    note = AuthorNote(at=int(time.time() * 1000), by=actor.label, text=check_text(text))
    key = review.keys.author_notes(author_id)
    entry = audit.new_entry(actor, "author.note", "author", author_id, note=note.text)
    async with review.redis.pipeline(transaction=True) as pipe:
        pipe.lpush(key, json_encoder.encode(note))
        pipe.ltrim(key, 0, MAX_NOTES - 1)
        await review.audit.append(entry, pipe)
        await pipe.execute()
    return note


async def read_notes(review: Review, author_id: str, limit: int = 50) -> list[AuthorNote]:
    """The newest ``limit`` notes on ``author_id``."""
    raw = await review.redis.lrange(review.keys.author_notes(author_id), 0, limit - 1)
    return [_decode.decode(r) for r in raw]
