"""Comment ids: 26-character, time-ordered, URL-safe (the ULID layout); and what any
supplied id (article, author, parent, …) may contain.

48 bits of milliseconds since the epoch, then 80 random bits, in Crockford's base32. Ids sort
lexicographically in creation order, which lets an article's approved set be paginated by id
alone (``ZRANGE … BYLEX``) and makes cursors trivially stable.
"""

from __future__ import annotations

import os
import re
import time

from moderation.errors import ValidationFailed
from moderation.normalize import first_invisible

#: Control characters (categories Cc, Zl, Zp and lone surrogates, Cs): one regex, checked in C.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_ASCII_CONTROL = re.compile("[\x00-\x1f\x7f]")

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_SHIFTS = tuple(range(125, -1, -5))
#: Crockford's digits as Python's base-32 digits (``int(…, 32)`` then parses in C).
_TO_BASE32 = str.maketrans(_ALPHABET, "0123456789abcdefghijklmnopqrstuv")
#: A comment id's 26 digits.
_DIGITS = re.compile("[0-9A-HJKMNP-TV-Z]{26}")


def _digits(value: int) -> str:
    """A 130-bit number as a comment id's 26 digits."""
    return "".join(_ALPHABET[(value >> shift) & 31] for shift in _SHIFTS)


def _number(comment_id: str) -> int:
    """The number a comment id's digits spell (checked by the caller)."""
    return int(comment_id.translate(_TO_BASE32), 32)


def new_id(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    # 130 bits = 26 base32 digits; the two top bits are always zero.
    return _digits((ms << 80) | int.from_bytes(os.urandom(10), "big"))


def id_time_ms(comment_id: str) -> int:
    """The creation time encoded in an id; raises ``ValueError`` for a malformed id."""
    if _DIGITS.fullmatch(comment_id) is None:
        raise ValueError("not a comment id")
    return _number(comment_id) >> 80


def is_comment_id(value: str) -> bool:
    try:
        id_time_ms(value)
    except ValueError:
        return False
    return True


#: First byte of a packed id that is not a comment id (a packed comment id's first byte is its
#: creation time's top 8 of 48 bits: under 0x80 until the year 6429).
_TEXT = b"\xff"
#: A comment id that packs: a first digit of 0-3 leaves the top bit of the 16 bytes clear (any
#: id made before the year 6429). Checked by one regex, in C: the worker packs every comment's.
_PACKABLE = re.compile("[0-3][0-9A-HJKMNP-TV-Z]{25}")


def pack_id(value: str) -> bytes:
    """An id as few bytes as a stored value holds it: a comment id's 130 bits (two of them
    always zero) as 16 bytes instead of 26 characters, any other id (tests, replays) as
    ``0xFF`` and its UTF-8. :func:`unpack_id` gives it back."""
    if _PACKABLE.fullmatch(value):
        return _number(value).to_bytes(16, "big")
    return _TEXT + value.encode()


def time_of(comment_id: str) -> int | None:
    """The creation time (epoch ms) a comment id carries, as :func:`id_time_ms` reads it;
    ``None`` for an id that does not pack."""
    if _PACKABLE.fullmatch(comment_id) is None:
        return None
    return _number(comment_id) >> 80


def unpack_id(packed: bytes) -> str:
    """The id :func:`pack_id` packed (a malformed value gives its bytes as text, replaced
    where not UTF-8)."""
    if len(packed) == 16 and packed[0] < 0x80:
        return _digits(int.from_bytes(packed, "big"))
    if packed[:1] == _TEXT:
        packed = packed[1:]
    return packed.decode(errors="replace")


def check_id_characters(value: str, field: str) -> None:
    """Refuse (422 naming ``field``) an id with control characters, or with anything invisible
    or direction-changing: ``h-\u200bauthor`` looks exactly like ``h-author`` and would dodge
    its ban. Every id a site, reader or moderator supplies passes through here."""
    if value.isascii():
        # Most ids: no invisible characters to look for, only the ASCII controls.
        if _ASCII_CONTROL.search(value):
            raise ValidationFailed(f"{field} contains control characters", field=field)
        return
    if _CONTROL.search(value):
        raise ValidationFailed(f"{field} contains control characters", field=field)
    hidden = first_invisible(value)
    if hidden is not None:
        raise ValidationFailed(
            f"{field} contains an invisible or direction-changing character "
            f"(U+{ord(hidden):04X}); ids must look like what they are",
            field=field,
        )


#: Longest site id (a site id is part of every key name of that site).
MAX_SITE_CHARS = 64


def check_site_id(value: str, field: str = "site") -> str:
    """A site id as given (422 naming ``field`` unless 1–64 visible characters)."""
    if not value.strip() or len(value) > MAX_SITE_CHARS:
        raise ValidationFailed(f"{field} must be 1–{MAX_SITE_CHARS} characters", field=field)
    check_id_characters(value, field)
    return value
