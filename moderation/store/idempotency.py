"""Where ``submit.lua`` remembers an ``Idempotency-Key``: digests in small per-site hashes.

One string key with a TTL per comment cost about 150 bytes (the key's name held the client's
key; each key has its own entry in the main and the expiry tables). Instead a key is a field of
one of :data:`BUCKETS` hashes of its site, in generations:

- **field**: 8 bytes of a BLAKE2b digest of the client's key (never the key itself: user input
  never becomes part of a key name, nor is it stored); the bucket is picked by two more bytes
  of the same digest. Two different keys of one site share a field with a chance of about
  n² / 2⁷⁵ for n keys remembered (10⁻⁸ for a day of 70,000 comments).
- **value**: 8 bytes of a digest of the request body (tells a replay from a reuse with another
  body, a 409), then the first comment's id packed (``ids.pack_id``: 16 bytes, not 26).
- **generations**: Redis' own clock (``TIME``, one clock for every API process) cut in spans of
  a quarter of the TTL (:data:`SPANS`, :func:`generations`); generation ``g = floor(now / span)``
  is written, ``g`` back to ``g - SPANS`` are read, and ``g``'s hashes expire at the end of
  ``g + SPANS``, when no reader looks at them any more. A key written at ``t`` is therefore
  answered until at least ``t + ttl`` and kept at most ``SPANS + 1`` spans (``t + ttl + span``
  when ``SPANS`` divides the TTL, as it does the default day), with no rotation state and
  nothing to sweep. (Two generations of a whole TTL each kept a key up to twice the
  TTL: half of a day's keys were still there a day and a half after their last use.) A miss
  reads the SPANS + 1 generations, newest first: a few hash lookups inside the script.
- **buckets**: a hash keeps Redis' compact listpack encoding up to 128 fields
  (``hash-max-listpack-entries``, ``store.embedded.SERVER_TUNING``), about 50 bytes a key;
  1,024 buckets a generation keep a site compact up to about 130,000 keys a span (half a
  million a day with the default TTL, or a burst of 100,000 within minutes, as
  ``bench/storage.py`` posts them); beyond that a bucket becomes a hash table (about 110
  bytes a key, still correct). A bucket's field is found by walking its listpack, so a
  bucket is kept small rather than long (256 buckets of up to 512 fields held the same keys
  in less memory, and each lookup walked hundreds of entries).

``submit.lua`` builds the generation's key names from the bucket's stem (``Keys.idempotency``)
and its clock, so they are not declared in ``KEYS``: fine on one Redis (the submit script
touches site, article and author keys together already, so a Redis Cluster needs a reshaped
submit anyway: ARCHITECTURE.md).
"""

from __future__ import annotations

import hashlib

from moderation.ids import pack_id, unpack_id

#: Hashes per site and generation (a power of two; see above).
BUCKETS = 1024
#: Generations to a TTL (see above): a key outlives its TTL by at most 1/SPANS of it.
SPANS = 4
#: Bytes of the body digest kept with a key.
BODY_DIGEST_BYTES = 8


def generations(ttl_s: int) -> tuple[int, int]:
    """``(span, spans)`` for an idempotency TTL of ``ttl_s``: a generation's seconds (a second
    at least: Redis' clock is read in seconds) and how many of them cover the TTL (``SPANS``,
    fewer for a TTL under ``SPANS`` seconds)."""
    span = max(1, -(-ttl_s // SPANS))
    return span, max(1, -(-ttl_s // span))


def slot(idem_key: str) -> tuple[int, bytes]:
    """The bucket and the field that remember ``idem_key``."""
    h = hashlib.blake2b(idem_key.encode(), digest_size=10).digest()
    return int.from_bytes(h[:2], "big") % BUCKETS, h[2:]


def body_digest(digest: str) -> bytes:
    """The bytes of a request body's digest (any string: the API's SHA-256 hex) kept with its
    key."""
    return hashlib.blake2b(digest.encode(), digest_size=BODY_DIGEST_BYTES).digest()


def stored(body: bytes, comment_id: str) -> bytes:
    """The value that remembers a key: its request body's digest (:func:`body_digest`), then
    the comment's id, packed."""
    return body + pack_id(comment_id)


def split(value: bytes) -> tuple[bytes, str]:
    """``(body digest, comment id)`` of a :func:`stored` value."""
    return value[:BODY_DIGEST_BYTES], unpack_id(value[BODY_DIGEST_BYTES:])
