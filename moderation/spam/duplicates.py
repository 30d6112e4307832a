"""Repeated and near-duplicate text across articles and authors, shared through Redis.

Each comment long enough to compare gets a MinHash signature of its character 4-gram shingles
(:data:`NUM_PERM` values). Two texts' signatures agree in a fraction of positions that
estimates the Jaccard similarity of their shingle sets, so a changed word or a different link
at the end still leaves two copies of a template close together (robust to small edits).

Finding candidates without comparing against everything uses locality-sensitive hashing: the
signature is cut into :data:`BANDS` bands of :data:`ROWS` values; each band is hashed to a
bucket, and each bucket is a Redis sorted set of comment ids scored by creation time, trimmed to
the sliding window and expiring with it. Texts sharing any bucket are candidates (likely from
a similarity of about (1/BANDS)^(1/ROWS) ≈ 0.6 up); candidates are then confirmed by comparing
full signatures against ``spam_dup_similarity``. Indexing and candidate lookup are part of the
batch's one ``lua/spam_batch.lua`` call (:mod:`moderation.spam.state`); confirming is one
``MGET`` per batch of the signatures this process has not seen yet (a signature never
changes, so each worker keeps the ones it read or wrote in a bounded cache). Every worker
indexes into the same sets, so a text pasted under ten articles is seen whichever workers
score the copies.

Window bounds use the comments' creation times, so replaying old comments (the evaluation)
behaves as it did live; the keys' TTLs only collect garbage.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.store.codec import as_str, script

NUM_PERM = 32
BANDS = 8
ROWS = NUM_PERM // BANDS
#: Candidates read per band and comment: bounds the work a huge campaign can cause.
CANDIDATES_PER_BAND = 10
#: Seconds past the window a signature or an idle band key is kept before it expires.
WINDOW_MARGIN_S = 300
#: Signatures a worker keeps in memory (≈ 200 bytes each): a campaign's copies are compared
#: against the same few earlier ones again and again, so a few thousand suffice; a bigger cache
#: only makes the worker's memory grow for longer before it levels off.
SIGNATURE_CACHE = 10_000

# Multiply-shift hash family: h_k(x) = (a_k * x + b_k) >> 32 (mod 2^64), a_k odd. Fixed seed:
# every process must compute the same signatures.
_rng = np.random.default_rng(20_240_611)
_A = _rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)
_B = _rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)
_SEP = b"\x1f"


def signature(shingles: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint32]:
    """The MinHash signature of a non-empty set of 64-bit shingle hashes."""
    hashed = (shingles[:, None] * _A[None, :] + _B[None, :]) >> np.uint64(32)
    out: npt.NDArray[np.uint32] = hashed.min(axis=0).astype(np.uint32)
    return out


def band_buckets(sig: npt.NDArray[np.uint32]) -> list[str]:
    raw = sig.astype("<u4").tobytes()
    width = ROWS * 4
    return [format(zlib.crc32(raw[b * width : (b + 1) * width]), "08x") for b in range(BANDS)]


def similarity(a: npt.NDArray[np.uint32], b: npt.NDArray[np.uint32]) -> float:
    """Estimated Jaccard similarity of the two shingle sets."""
    return float(np.count_nonzero(a == b)) / NUM_PERM


@dataclass(frozen=True, slots=True)
class Probe:
    """One comment to index: its id, who posted it where and when, and its signature."""

    comment_id: str
    author_id: str
    article_id: str
    created_ms: int
    signature: npt.NDArray[np.uint32]

    def stored(self) -> bytes:
        head = self.signature.astype("<u4").tobytes()
        return head + self.author_id.encode() + _SEP + self.article_id.encode()


@dataclass(frozen=True, slots=True)
class DupSignals:
    #: Other comments within the window that are near duplicates of this one.
    dup_count: int = 0
    #: Distinct other authors among them (a campaign, or copy-paste by many accounts).
    dup_authors: int = 0
    #: Distinct other articles among them.
    dup_articles: int = 0
    #: Near duplicates by the same author under other articles (cross-posting).
    dup_cross_post: int = 0
    #: Highest estimated similarity among them (0 when none).
    dup_similarity: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dup_count": self.dup_count,
            "dup_authors": self.dup_authors,
            "dup_articles": self.dup_articles,
            "dup_cross_post": self.dup_cross_post,
            "dup_similarity": round(self.dup_similarity, 3),
        }


#: A stored signature read back: the signature, its comment's author and article.
_Known = tuple[npt.NDArray[np.uint32], str, str]


def _decode(value: bytes) -> _Known | None:
    size = NUM_PERM * 4
    if len(value) < size:
        return None
    sig = np.frombuffer(value[:size], dtype="<u4").astype(np.uint32)
    author, _, article = value[size:].partition(_SEP)
    return sig, author.decode(errors="replace"), article.decode(errors="replace")


class DuplicateIndex:
    def __init__(self, keys: Keys, window_s: int, threshold: float) -> None:
        self.keys = keys
        self.window_ms = int(window_s * 1000)
        # Expire a little after the window closes: a signature is never read after it, and a
        # band key is kept alive by every new entry (its old ones trimmed by score).
        self.ttl_s = max(int(window_s) + WINDOW_MARGIN_S, 60)
        self.threshold = threshold
        # Decoded once: a campaign's copies are compared against the same few again and again.
        self._signatures: dict[str, _Known] = {}

    def band_keys(self, probe: Probe) -> list[str]:
        """The sorted sets ``probe`` is looked up and indexed in, one per band."""
        return [
            self.keys.spam_band(band, bucket)
            for band, bucket in enumerate(band_buckets(probe.signature))
        ]

    def remember(self, probes: Sequence[Probe]) -> list[bytes]:
        """The stored values of ``probes``' signatures, kept in this process' cache too."""
        self._remember((p.comment_id, (p.signature, p.author_id, p.article_id)) for p in probes)
        return [probe.stored() for probe in probes]

    def _remember(self, pairs: Iterable[tuple[str, _Known]]) -> None:
        if len(self._signatures) > SIGNATURE_CACHE:
            self._signatures.clear()
        self._signatures.update(pairs)

    async def confirm(
        self, redis: Redis, probes: Sequence[Probe], candidates: Sequence[Sequence[Any]]
    ) -> list[DupSignals]:
        """Compare each probe with its candidates' signatures (one ``MGET`` for the batch, of
        those not cached)."""
        ids = [[as_str(c) for c in cands] for cands in candidates]
        wanted = {c for cands in ids for c in cands}
        if not wanted:
            return [DupSignals() for _ in probes]
        known = self._signatures
        missing = sorted(c for c in wanted if c not in known)
        if missing:
            values = await redis.mget([self.keys.spam_signature(c) for c in missing])
            found = {
                c: decoded
                for c, v in zip(missing, values, strict=True)
                if isinstance(v, bytes) and (decoded := _decode(v)) is not None
            }
            self._remember(found.items())
            known = {**known, **found}  # the cache may have been cleared just now
        return [
            self._compare(probe, [known[c] for c in cands if c in known])
            for probe, cands in zip(probes, ids, strict=True)
        ]

    def _compare(self, probe: Probe, others: Sequence[_Known]) -> DupSignals:
        """``probe`` against the candidates still stored (one expired between the two round
        trips is skipped), all signatures compared in one array operation."""
        if not others:
            return DupSignals()
        agree = np.count_nonzero(np.stack([o[0] for o in others]) == probe.signature, axis=1)
        count, best = 0, 0.0
        authors: set[str] = set()
        articles: set[str] = set()
        cross = 0
        for (_, author, article), same in zip(others, agree.tolist(), strict=True):
            sim = same / NUM_PERM
            if sim < self.threshold:
                continue
            count += 1
            best = max(best, sim)
            if author != probe.author_id:
                authors.add(author)
            if article != probe.article_id:
                articles.add(article)
                if author == probe.author_id:
                    cross += 1
        return DupSignals(count, len(authors), len(articles), cross, best)


#: Ids read per band bucket when looking up a stored comment's copies (a campaign's bucket
#: may hold thousands; the held queue shows a group of the newest).
COPIES_PER_BAND = 30


@dataclass(frozen=True, slots=True)
class Copy:
    """A near duplicate of a looked-up comment: its id, author and article."""

    comment_id: str
    author_id: str
    article_id: str


async def near_duplicates(
    redis: Redis, keys: Keys, comment_ids: Sequence[str], threshold: float
) -> dict[str, list[Copy]]:
    """The indexed near duplicates (similarity ≥ ``threshold``) of each of ``comment_ids``
    that the scorer indexed and whose signatures are still in the window; two round trips
    for the lookup (signatures, band buckets) and one for the candidates' signatures."""
    if not comment_ids:
        return {}
    raw = await redis.mget([keys.spam_signature(c) for c in comment_ids])
    own = {
        c: mine
        for c, v in zip(comment_ids, raw, strict=True)
        if isinstance(v, bytes) and (mine := _decode(v)) is not None
    }
    if not own:
        return {}
    # One script call for every bucket of every comment: a page's 800 bucket reads as 800
    # pipelined commands cost the client more than the server.
    bands = [
        keys.spam_band(band, bucket)
        for sig, _, _ in own.values()
        for band, bucket in enumerate(band_buckets(sig))
    ]
    replies = await script(redis, "lsh_members.lua")(keys=bands, args=[BANDS, COPIES_PER_BAND])
    candidates: dict[str, set[str]] = {}
    for cid, reply in zip(own, replies, strict=True):
        candidates[cid] = {as_str(x) for x in reply} - {cid}
    wanted = sorted({c for found in candidates.values() for c in found} - own.keys())
    known: dict[str, _Known] = dict(own)
    if wanted:
        values = await redis.mget([keys.spam_signature(c) for c in wanted])
        for c, v in zip(wanted, values, strict=True):
            if isinstance(v, bytes) and (decoded := _decode(v)) is not None:
                known[c] = decoded
    out: dict[str, list[Copy]] = {}
    for cid, found in candidates.items():
        sig = own[cid][0]
        out[cid] = [
            Copy(other, known[other][1], known[other][2])
            for other in sorted(found)
            if other in known and similarity(sig, known[other][0]) >= threshold
        ]
    return out
