"""MinHash signatures of comment texts and their LSH band keys, and the stored signature value.

Each comment long enough to compare gets a MinHash signature of its character 4-gram shingles
(:data:`NUM_PERM` values of 16 bits: :func:`signature`). Two texts' signatures agree in a
fraction of positions that estimates the Jaccard similarity of their shingle sets, so a changed
word or a different link at the end still leaves two copies of a template close together
(robust to small edits). The signature is cut into :data:`BANDS` bands of :data:`ROWS` values;
each band is hashed to a bucket (:func:`band_keys`): texts sharing a bucket are candidates
(likely from a similarity of about (1/BANDS)^(1/ROWS) ≈ 0.6 up), where the index
(:mod:`.lsh`) finds them.

Pure functions and one value format, no Redis: every process must compute the same signatures
and keys, so the hash family's seed is fixed.
"""

from __future__ import annotations

import functools
import hashlib
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from moderation.ids import pack_id, unpack_id

NUM_PERM = 32
BANDS = 8
ROWS = NUM_PERM // BANDS

# Multiply-shift hash family: h_k(x) = (a_k * x + b_k) >> 32 (mod 2^64), a_k odd. Fixed seed:
# every process must compute the same signatures.
_rng = np.random.default_rng(20_240_611)
_A = _rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)
_B = _rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)
_A_COLUMN = _A[:, None]
_B_COLUMN = _B[:, None]
_SHIFT = np.uint64(32)
_LOW16 = np.uint64(0xFFFF)
#: Bytes of the digests that stand for a comment's author and its article in a stored value
#: (:func:`party_key`).
PARTY_BYTES = 6
#: Bytes of a signature at the head of its stored value (little-endian uint16s).
SIG_BYTES = NUM_PERM * 2
_REF_BYTES = 6


def signature(shingles: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint16]:
    """The MinHash signature of a non-empty set of 64-bit shingle hashes: per permutation, the
    low 16 bits of the smallest 32-bit hash ("b-bit" MinHash). Two texts' signatures still
    agree where their minima agree; unrelated minima agree by chance once in 65,536, which
    moves a similarity estimate by far less than its own sampling error, and each signature
    stored in the window costs half the bytes."""
    # One row per permutation: each row's minimum is a reduction over contiguous memory, and
    # the shingles are read as a row, not broadcast down a column (a third less time).
    hashed = np.multiply(_A_COLUMN, shingles)
    hashed += _B_COLUMN  # in place: one temporary, not three
    # The shift is monotonic, so it commutes with the minimum: 32 shifts, not one per cell.
    out: npt.NDArray[np.uint16] = ((hashed.min(axis=1) >> _SHIFT) & _LOW16).astype(np.uint16)
    return out


def band_keys(sig: npt.NDArray[np.uint16]) -> list[bytes]:
    """Per band, its band number and bucket (CRC-32 of the band's values): 5 bytes each."""
    raw = sig.astype("<u2").tobytes()
    width = ROWS * 2
    return [
        bytes((b,)) + zlib.crc32(raw[b * width : (b + 1) * width]).to_bytes(4, "big")
        for b in range(BANDS)
    ]


_BASE4 = ["".join("0123"[(v >> k) & 3] for k in (6, 4, 2, 0)) for v in range(256)]


def field_key(key5: bytes) -> str:
    """A band key's field key: its band as a letter, then its bucket in base-4 digits; the
    bucket's group in generation g is the first ``_DEPTH + g + 1`` characters."""
    b4 = _BASE4  # spelled out: a generator per key costs more than the lookups
    return chr(97 + key5[0]) + b4[key5[1]] + b4[key5[2]] + b4[key5[3]] + b4[key5[4]]


def comment_ref(comment_id: str) -> bytes:
    """The 6 bytes that stand for a comment in the index (a hash of its id: two comments of one
    shard share one with a chance of about n²/2⁴⁹, 5 in a million for a shard of 100,000; the
    later one's signature would then stand for both, a wrong candidate at worst)."""
    return hashlib.blake2b(comment_id.encode(), digest_size=_REF_BYTES).digest()


@functools.lru_cache(maxsize=65_536)
def party_key(value: str) -> bytes:
    """The 6 bytes a stored value keeps of an author's or an article's id (a hash of it). The
    near-duplicate signals only ask whether two comments share an author or an article, and
    the held queue how many articles a group spans: a digest answers both (two ids share one
    with a chance of 2⁻⁴⁸) in fixed bytes whatever the ids' length, and the index names no
    author. Cached: a batch's authors and articles repeat."""
    return hashlib.blake2b(value.encode(), digest_size=PARTY_BYTES, person=b"party").digest()


def similarity(a: npt.NDArray[np.uint16], b: npt.NDArray[np.uint16]) -> float:
    """Estimated Jaccard similarity of the two shingle sets."""
    return float(np.count_nonzero(a == b)) / NUM_PERM


@dataclass(frozen=True, slots=True)
class Probe:
    """One comment to index: its id, who posted it where and when, and its signature."""

    comment_id: str
    author_id: str
    article_id: str
    created_ms: int
    signature: npt.NDArray[np.uint16]

    def stored(self) -> bytes:
        """The signature hash's value: signature, the author's and the article's
        :func:`party_key`, then the comment id (packed: ``ids.pack_id``)."""
        return (
            self.signature.astype("<u2").tobytes()
            + party_key(self.author_id)
            + party_key(self.article_id)
            + pack_id(self.comment_id)
        )


@dataclass(frozen=True, slots=True)
class Known:
    """A stored signature read back, with its comment's id and its author's and article's
    :func:`party_key`."""

    signature: npt.NDArray[np.uint16]
    comment_id: str
    author_key: bytes
    article_key: bytes


#: Where a stored value's parts start: the author's key, the article's, the packed id.
_AUTHOR_AT = SIG_BYTES
_ARTICLE_AT = _AUTHOR_AT + PARTY_BYTES
_ID_AT = _ARTICLE_AT + PARTY_BYTES


def stored_parties(value: bytes) -> tuple[bytes, bytes] | None:
    """The author's and the article's key in a stored value; ``None`` when it is too short."""
    if len(value) <= _ID_AT:
        return None
    return value[_AUTHOR_AT:_ARTICLE_AT], value[_ARTICLE_AT:_ID_AT]


def decode_stored(value: bytes) -> Known | None:
    """A stored value (:meth:`Probe.stored`) read back; ``None`` when malformed."""
    parties = stored_parties(value)
    if parties is None:
        return None
    sig = np.frombuffer(value[:SIG_BYTES], dtype="<u2").astype(np.uint16)
    return Known(sig, unpack_id(value[_ID_AT:]), *parties)
