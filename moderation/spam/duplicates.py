"""Repeated and near-duplicate text across articles and authors, shared through Redis.

Each comment long enough to compare gets a MinHash signature of its character 4-gram shingles
(:data:`NUM_PERM` values). Two texts' signatures agree in a fraction of positions that
estimates the Jaccard similarity of their shingle sets, so a changed word or a different link
at the end still leaves two copies of a template close together (robust to small edits).

Finding candidates without comparing against everything uses locality-sensitive hashing: the
signature is cut into :data:`BANDS` bands of :data:`ROWS` values; each band is hashed to a
bucket. Texts sharing any bucket within the window are candidates (likely from a similarity of
about (1/BANDS)^(1/ROWS) ≈ 0.6 up); candidates are then confirmed by comparing full signatures
against ``spam_dup_similarity``.

Layout in Redis (written by ``lua/spam_batch.lua``, read by it and ``lua/lsh_members.lua``):
comments are indexed in **time shards** of ``window / SHARDS_PER_WINDOW`` by creation time, two
hashes per shard, each expiring whole (its expiry set once, when created: no per-comment
``EXPIRE``, no trimming):

- ``Keys.spam_lsh``: fields are groups of band buckets; a value is packed 17-byte entries (band,
  bucket, comment ref, creation ms within the shard). A shard's comments fill *generations* of
  :data:`FIRST_GENERATION`, ×:data:`GROWTH`, … comments, each with as many groups as comments,
  so a group holds about :data:`BANDS` entries however many comments a shard gets (a few
  hundred bytes: a lookup reads little, and a field costs its hash's per-field overhead once
  for about eight entries instead of once per entry). Field ``n`` counts the shard's comments.
- ``Keys.spam_signatures``: field = the comment's *ref* (:func:`comment_ref`, 8 bytes of a hash
  of its id: the LSH entries carry it instead of the id), value = signature, comment id, author,
  article.

A batch reads every field it needs with one ``HMGET`` per shard and writes each shard with one
``HSET``. Window bounds use the entries' stored creation times, exactly (± ``window`` of the
comment's creation time), so replaying old comments (the evaluation) behaves as it did live;
the shards' expiry only collects garbage (a shard is kept until the window has passed its end).

Confirming is one round trip per batch (an ``HMGET`` per shard) for the signatures this process
has not seen yet (a signature never changes, so each worker keeps the ones it read or wrote in a
bounded cache). Every worker indexes into the same shards, so a text pasted under ten articles
is seen whichever workers score the copies.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.store.codec import script

NUM_PERM = 32
BANDS = 8
ROWS = NUM_PERM // BANDS
#: Candidates read per band and comment: bounds the work a huge campaign can cause.
CANDIDATES_PER_BAND = 10
#: Seconds past the window a shard is kept after the window has passed its end.
WINDOW_MARGIN_S = 300
#: Time shards per window: a shard is kept for the window after its end, so the index holds
#: between 1 and 1 + 1/SHARDS_PER_WINDOW windows of comments; a batch reads the shards
#: overlapping ± the window (2 * SHARDS_PER_WINDOW + 1 at most, one ``HMGET`` each).
SHARDS_PER_WINDOW = 2
#: Comments in a shard's first generation of bucket groups, and the factor each next one grows
#: by (see the module docstring).
FIRST_GENERATION = 512
GROWTH = 4
#: Signatures a worker keeps in memory (≈ 200 bytes each): a campaign's copies are compared
#: against the same few earlier ones again and again, so a few thousand suffice; a bigger cache
#: only makes the worker's memory grow for longer before it levels off.
SIGNATURE_CACHE = 10_000
#: The longest shard: an entry's time within its shard is stored in 4 bytes.
_MAX_WIDTH_MS = 2**32 - 1

# Multiply-shift hash family: h_k(x) = (a_k * x + b_k) >> 32 (mod 2^64), a_k odd. Fixed seed:
# every process must compute the same signatures.
_rng = np.random.default_rng(20_240_611)
_A = _rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)
_B = _rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)
_SEP = b"\x1f"
_REF_BYTES = 8


def signature(shingles: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint32]:
    """The MinHash signature of a non-empty set of 64-bit shingle hashes."""
    hashed = (shingles[:, None] * _A[None, :] + _B[None, :]) >> np.uint64(32)
    out: npt.NDArray[np.uint32] = hashed.min(axis=0).astype(np.uint32)
    return out


def band_keys(sig: npt.NDArray[np.uint32]) -> list[bytes]:
    """Per band, its band number and bucket (CRC-32 of the band's values): 5 bytes each."""
    raw = sig.astype("<u4").tobytes()
    width = ROWS * 4
    return [
        bytes((b,)) + zlib.crc32(raw[b * width : (b + 1) * width]).to_bytes(4, "big")
        for b in range(BANDS)
    ]


def comment_ref(comment_id: str) -> bytes:
    """The 8 bytes that stand for a comment in the index (a hash of its id: two comments of one
    shard share one with a chance of about n²/2⁶⁵)."""
    return hashlib.blake2b(comment_id.encode(), digest_size=_REF_BYTES).digest()


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
        """The signature hash's value: signature, comment id, author, article."""
        head = self.signature.astype("<u4").tobytes()
        return _SEP.join(
            (head + self.comment_id.encode(), self.author_id.encode(), self.article_id.encode())
        )


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


@dataclass(frozen=True, slots=True)
class _Known:
    """A stored signature read back, with its comment's id, author and article."""

    signature: npt.NDArray[np.uint32]
    comment_id: str
    author_id: str
    article_id: str


def _decode(value: bytes) -> _Known | None:
    size = NUM_PERM * 4
    if len(value) < size:
        return None
    sig = np.frombuffer(value[:size], dtype="<u4").astype(np.uint32)
    parts = value[size:].split(_SEP)
    if len(parts) != 3:
        return None
    cid, author, article = (p.decode(errors="replace") for p in parts)
    return _Known(sig, cid, author, article)


def _candidate(raw: bytes) -> tuple[bytes, int]:
    """A script's candidate (ref, then the shard's index in digits) as (ref, shard)."""
    return raw[:_REF_BYTES], int(raw[_REF_BYTES:])


class Geometry:
    """Where comments live in the index: the window, the shards' width and keys."""

    def __init__(self, keys: Keys, window_s: int) -> None:
        self.keys = keys
        self.window_ms = int(window_s * 1000)
        self.width_ms = max(1, min(self.window_ms // SHARDS_PER_WINDOW, _MAX_WIDTH_MS))
        self.margin_ms = WINDOW_MARGIN_S * 1000

    def shard(self, created_ms: int) -> int:
        return created_ms // self.width_ms

    def around(self, created_ms: int) -> range:
        """The shards overlapping ± the window of ``created_ms``."""
        w = self.window_ms
        return range(self.shard(created_ms - w), self.shard(created_ms + w) + 1)

    def lsh_key(self, shard: int) -> str:
        return self.keys.spam_lsh(self.width_ms, shard)

    def signature_key(self, shard: int) -> str:
        return self.keys.spam_signatures(self.width_ms, shard)

    def live(self, now_ms: int) -> range:
        """Every shard that may still exist at ``now_ms`` for comments created up to then
        (replays aside: a replayed comment's shard is named by its old creation time)."""
        oldest = now_ms - self.window_ms - self.width_ms - self.margin_ms
        return range(self.shard(oldest), self.shard(now_ms + self.window_ms) + 1)

    async def signatures(
        self, redis: Redis, wanted: Iterable[tuple[bytes, int]]
    ) -> dict[bytes, _Known]:
        """The stored signatures of (ref, shard) pairs: one round trip, an ``HMGET`` per
        shard; absent ones (expired, erased) are left out."""
        by_shard: dict[int, list[bytes]] = {}
        for ref, shard in wanted:
            by_shard.setdefault(shard, []).append(ref)
        if not by_shard:
            return {}
        pipe = redis.pipeline(transaction=False)
        for shard, refs in by_shard.items():
            pipe.hmget(self.signature_key(shard), refs)
        replies = await pipe.execute()
        found: dict[bytes, _Known] = {}
        for refs, values in zip(by_shard.values(), replies, strict=True):
            for ref, v in zip(refs, values, strict=True):
                if isinstance(v, bytes) and (decoded := _decode(v)) is not None:
                    found[ref] = decoded
        return found


class DuplicateIndex:
    def __init__(self, keys: Keys, window_s: int, threshold: float) -> None:
        self.keys = keys
        self.geometry = Geometry(keys, window_s)
        self.window_ms = self.geometry.window_ms
        self.threshold = threshold
        # Decoded once: a campaign's copies are compared against the same few again and again.
        self._signatures: dict[bytes, _Known] = {}

    def remember(self, probes: Sequence[Probe]) -> list[bytes]:
        """The stored values of ``probes``' signatures, kept in this process' cache too."""
        stored = [probe.stored() for probe in probes]
        self._remember(
            (
                comment_ref(p.comment_id),
                _Known(p.signature, p.comment_id, p.author_id, p.article_id),
            )
            for p in probes
        )
        return stored

    def _remember(self, pairs: Iterable[tuple[bytes, _Known]]) -> None:
        if len(self._signatures) > SIGNATURE_CACHE:
            self._signatures.clear()
        self._signatures.update(pairs)

    async def confirm(
        self, redis: Redis, probes: Sequence[Probe], candidates: Sequence[Sequence[Any]]
    ) -> list[DupSignals]:
        """Compare each probe with its candidates' signatures (one round trip for the batch,
        of those not cached)."""
        parsed = [[_candidate(bytes(c)) for c in cands] for cands in candidates]
        if not any(parsed):
            return [DupSignals() for _ in probes]
        known = self._signatures
        missing = {(ref, shard) for cands in parsed for ref, shard in cands if ref not in known}
        if missing:
            found = await self.geometry.signatures(redis, sorted(missing))
            self._remember(found.items())
            known = {**known, **found}  # the cache may have been cleared just now
        return [
            self._compare(probe, [known[ref] for ref, _ in cands if ref in known])
            for probe, cands in zip(probes, parsed, strict=True)
        ]

    def _compare(self, probe: Probe, others: Sequence[_Known]) -> DupSignals:
        """``probe`` against the candidates still stored (one expired between the two round
        trips is skipped), all signatures compared in one array operation."""
        if not others:
            return DupSignals()
        agree = np.count_nonzero(np.stack([o.signature for o in others]) == probe.signature, axis=1)
        count, best = 0, 0.0
        authors: set[str] = set()
        articles: set[str] = set()
        cross = 0
        for other, same in zip(others, agree.tolist(), strict=True):
            sim = same / NUM_PERM
            if sim < self.threshold:
                continue
            count += 1
            best = max(best, sim)
            author, article = other.author_id, other.article_id
            if author != probe.author_id:
                authors.add(author)
            if article != probe.article_id:
                articles.add(article)
                if author == probe.author_id:
                    cross += 1
        return DupSignals(count, len(authors), len(articles), cross, best)


#: Entries read per band bucket when looking up a stored comment's copies (a campaign's bucket
#: may hold thousands; the held queue shows a group of the newest).
COPIES_PER_BAND = 30


@dataclass(frozen=True, slots=True)
class Copy:
    """A near duplicate of a looked-up comment: its id, author and article."""

    comment_id: str
    author_id: str
    article_id: str


async def near_duplicates(
    redis: Redis,
    keys: Keys,
    comments: Sequence[tuple[str, int]],
    *,
    window_s: int,
    threshold: float,
) -> dict[str, list[Copy]]:
    """The indexed near duplicates (similarity ≥ ``threshold``, created within ± the window)
    of each of ``comments`` (id, creation ms) that the scorer indexed and whose signatures are
    still stored; three round trips (their signatures, one script call for every bucket of
    every comment, the candidates' signatures)."""
    if not comments:
        return {}
    geometry = Geometry(keys, window_s)
    refs = {cid: (comment_ref(cid), geometry.shard(created)) for cid, created in comments}
    stored = await geometry.signatures(redis, refs.values())
    own = {
        cid: (created, stored[refs[cid][0]]) for cid, created in comments if refs[cid][0] in stored
    }
    if not own:
        return {}
    shards = sorted({s for created, _ in own.values() for s in geometry.around(created)})
    replies = await script(redis, "lsh_members.lua")(
        keys=[geometry.lsh_key(s) for s in shards],
        args=[
            geometry.window_ms,
            geometry.width_ms,
            COPIES_PER_BAND,
            FIRST_GENERATION,
            GROWTH,
            msgspec.msgpack.encode([[s, n + 1] for n, s in enumerate(shards)]),
            msgspec.msgpack.encode([created for created, _ in own.values()]),
            *(
                b"".join((refs[cid][0], *band_keys(known.signature)))
                for cid, (_, known) in own.items()
            ),
        ],
    )
    candidates = {
        cid: [_candidate(bytes(x)) for x in reply] for cid, reply in zip(own, replies, strict=True)
    }
    own_refs = {refs[cid][0] for cid in own}
    wanted = {c for found in candidates.values() for c in found if c[0] not in own_refs}
    known = {refs[cid][0]: k for cid, (_, k) in own.items()}
    known.update(await geometry.signatures(redis, sorted(wanted)))
    out: dict[str, list[Copy]] = {}
    for cid, found in candidates.items():
        sig = own[cid][1].signature
        copies = {
            other.comment_id: Copy(other.comment_id, other.author_id, other.article_id)
            for ref, _ in found
            if (other := known.get(ref)) is not None
            and other.comment_id != cid
            and similarity(sig, other.signature) >= threshold
        }
        out[cid] = [copies[c] for c in sorted(copies)]
    return out


async def forget_signatures(
    redis: Redis,
    keys: Keys,
    comments: Mapping[str, int | None],
    *,
    window_s: int,
    now_ms: int,
) -> int:
    """Delete the stored signatures (they name the author and article) of ``comments`` (id,
    creation ms or ``None`` when unknown) from their shard and every live one; the number
    deleted. The LSH entries stay: bucket, ref and time, nothing of the author, and without
    the signature no reader can turn them into a comment."""
    if not comments:
        return 0
    geometry = Geometry(keys, window_s)
    shards = set(geometry.live(now_ms))
    shards.update(geometry.shard(c) for c in comments.values() if c is not None)
    refs = [comment_ref(cid) for cid in comments]
    pipe = redis.pipeline(transaction=False)
    for shard in sorted(shards):
        for start in range(0, len(refs), 500):
            pipe.hdel(geometry.signature_key(shard), *refs[start : start + 500])
    return sum(int(n) for n in await pipe.execute())
