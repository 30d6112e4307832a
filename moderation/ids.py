"""Comment ids: 26-character, time-ordered, URL-safe (the ULID layout).

48 bits of milliseconds since the epoch, then 80 random bits, in Crockford's base32. Ids sort
lexicographically in creation order, which lets an article's approved set be paginated by id
alone (``ZRANGE … BYLEX``) and makes cursors trivially stable.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(_ALPHABET)}


def new_id(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def id_time_ms(comment_id: str) -> int:
    """The creation time encoded in an id; raises ``ValueError`` for a malformed id."""
    if len(comment_id) != 26:
        raise ValueError("not a comment id")
    value = 0
    for c in comment_id:
        try:
            value = (value << 5) | _DECODE[c]
        except KeyError:
            raise ValueError("not a comment id") from None
    return value >> 80


def is_comment_id(value: str) -> bool:
    try:
        id_time_ms(value)
    except ValueError:
        return False
    return True
