"""The stored submission document: msgpack, compressed with the built-in dictionary when that
makes it smaller, and read back field for field (older forms included)."""

from __future__ import annotations

import msgspec
import pytest

from moderation.evaluation.corpus import news_comments
from moderation.ids import new_id
from moderation.messages import Author, CommentRecord, Context, json_encoder
from moderation.store import compression
from moderation.store.records import decode_record, encode_record

UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/132.0.0.0 Safari/537.36"
)


def record(text: str, **kw: object) -> CommentRecord:
    return CommentRecord(
        id="01JTESTCOMMENT0000000000AB",
        article_id="story-1",
        text=text,
        author=Author(id="reader-7", name="Reader Seven", email="reader7@gmail.com"),
        created_at=1_780_000_000_000,
        site="default",
        context=Context(ip="198.51.100.7", user_agent=UA, page_loaded_at=1_779_999_990_000),
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("text", news_comments(40, seed=3))
def test_a_news_comment_is_stored_compressed_and_read_back_equal(text: str) -> None:
    r = record(text, parent_id="01JTESTPARENT00000000000AB", revision=2)
    stored = encode_record(r)
    plain = msgspec.msgpack.encode(msgspec.structs.asdict(r))
    assert compression.is_packed(stored)
    assert len(stored) < 0.8 * len(plain)  # the text and the user agent both shrink
    assert decode_record(stored, r.id) == r


def test_a_document_compression_would_not_shrink_is_stored_as_msgpack() -> None:
    r = CommentRecord(
        id="c1", article_id="a", text="ok", author=Author(id="u", name="n"),
        created_at=1, site="s",
    )  # fmt: skip
    stored = encode_record(r)
    assert not compression.is_packed(stored)
    assert stored[:1] != b"\xc1"
    assert decode_record(stored, "c1") == r


def test_a_json_document_is_still_read() -> None:
    r = record("Written by hand, as JSON.")
    assert decode_record(json_encoder.encode(r), r.id) == r


def test_a_corrupt_or_unknown_compressed_document_is_refused_not_misread() -> None:
    stored = encode_record(record(news_comments(1, seed=5)[0]))
    with pytest.raises(msgspec.DecodeError, match="corrupt"):
        decode_record(stored[:2] + bytes(b ^ 0x5A for b in stored[2:]), "x")
    with pytest.raises(msgspec.DecodeError, match="dictionary version 99"):
        decode_record(bytes((compression.MARKER, 99)) + stored[2:], "x")
    with pytest.raises(msgspec.DecodeError, match="truncated"):
        decode_record(stored[:2], "x")


def test_times_the_id_and_the_creation_give_are_not_stored_twice() -> None:
    """A comment whose id carries its creation time (every comment the API accepts) stores
    no creation time of its own, and its page-load time as a difference from it; a creation
    time that differs from the id's, a page loaded after the comment (a clock off) and an id
    that carries no time all come back exactly."""
    created = 1_780_000_000_000
    made = new_id(created)
    base = record("A comment whose id is made from its creation time.")
    own = msgspec.structs.replace(base, id=made)
    other = msgspec.structs.replace(base, id=new_id(created + 1))
    assert len(encode_record(own)) < len(encode_record(other))  # the 9 bytes of a time
    ctx = Context(ip="198.51.100.7", page_loaded_at=created + 5)
    for r in (own, other, base, msgspec.structs.replace(own, context=ctx)):
        assert decode_record(encode_record(r), r.id) == r
    with pytest.raises(msgspec.DecodeError):
        decode_record(encode_record(own), "c1")  # an id without a time cannot stand in
