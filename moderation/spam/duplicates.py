"""Repeated and near-duplicate text across articles and authors, shared through Redis.

Each comment long enough to compare gets a MinHash signature of its character 4-gram shingles
(:data:`NUM_PERM` values of 16 bits: :func:`signature`). Two texts' signatures agree in a
fraction of positions that estimates the Jaccard similarity of their shingle sets, so a changed
word or a different link at the end still leaves two copies of a template close together
(robust to small edits).

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
  for about eight entries instead of once per entry). A bucket's group in generation g is named
  by the first ``_DEPTH + g + 1`` characters of its :func:`field_key` (band letter, bucket in
  base-4 digits). Field ``n`` counts the shard's comments. A group keeps the newest
  :data:`BUCKET_CAP` entries of each bucket (a campaign's bucket is trimmed, rarely, when its
  group passes :data:`TRIM_AT` bytes). Older generations are *folded* into newer ones as the
  shard fills: each batch moves :data:`FOLD_RATE` group names per comment it indexes from the
  oldest generation that has groups (field ``f``; field ``c`` counts the names moved) into its
  children in the next, before their own entries (they are older), so a lookup reads at most
  two generations of a shard however full it is, where it read every generation the shard
  had had (five at 50,000 comments).
- ``Keys.spam_signatures``: field = the comment's *ref* (:func:`comment_ref`, 8 bytes of a hash
  of its id: the LSH entries carry it instead of the id), value = signature, comment id, author,
  article.

A batch (``moderation.spam.state``) reads the groups of its buckets with one ``HMGET`` per
shard, queued just before its ``lua/spam_batch.lua`` call in one ``MULTI`` (so both see the same
index), and the script appends the batch's entries with one ``HSET`` per shard. Redis stores;
the worker picks the candidates (:func:`select`): per band, the
:data:`CANDIDATES_PER_BAND` distinct comments of its bucket created within ± the window of the
comment that were indexed last, the batch's earlier comments included (newest shard first;
within a shard, the batch's own, then the groups from the newest generation down, each read
from its end). Comments are indexed in about the order they are created, so these are the
newest, as ``ZRANGE … BYSCORE REV LIMIT`` gave on the former per-bucket sorted sets; reading
in that order lets a lookup stop once it has them, so a campaign's bucket, full in every
generation of a filling shard, costs one generation's read, not all of them. Parsing and
rebuilding the packed groups in Lua cost Redis more than the commands it saved; in the worker
it is cheap. Window bounds use the entries' stored creation times,
exactly, so replaying old comments (the evaluation) behaves as it did live; the shards' expiry
only collects garbage (a shard is kept until the window has passed its end).

Confirming is one round trip per batch (an ``HMGET`` per shard) for the signatures this process
has not seen yet (a signature never changes, so each worker keeps the ones it read or wrote in a
bounded cache). Every worker indexes into the same shards, so a text pasted under ten articles
is seen whichever workers score the copies.
"""

from __future__ import annotations

import hashlib
import itertools
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
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
#: Entries a bucket keeps per field of a shard (its newest): a campaign's bucket would otherwise
#: grow by one entry per copy, and every lookup in it would read them all, when readers only
#: ever want the newest :data:`CANDIDATES_PER_BAND` (the scorer) or :data:`COPIES_PER_BAND`
#: (the held queue) of the window. The newest entries of a window are the newest of their
#: shards, so comments scored in time order (live, the evaluation's replay) find the same.
BUCKET_CAP = 32
#: Seconds past the window a shard is kept after the window has passed its end.
WINDOW_MARGIN_S = 300
#: Time shards per window: a shard is kept for the window after its end, so the index holds
#: between 1 and 1 + 1/SHARDS_PER_WINDOW windows of comments; a batch reads the shards
#: overlapping ± the window (2 * SHARDS_PER_WINDOW + 1 at most, one ``HMGET`` each).
SHARDS_PER_WINDOW = 2
#: Group names folded into the next generation per comment indexed (``lua/spam_batch.lua``, 5.):
#: one moves a generation's groups a quarter of the way into the next, which holds four times
#: its comments, so no shard has groups in more than two generations.
FOLD_RATE = 1
#: Comments in a shard's first generation of bucket groups (as many groups: 8 bands × 4^depth),
#: and the factor each next one grows by: 4, one more base-4 digit of the bucket per generation
#: (see the module docstring).
FIRST_GENERATION = 512
GROWTH = 4
_DEPTH = 3  # FIRST_GENERATION == BANDS * GROWTH**_DEPTH
#: A group longer than this (bytes) keeps only the newest :data:`BUCKET_CAP` entries of each
#: of its buckets (a group holds about 8 entries, 136 bytes: only a campaign's grows this long).
TRIM_AT = 64 * 17
#: Signatures a worker keeps in memory (stored values, about 220 bytes each with the dict's
#: share: 3 MB at most; past it the older half goes): a campaign's copies are compared against
#: the same earlier ones again and again. Twice as many would save a fifth of the worker's CPU
#: on a corpus thick with near duplicates (40,000 comments in one window) but grow its memory
#: for longer before it levels off (+11% from 10,000 to 100,000 comments stored, past the 10%
#: bound of ``bench/growth.py``).
SIGNATURE_CACHE = 10_000
#: The longest shard: an entry's time within its shard is stored in 4 bytes.
_MAX_WIDTH_MS = 2**32 - 1

# Multiply-shift hash family: h_k(x) = (a_k * x + b_k) >> 32 (mod 2^64), a_k odd. Fixed seed:
# every process must compute the same signatures.
_rng = np.random.default_rng(20_240_611)
_A = _rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)
_B = _rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)
_SEP = b"\x1f"
#: Bytes of a signature at the head of its stored value (little-endian uint16s).
_SIG_BYTES = NUM_PERM * 2
_REF_BYTES = 8


def signature(shingles: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint16]:
    """The MinHash signature of a non-empty set of 64-bit shingle hashes: per permutation, the
    low 16 bits of the smallest 32-bit hash ("b-bit" MinHash). Two texts' signatures still
    agree where their minima agree; unrelated minima agree by chance once in 65,536, which
    moves a similarity estimate by far less than its own sampling error, and each signature
    stored in the window costs half the bytes."""
    hashed = (shingles[:, None] * _A[None, :] + _B[None, :]) >> np.uint64(32)
    out: npt.NDArray[np.uint16] = (hashed.min(axis=0) & np.uint64(0xFFFF)).astype(np.uint16)
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


def generation(n: int) -> int:
    """The generation of a shard's ``n``-th comment (from 0)."""
    g, start, size = 0, 0, FIRST_GENERATION
    while n >= start + size:
        start += size
        size *= GROWTH
        g += 1
    return g


def probe_blob(
    ref: bytes, offset_ms: int, keys5: Sequence[bytes], fks: Sequence[str], stored: bytes
) -> bytes:
    """A probe as ``spam_batch.lua`` takes it: ref, creation ms within its shard, number of
    bands, per band its band key and field key (``fks``: :func:`field_key` of each), then the
    stored signature."""
    bands = b"".join(k + fk.encode() for k, fk in zip(keys5, fks, strict=True))
    return ref + offset_ms.to_bytes(4, "big") + bytes((len(keys5),)) + bands + stored


def comment_ref(comment_id: str) -> bytes:
    """The 8 bytes that stand for a comment in the index (a hash of its id: two comments of one
    shard share one with a chance of about n²/2⁶⁵)."""
    return hashlib.blake2b(comment_id.encode(), digest_size=_REF_BYTES).digest()


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
        """The signature hash's value: signature, comment id, author, article."""
        head = self.signature.astype("<u2").tobytes()
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

    signature: npt.NDArray[np.uint16]
    comment_id: str
    author_id: str
    article_id: str


def _decode(value: bytes) -> _Known | None:
    if len(value) < _SIG_BYTES:
        return None
    sig = np.frombuffer(value[:_SIG_BYTES], dtype="<u2").astype(np.uint16)
    parts = value[_SIG_BYTES:].split(_SEP)
    if len(parts) != 3:
        return None
    cid, author, article = (p.decode(errors="replace") for p in parts)
    return _Known(sig, cid, author, article)


_ENTRY = 17

#: A shard as a script read it: its comment count ("n"), its oldest generation with groups ("f")
#: and its groups read (field -> value).
Shard = tuple[int, int, dict[str, bytes]]
#: A comment looked up: creation ms, ref, band keys, their field keys.
Lookup = tuple[int, bytes, Sequence[bytes], Sequence[str]]


def lookup(created_ms: int, comment_id: str, sig: npt.NDArray[np.uint16]) -> Lookup:
    keys5 = band_keys(sig)
    return created_ms, comment_ref(comment_id), keys5, [field_key(k) for k in keys5]


def _msgpack(value: int | bytes | str | Sequence[Any]) -> bytes:
    """``value`` in msgpack, bytes as msgpack *strings*: the scripts' ``cmsgpack`` reads no
    binary type, and a Lua string holds any bytes."""
    if isinstance(value, int):
        if not 0 <= value < 128:
            raise ValueError("only small non-negative integers")
        return bytes((value,))
    if isinstance(value, str | bytes):
        raw = value.encode() if isinstance(value, str) else value
        n = len(raw)
        if n < 32:
            return bytes((0xA0 | n,)) + raw
        if n < 256:
            return b"\xd9" + bytes((n,)) + raw
        if n < 65536:
            return b"\xda" + n.to_bytes(2, "big") + raw
        return b"\xdb" + n.to_bytes(4, "big") + raw
    return b"\xdd" + len(value).to_bytes(4, "big") + b"".join(_msgpack(v) for v in value)


#: msgpack's array header for 3 items, as :func:`_msgpack` writes it (array 32).
_ARRAY3 = b"\xdd" + (3).to_bytes(4, "big")
#: msgpack's fixstr headers, by length.
_FIXSTR = [bytes((0xA0 | n,)) for n in range(32)]


def _strings(items: Sequence[bytes]) -> bytes:
    """``_msgpack(list(items))`` for a list of byte strings: the same bytes, one loop."""
    parts = [b"\xdd" + len(items).to_bytes(4, "big")]
    for raw in items:
        n = len(raw)
        if n < 32:
            parts.append(_FIXSTR[n])
        elif n < 256:
            parts.append(b"\xd9" + bytes((n,)))
        else:
            parts.append(_msgpack(raw)[:-n])  # rare: a group of 16 entries or more
        parts.append(raw)
    return b"".join(parts)


def grouped_entries(
    geometry: Geometry, lookups: Sequence[Lookup | None], counts: Mapping[int, int]
) -> dict[int, bytes]:
    """Per shard written, the lookups' entries grouped by the field they go to, for
    ``spam_batch.lua`` (msgpack ``{generation, {fields}, {entries of each}}``): when the
    shard, holding ``counts[shard]`` comments (as far as this process knows), would take the
    batch's comments there into one generation. The script checks that against the count it
    finds (and works the fields out itself when it differs)."""
    by_shard: dict[int, list[Lookup]] = {}
    for item in lookups:
        if item is not None:
            by_shard.setdefault(geometry.shard(item[0]), []).append(item)
    out: dict[int, bytes] = {}
    for s, items in by_shard.items():
        n = counts.get(s, 0)
        g = generation(n)
        if generation(n + len(items) - 1) != g:
            continue
        length = _DEPTH + g + 1
        base = s * geometry.width_ms
        groups: dict[str, list[bytes]] = {}
        for t, ref, keys5, fks in items:
            tail = ref + (t - base).to_bytes(4, "big")
            for key5, fk in zip(keys5, fks, strict=True):
                groups.setdefault(fk[:length], []).append(key5 + tail)
        names = [name.encode() for name in groups]
        values = [b"".join(v) for v in groups.values()]
        # As _msgpack([g, names, values]) gives it, without a call per string.
        out[s] = _ARRAY3 + _msgpack(g) + _strings(names) + _strings(values)
    return out


def parse_shards(
    reply: Sequence[Any], read: Mapping[int, tuple[Sequence[str], Sequence[Any]]]
) -> dict[int, Shard]:
    """The shards of a script's reply, ``{shard index, n, {field, value, ...}, f}``, with the
    groups read before it (``read[shard]``: the fields and the ``HMGET``'s reply)."""
    out: dict[int, Shard] = {}
    for index, n, extra, folded in reply:
        names, got = read.get(int(index), ((), ()))
        values = {f: v for f, v in zip(names, got, strict=True) if v}
        values.update((as_str(f), v) for f, v in zip(extra[::2], extra[1::2], strict=True) if v)
        out[int(index)] = (int(n), int(folded), values)
    return out


def wanted_groups(
    geometry: Geometry, lookups: Sequence[Lookup | None], known: Mapping[int, tuple[int, int]]
) -> dict[int, list[str]]:
    """Per shard overlapping ± the window of a lookup, the groups of the lookups' buckets in
    the generations ``known[shard]`` (the first and last this process knows the shard has
    groups in), without repeats."""
    out: dict[int, dict[str, None]] = {}
    for lookup in lookups:
        if lookup is None:
            continue
        t, _, _, fks = lookup
        for s in geometry.around(t):
            span = known.get(s)
            if span is None:
                continue
            names = out.setdefault(s, {})
            for g in range(span[0], span[1] + 1):
                names.update(dict.fromkeys(fk[: _DEPTH + g + 1] for fk in fks))
    return {s: list(names) for s, names in out.items() if names}


def select(
    geometry: Geometry,
    shards: Mapping[int, Shard],
    lookups: Sequence[Lookup | None],
    limit: int,
    *,
    sequential: bool,
) -> list[list[tuple[bytes, int]]]:
    """Each lookup's candidates as (ref, shard index): per band, the ``limit`` distinct
    comments of its bucket created within ± the window of it that were indexed last (shards
    newest first; within a shard its groups from the newest generation down, each value from
    its end, entries appended last first), its own ref and repeats across bands left out.
    ``sequential``: each lookup also sees those before it, as indexed after everything read
    in their shard (a batch indexes its comments in order, and the shards read are as they
    were before the batch): the same candidates as looking each comment up in turn.

    The worker's hottest loop on a filled window (every entry of a bucket's groups is looked
    at until the band has its ``limit``), so it is written flat: a call only per ref a band
    counts, the entry's time decoded only for a ref the band has not counted yet, and each
    shard's groups, base time and group-name lengths looked up once per batch."""
    width, window = geometry.width_ms, geometry.window_ms
    # Per shard read: its base time, its groups, and the lengths of its generations' group
    # names, newest generation first.
    plans = {
        s: (s * width, values, range(_DEPTH + generation(n - 1) + 1, _DEPTH + folded, -1))
        for s, (n, folded, values) in shards.items()
        if n > 0
    }
    #: The batch's earlier comments per band key and shard: (time, ref), in the order indexed.
    earlier: dict[tuple[bytes, int], list[tuple[int, bytes]]] = {}
    from_bytes = int.from_bytes
    out: list[list[tuple[bytes, int]]] = []
    for lookup in lookups:
        if lookup is None:
            out.append([])
            continue
        t, ref, keys5, fks = lookup
        lo, hi = t - window, t + window
        around = list(reversed(geometry.around(t)))
        seen: set[bytes] = set()  # candidates found in any band
        found: list[tuple[bytes, int]] = []

        def note(
            other: bytes,
            s: int,
            ref: bytes = ref,
            seen: set[bytes] = seen,
            found: list[tuple[bytes, int]] = found,
        ) -> None:
            """A ref a band counted (bound to this lookup): a candidate unless it is the
            lookup's own or found already."""
            if other != ref and other not in seen:
                seen.add(other)
                found.append((other, s))

        for key5, fk in zip(keys5, fks, strict=True):
            # The refs this band counted (its own included: it counts towards ``limit``).
            taken: set[bytes] = set()
            left = limit
            for s in around:
                # The batch's own comments in this shard first (indexed last), newest first.
                for at, other in reversed(earlier.get((key5, s), ())):
                    if lo <= at <= hi and other not in taken:
                        taken.add(other)
                        note(other, s)
                        left -= 1
                        if not left:
                            break
                if not left:
                    break
                plan = plans.get(s)
                if plan is None:
                    continue
                base, values, lengths = plan
                for length in lengths:
                    value = values.get(fk[:length])
                    if not value:
                        continue
                    find = value.rfind
                    pos = find(key5)
                    while pos >= 0:
                        if pos % _ENTRY == 0:
                            other = value[pos + 5 : pos + 13]
                            if other not in taken:
                                at = base + from_bytes(value[pos + 13 : pos + 17], "big")
                                if lo <= at <= hi:
                                    taken.add(other)
                                    note(other, s)
                                    left -= 1
                                    if not left:
                                        break
                        pos = find(key5, 0, pos + 4)  # the next match starting before pos
                    if not left:
                        break
                if not left:
                    break
        if sequential:
            shard = geometry.shard(t)
            for key5 in keys5:
                earlier.setdefault((key5, shard), []).append((t, ref))
        out.append(found)
    return out


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

    async def raw_signatures(
        self, redis: Redis, wanted: Iterable[tuple[bytes, int]]
    ) -> dict[bytes, bytes]:
        """The stored signature values (:meth:`Probe.stored`) of (ref, shard) pairs: one round
        trip, an ``HMGET`` per shard; absent ones (expired, erased) and ones too short to
        hold a signature are left out."""
        by_shard: dict[int, list[bytes]] = {}
        for ref, shard in wanted:
            by_shard.setdefault(shard, []).append(ref)
        if not by_shard:
            return {}
        pipe = redis.pipeline(transaction=False)
        for shard, refs in by_shard.items():
            pipe.hmget(self.signature_key(shard), refs)
        replies = await pipe.execute()
        found: dict[bytes, bytes] = {}
        for refs, values in zip(by_shard.values(), replies, strict=True):
            for ref, v in zip(refs, values, strict=True):
                if isinstance(v, bytes) and len(v) >= _SIG_BYTES:
                    found[ref] = v
        return found

    async def signatures(
        self, redis: Redis, wanted: Iterable[tuple[bytes, int]]
    ) -> dict[bytes, _Known]:
        """:meth:`raw_signatures`, decoded (a malformed value is left out)."""
        raw = await self.raw_signatures(redis, wanted)
        return {ref: known for ref, v in raw.items() if (known := _decode(v)) is not None}


class DuplicateIndex:
    def __init__(self, keys: Keys, window_s: int, threshold: float) -> None:
        self.keys = keys
        self.geometry = Geometry(keys, window_s)
        self.window_ms = self.geometry.window_ms
        self.threshold = threshold
        # Stored values by ref, kept as the bytes Redis holds (a third of a decoded signature's
        # size, and decoding is left to the few candidates that pass the threshold): a
        # campaign's copies are compared against the same few again and again.
        self._signatures: dict[bytes, bytes] = {}

    def remember(self, probes: Sequence[Probe]) -> list[bytes]:
        """The stored values of ``probes``' signatures, kept in this process' cache too."""
        stored = [probe.stored() for probe in probes]
        self._remember(zip((comment_ref(p.comment_id) for p in probes), stored, strict=True))
        return stored

    def _remember(self, pairs: Iterable[tuple[bytes, bytes]]) -> None:
        cache = self._signatures
        if len(cache) > SIGNATURE_CACHE:
            # The older half goes (a dict keeps insertion order): the newest stay cached, so
            # the cost of a full cache is a trickle of re-reads, not a cliff.
            for ref in list(itertools.islice(cache, len(cache) // 2)):
                del cache[ref]
        cache.update(pairs)

    async def confirm(
        self,
        redis: Redis,
        probes: Sequence[Probe],
        candidates: Sequence[Sequence[tuple[bytes, int]]],
    ) -> list[DupSignals]:
        """Compare each probe with its candidates' signatures (one round trip for the batch,
        of those not cached)."""
        if not any(candidates):
            return [DupSignals() for _ in probes]
        cache = self._signatures
        missing = {(ref, s) for cands in candidates for ref, s in cands if ref not in cache}
        found: dict[bytes, bytes] = {}
        if missing:
            found = await self.geometry.raw_signatures(redis, sorted(missing))
            self._remember(found.items())  # may drop some cached ones: ``found`` keeps them
        out = []
        for probe, cands in zip(probes, candidates, strict=True):
            others = []
            for ref, _ in cands:
                value = cache.get(ref) or found.get(ref)
                if value is not None:
                    others.append(value)
            out.append(self._compare(probe, others))
        return out

    def _compare(self, probe: Probe, others: Sequence[bytes]) -> DupSignals:
        """``probe`` against the stored values of the candidates still stored (one expired
        between the two round trips is skipped), all signatures compared in one array
        operation; the author and article are read only from those similar enough (a
        malformed value is skipped)."""
        if not others:
            return DupSignals()
        sigs = np.frombuffer(b"".join(o[:_SIG_BYTES] for o in others), dtype="<u2")
        agree = np.count_nonzero(sigs.reshape(len(others), NUM_PERM) == probe.signature, axis=1)
        mine, here = probe.author_id.encode(), probe.article_id.encode()
        count, best = 0, 0.0
        authors: set[bytes] = set()
        articles: set[bytes] = set()
        cross = 0
        threshold = self.threshold
        for other, same in zip(others, agree.tolist(), strict=True):
            sim = same / NUM_PERM
            if sim < threshold:
                continue
            parts = other[_SIG_BYTES:].split(_SEP)
            if len(parts) != 3:
                continue
            author, article = parts[1], parts[2]
            count += 1
            best = max(best, sim)
            if author != mine:
                authors.add(author)
            if article != here:
                articles.add(article)
                if author == mine:
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
    still stored; three round trips (their signatures, one script call that reads the groups of
    every bucket of every comment, the candidates' signatures)."""
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
    keys5 = {cid: band_keys(known.signature) for cid, (_, known) in own.items()}
    by_shard: dict[int, list[bytes]] = {}
    for cid, (created, _) in own.items():
        for s in geometry.around(created):
            by_shard.setdefault(s, []).extend(field_key(k).encode() for k in keys5[cid])
    shards = sorted(by_shard)
    reply = await script(redis, "lsh_members.lua")(
        keys=[geometry.lsh_key(s) for s in shards],
        args=[
            FIRST_GENERATION,
            GROWTH,
            _DEPTH,
            msgspec.msgpack.encode([[s, n + 1] for n, s in enumerate(shards)]),
            *(b"".join(by_shard[s]) for s in shards),
        ],
    )
    lookups: list[Lookup | None] = [
        (created, refs[cid][0], keys5[cid], [field_key(k) for k in keys5[cid]])
        for cid, (created, _) in own.items()
    ]
    found_lists = select(
        geometry, parse_shards(reply, {}), lookups, COPIES_PER_BAND, sequential=False
    )
    candidates = dict(zip(own, found_lists, strict=True))
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
