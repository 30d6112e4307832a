"""The compact encoding of a submission, as the comment hash's ``doc`` field holds it.

msgpack arrays in a fixed order (format 3, the field order below) instead of JSON objects:
the field names of a submission, its author and its context cost about 110 bytes a comment
in JSON. The comment's id is not stored (the hash's key names it): :func:`decode_record` is
given it back and returns the :class:`~moderation.messages.CommentRecord` encoded, equal field
for field; a JSON document (``{…}``, e.g. written by hand) is still read. The record (SQL)
keeps JSON: the archiver converts (``as_json``).

Times are not stored twice: the creation time is left out (``nil``) when the id carries it
(``ids.time_of``: the API makes every comment's id from its creation time), and the page's load
time is kept as how long before the creation it was (a msgpack integer of 3 or 5 bytes where
a time takes 9).

The msgpack document is then compressed (``store.compression``: zstd with a built-in
dictionary of what comments commonly contain) when that makes it smaller: a news comment's
document shrinks by about a third.
"""

from __future__ import annotations

import msgspec

from moderation.ids import time_of
from moderation.messages import Author, CommentRecord, Context, json_encoder
from moderation.store import compression


class _Author(msgspec.Struct, array_like=True, omit_defaults=True):
    id: str
    name: str
    email: str | None = None


class _Context(msgspec.Struct, array_like=True, omit_defaults=True):
    ip: str | None = None
    user_agent: str | None = None
    referrer: str | None = None
    #: ``created_at - page_loaded_at`` (ms; negative for a client clock ahead of ours).
    page_loaded_before: int | None = None
    honeypot: str | None = None


class _Record(msgspec.Struct, array_like=True, omit_defaults=True):
    article_id: str
    text: str
    author: _Author
    #: ``None``: the time the comment's id carries (``ids.time_of``).
    created_at: int | None
    site: str
    parent_id: str | None = None
    context: _Context | None = None
    root_id: str | None = None
    revision: int = 0
    edited_at: int | None = None


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Record)
_json_decoder = msgspec.json.Decoder(CommentRecord)


def encode_record(r: CommentRecord) -> bytes:
    a, c, created = r.author, r.context, r.created_at
    raw = _encoder.encode(
        _Record(
            r.article_id,
            r.text,
            _Author(a.id, a.name, a.email),
            None if time_of(r.id) == created else created,
            r.site,
            r.parent_id,
            None
            if c is None
            else _Context(
                c.ip,
                c.user_agent,
                c.referrer,
                None if c.page_loaded_at is None else created - c.page_loaded_at,
                c.honeypot,
            ),
            r.root_id,
            r.revision,
            r.edited_at,
        )
    )
    return compression.pack(raw)


def decode_record(raw: bytes | str, comment_id: str) -> CommentRecord:
    """The submission ``raw`` encodes, of the comment ``comment_id`` (the id of its hash's key);
    raises ``msgspec.DecodeError`` (or ``TypeError``) when it is corrupt."""
    data = raw.encode() if isinstance(raw, str) else raw
    if compression.is_packed(data):
        try:
            data = compression.unpack(data)
        except ValueError as exc:
            raise msgspec.DecodeError(str(exc)) from exc
    if data[:1] == b"{":
        return _json_decoder.decode(data)
    p = _decoder.decode(data)
    c = p.context
    created = p.created_at if p.created_at is not None else time_of(comment_id)
    if created is None:
        raise msgspec.DecodeError(f"the submission has no creation time and {comment_id!r} none")
    return CommentRecord(
        id=comment_id,
        article_id=p.article_id,
        text=p.text,
        author=Author(p.author.id, p.author.name, p.author.email),
        created_at=created,
        site=p.site,
        parent_id=p.parent_id,
        context=None
        if c is None
        else Context(
            c.ip,
            c.user_agent,
            c.referrer,
            None if c.page_loaded_before is None else created - c.page_loaded_before,
            c.honeypot,
        ),
        root_id=p.root_id,
        revision=p.revision,
        edited_at=p.edited_at,
    )


def as_json(raw: bytes | None, comment_id: str) -> bytes | None:
    """The stored submission of ``comment_id`` as JSON (the record's form); a corrupt one
    passes unchanged (its reader then refuses it as before), ``None`` stays ``None``."""
    if raw is None:
        return None
    try:
        return json_encoder.encode(decode_record(raw, comment_id))
    except (msgspec.DecodeError, TypeError):
        return bytes(raw)
