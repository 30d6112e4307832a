"""The compact encoding of a submission, as the comment hash's ``doc`` field holds it.

msgpack arrays in a fixed order (format 2, the field order below) instead of JSON objects:
the field names of a submission, its author and its context cost about 110 bytes a comment
in JSON. The comment's id is not stored (the hash's key names it): :func:`decode_record` is
given it back and returns the :class:`~moderation.messages.CommentRecord` encoded, equal field
for field; a JSON document (``{…}``, e.g. written by hand) is still read. The record (SQL)
keeps JSON: the archiver converts (``as_json``).

The msgpack document is then compressed (``store.compression``: zstd with a built-in
dictionary of what comments commonly contain) when that makes it smaller: a news comment's
document shrinks by about a third.
"""

from __future__ import annotations

import msgspec

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
    page_loaded_at: int | None = None
    honeypot: str | None = None


class _Record(msgspec.Struct, array_like=True, omit_defaults=True):
    article_id: str
    text: str
    author: _Author
    created_at: int
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
    a, c = r.author, r.context
    raw = _encoder.encode(
        _Record(
            r.article_id,
            r.text,
            _Author(a.id, a.name, a.email),
            r.created_at,
            r.site,
            r.parent_id,
            None
            if c is None
            else _Context(c.ip, c.user_agent, c.referrer, c.page_loaded_at, c.honeypot),
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
    return CommentRecord(
        id=comment_id,
        article_id=p.article_id,
        text=p.text,
        author=Author(p.author.id, p.author.name, p.author.email),
        created_at=p.created_at,
        site=p.site,
        parent_id=p.parent_id,
        context=None
        if c is None
        else Context(c.ip, c.user_agent, c.referrer, c.page_loaded_at, c.honeypot),
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
