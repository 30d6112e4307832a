"""Posting velocity per author and per IP address, and the author's track record.

*Author velocity* reads ``keys.author_comments(author)``, the sorted set of an author's comment
ids by creation time that ``submit.lua`` maintains for every accepted comment (so it cannot
drift from what was posted). *IP velocity* needs its own set (``keys.spam_ip_posts``), written
for a whole batch before any read, trimmed to the window and expiring. Both count the
*other* comments within ± the window around this one's creation time: a burst of ten arriving
in one batch marks all ten, not only the last, and replayed comments are counted by when they
were written, not when scored.

The track record is the author's per-status tallies (``keys.author``: approved, rejected) kept
by ``transition.lua``; moderators' rejections make an author's next comments suspect.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Any

from moderation.keys import Keys
from moderation.messages import CommentRecord
from moderation.store.pseudonyms import pseudonym

#: Counting stops here: past it, "many" is all the signal needs to say.
MAX_COUNT = 100
#: Characters of a comment id an IP set keeps as its member (:func:`ip_member`).
IP_MEMBER_CHARS = 10


def ip_member(comment_id: str) -> str:
    """A comment's member in its IP set: the end of its id (50 of a comment id's 80 random
    bits). The set is only counted, never read back as ids, and needs members distinct only
    among one address' comments of a window: two of them share one with a chance of about
    n²/2⁵¹, and that costs one comment less in the count; 16 bytes a comment less than the id."""
    return comment_id[-IP_MEMBER_CHARS:]


#: IP set names a worker keeps (an HMAC per comment cost more than the rest of its velocity
#: work; addresses repeat within minutes, so a small cache holds the repeats).
IP_KEY_CACHE = 8_192


@functools.lru_cache(maxsize=8_192)
def ip_bucket(ip: str) -> str:
    """The unit an address is counted in: itself for IPv4, its /64 network for IPv6 (one
    subscriber usually holds a whole /64 and can pick any address in it). Cached: parsing an
    address cost more than the rest of a comment's velocity work, and addresses repeat, but
    mostly within minutes (a reader posting again): a small cache holds those, and a large one
    only grows the worker's memory for as long as new addresses keep arriving (65,536 entries
    were ~13 MB, still filling after 10 minutes of the soak)."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass(frozen=True, slots=True)
class VelocitySignals:
    author_rate: int = 0
    ip_rate: int = 0
    author_approved: int = 0
    author_rejected: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "author_rate": self.author_rate,
            "ip_rate": self.ip_rate,
            "author_approved": self.author_approved,
            "author_rejected": self.author_rejected,
        }


class Velocity:
    """The velocity window and the keys one comment's signals are read from; the reads and the
    IP writes are part of the batch's one script call (:mod:`moderation.spam.state`)."""

    def __init__(self, keys: Keys, window_s: int) -> None:
        self.keys = keys
        self.window_ms = int(window_s * 1000)
        self.ttl_s = max(int(window_s) * 2, 60)
        # (secret, address) -> key: the secret is part of the entry, so a new secret misses.
        self._ip_keys: dict[tuple[bytes, str], str] = {}

    def ip_key(self, record: CommentRecord, secret: bytes) -> str | None:
        """The IP set ``record`` is counted in (named by the keyed hash of its address under
        the installation's ``secret``, ``store.pseudonyms``), ``None`` without an address."""
        ip = record.context.ip if record.context else None
        if not ip:
            return None
        key = self._ip_keys.get((secret, ip))
        if key is None:
            key = self.keys.spam_ip_posts(pseudonym(secret, ip_bucket(ip)))
            if len(self._ip_keys) >= IP_KEY_CACHE:
                self._ip_keys.clear()
            self._ip_keys[secret, ip] = key
        return key
