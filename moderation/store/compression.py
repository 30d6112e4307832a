"""Compressed stored documents: zstd with a small built-in dictionary, versioned.

A comment's submission document (``store.records``) is mostly its text, and a text of a few
hundred bytes compresses poorly on its own: a compressor has no history to refer back to. A
*dictionary* gives it one: ``dictionaries/doc-<version>.txt`` holds what comments and their
context commonly contain (frequent English words and phrases, browsers' user agents, mail
domains, URL parts), so a 300-byte comment comes out at about 60% of its size and a user agent
at a few bytes. The dictionary was written by hand for this purpose (no sample of anyone's
comments is in it).

A compressed document is ``MARKER``, the dictionary's version (one byte), then a zstd frame.
A version's dictionary never changes once released: a new one gets the next number, and every
earlier one stays readable. :func:`pack` leaves a document as it is when compressing would
not make it smaller (its first byte is then never ``MARKER``: msgpack never emits 0xC1 and a
JSON document starts with ``{``).
"""

from __future__ import annotations

import threading
from importlib import resources

import zstandard

#: msgpack's one byte that is never used: no document in another encoding starts with it.
MARKER = 0xC1
#: The dictionary new documents are compressed with.
VERSION = 1
#: Level 5, measured on 3,000 news-length submissions (``bench/storage.py``'s texts): 361 bytes
#: a document against 378 at level 1 (the fastest), for about 10 µs more per request on the
#: API's loop (17 against 9 µs: a few per cent of a request's CPU). Levels 2-4 gain almost
#: nothing over 1 with a dictionary this small; 6-9 little over 5 at twice its time.
_LEVEL = 5


def _dictionary(version: int) -> zstandard.ZstdCompressionDict:
    raw = resources.files(__package__).joinpath(f"dictionaries/doc-{version}.txt").read_bytes()
    return zstandard.ZstdCompressionDict(raw, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


_DICTIONARIES = {VERSION: _dictionary(VERSION)}


class _Codecs(threading.local):
    """zstd's (de)compressors may not be shared between threads: one set per thread."""

    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(
            level=_LEVEL,
            dict_data=_DICTIONARIES[VERSION],
            write_checksum=False,
            write_content_size=True,
            write_dict_id=False,
        )
        self.decompressors: dict[int, zstandard.ZstdDecompressor] = {}

    def decompressor(self, version: int) -> zstandard.ZstdDecompressor:
        got = self.decompressors.get(version)
        if got is None:
            known = _DICTIONARIES.get(version)
            if known is None:
                raise ValueError(f"unknown document dictionary version {version}")
            got = self.decompressors[version] = zstandard.ZstdDecompressor(dict_data=known)
        return got


_codecs = _Codecs()


def pack(raw: bytes) -> bytes:
    """``raw`` compressed, or ``raw`` itself when that is no larger (short documents)."""
    packed = _codecs.compressor.compress(raw)
    if len(packed) + 2 >= len(raw):
        return raw
    return bytes((MARKER, VERSION)) + packed


def is_packed(data: bytes) -> bool:
    return data[:1] == b"\xc1"


def unpack(data: bytes) -> bytes:
    """The document :func:`pack` compressed into ``data``; raises ``ValueError`` when it is
    corrupt or names a dictionary this release does not have."""
    if len(data) < 3:
        raise ValueError("compressed document is truncated")
    try:
        return _codecs.decompressor(data[1]).decompress(data[2:])
    except zstandard.ZstdError as exc:
        raise ValueError(f"compressed document is corrupt: {exc}") from exc


def plain(data: bytes) -> bytes:
    """``data`` uncompressed when :func:`pack` compressed it, else as it is (a tool inspecting
    stored values, a test looking for what a document must no longer hold)."""
    return unpack(data) if is_packed(data) else data
