"""The near-duplicate index's layout in Redis, and how a batch reads it and picks candidates.

Layout in Redis (written by ``lua/spam_batch.lua``, read by it and ``lua/lsh_members.lua``):
comments are indexed in **time shards** of ``window / SHARDS_PER_WINDOW`` by creation time, two
hashes per shard, each expiring whole (its expiry set once, when created: no per-comment
``EXPIRE``, no trimming):

- ``Keys.spam_lsh``: fields are groups of band buckets; a value is packed 14-byte entries
  (bucket 4, comment ref 6, creation ms within the shard 4; the band is the field's first
  letter, so an entry does not repeat it). A shard's comments fill *generations* of
  :data:`FIRST_GENERATION`, ×:data:`GROWTH`, … comments, each with a quarter as many groups
  as comments, so a group holds about 4 × :data:`BANDS` entries however many comments a shard
  gets (about 450 bytes: a lookup reads little, and a field costs its hash's per-field
  overhead, about 50 bytes, once for 32 entries instead of once per entry; groups of 8 entries
  cost the index 204 bytes a comment at ``bench/storage.py``'s 100,000, these 151). A
  bucket's group in generation g is named by the first ``_DEPTH + g + 1`` characters of its
  :func:`field_key` (band letter, bucket in base-4 digits). Field ``n`` counts the shard's
  comments. A group keeps the newest :data:`BUCKET_CAP` entries of each bucket (a campaign's
  bucket is trimmed, rarely, when its group passes :data:`TRIM_AT` bytes). Older generations
  are *folded* into newer ones as the shard fills: each batch moves :data:`FOLD_RATE` group
  names per comment it indexes from the oldest generation that has groups (field ``f``;
  field ``c`` counts the names moved) into its children in the next, before their own
  entries (they are older), so a lookup reads at most two generations of a shard however full
  it is, where it read every generation the shard had had (five at 50,000 comments).
- ``Keys.spam_signatures``: field = the comment's *ref* (:func:`comment_ref`, 6 bytes of a hash
  of its id: the LSH entries carry it instead of the id), value = signature, the author's
  and the article's ``minhash.party_key``, comment id (packed: ``ids.pack_id``).

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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.spam.minhash import (
    SIG_BYTES,
    Known,
    band_keys,
    comment_ref,
    decode_stored,
    field_key,
)
from moderation.store.codec import as_str

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
#: Comments in a shard's first generation of bucket groups (a quarter as many groups: 8 bands ×
#: 4^depth), and the factor each next one grows by: 4, one more base-4 digit of the bucket per
#: generation (see the module docstring).
FIRST_GENERATION = 2048
GROWTH = 4
_DEPTH = 3  # FIRST_GENERATION == 4 * BANDS * GROWTH**_DEPTH
#: A group longer than this (bytes) keeps only the newest :data:`BUCKET_CAP` entries of each
#: of its buckets (a group holds about 32 entries, 448 bytes, and one in thousands passes 64 by
#: chance: only a campaign's grows this long, so the trim, a Lua loop over the group, stays rare).
TRIM_AT = 128 * 14
#: The longest shard: an entry's time within its shard is stored in 4 bytes.
_MAX_WIDTH_MS = 2**32 - 1


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
    bands, per band its bucket (its band key without the band byte) and field key (``fks``:
    :func:`field_key` of each), then the stored signature."""
    bands = b"".join(k[1:] + fk.encode() for k, fk in zip(keys5, fks, strict=True))
    return ref + offset_ms.to_bytes(4, "big") + bytes((len(keys5),)) + bands + stored


#: Bytes of an index entry: bucket 4, ref 6, creation ms within the shard 4.
_ENTRY = 14

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
                groups.setdefault(fk[:length], []).append(key5[1:] + tail)
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
    #: Per ``around`` range (the lookups of a batch share a few): its shards newest first,
    #: each with its plan (``None``: not read, or empty).
    routes: dict[range, list[tuple[int, Any]]] = {}
    #: The batch's earlier comments per band key, per shard: (time, ref), in the order indexed.
    earlier: dict[bytes, dict[int, list[tuple[int, bytes]]]] = {}
    from_bytes = int.from_bytes
    out: list[list[tuple[bytes, int]]] = []
    for lookup in lookups:
        if lookup is None:
            out.append([])
            continue
        t, ref, keys5, fks = lookup
        lo, hi = t - window, t + window
        around = geometry.around(t)
        route = routes.get(around)
        if route is None:
            route = routes[around] = [(s, plans.get(s)) for s in reversed(around)]
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
            bucket = key5[1:]  # the entries' (the group's field names the band)
            # The refs this band counted (its own included: it counts towards ``limit``).
            taken: set[bytes] = set()
            left = limit
            mine = earlier.get(key5)
            for s, plan in route:
                # The batch's own comments in this shard first (indexed last), newest first.
                if mine is not None:
                    for at, other in reversed(mine.get(s, ())):
                        if lo <= at <= hi and other not in taken:
                            taken.add(other)
                            note(other, s)
                            left -= 1
                            if not left:
                                break
                    if not left:
                        break
                if plan is None:
                    continue
                base, values, lengths = plan
                for length in lengths:
                    value = values.get(fk[:length])
                    if not value:
                        continue
                    find = value.rfind
                    pos = find(bucket)
                    while pos >= 0:
                        if pos % _ENTRY == 0:
                            other = value[pos + 4 : pos + 10]
                            if other not in taken:
                                at = base + from_bytes(value[pos + 10 : pos + 14], "big")
                                if lo <= at <= hi:
                                    taken.add(other)
                                    note(other, s)
                                    left -= 1
                                    if not left:
                                        break
                        pos = find(bucket, 0, pos + 3)  # the next match starting before pos
                    if not left:
                        break
                if not left:
                    break
        if sequential:
            shard = geometry.shard(t)
            for key5 in keys5:
                earlier.setdefault(key5, {}).setdefault(shard, []).append((t, ref))
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
                if isinstance(v, bytes) and len(v) >= SIG_BYTES:
                    found[ref] = v
        return found

    async def signatures(
        self, redis: Redis, wanted: Iterable[tuple[bytes, int]]
    ) -> dict[bytes, Known]:
        """:meth:`raw_signatures`, decoded (a malformed value is left out)."""
        raw = await self.raw_signatures(redis, wanted)
        return {ref: known for ref, v in raw.items() if (known := decode_stored(v)) is not None}
