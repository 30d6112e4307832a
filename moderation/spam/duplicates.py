"""Repeated and near-duplicate text across articles and authors, shared through Redis.

Each comment long enough to compare gets a MinHash signature (:mod:`.minhash`); the batch's
comments are looked up in and added to the index of the window's comments in Redis
(:mod:`.lsh`: time shards of LSH bucket groups, read and written once per batch by
``lua/spam_batch.lua``), which yields each comment's candidates. This module confirms them:
the candidates' stored signatures are compared with the comment's, and the ones at or above
``spam_dup_similarity`` become its :class:`DupSignals` (how many, by how many other authors,
under how many other articles, cross-posted by the same author).

Confirming is one round trip per batch (an ``HMGET`` per shard) for the signatures this process
has not seen yet (a signature never changes, so each worker keeps the ones it read or wrote in a
bounded cache). Every worker indexes into the same shards, so a text pasted under ten articles
is seen whichever workers score the copies. :func:`near_duplicates` gives the held queue a
stored comment's copies; :func:`forget_signatures` erases an author's.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.spam.lsh import (
    _DEPTH,
    FIRST_GENERATION,
    GROWTH,
    Geometry,
    Lookup,
    parse_shards,
    select,
)
from moderation.spam.minhash import (
    NUM_PERM,
    SIG_BYTES,
    Probe,
    band_keys,
    comment_ref,
    field_key,
    party_key,
    similarity,
    stored_parties,
)
from moderation.store.codec import script

#: Signatures a worker keeps in memory (stored values, about 220 bytes each with the dict's
#: share: 3 MB at most; past it the older half goes): a campaign's copies are compared against
#: the same earlier ones again and again. Twice as many would save a fifth of the worker's CPU
#: on a corpus thick with near duplicates (40,000 comments in one window) but grow its memory
#: for longer before it levels off (+11% from 10,000 to 100,000 comments stored, past the 10%
#: bound of ``bench/growth.py``).
SIGNATURE_CACHE = 10_000


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
        sigs = np.frombuffer(b"".join(o[:SIG_BYTES] for o in others), dtype="<u2")
        agree = np.count_nonzero(sigs.reshape(len(others), NUM_PERM) == probe.signature, axis=1)
        mine, here = party_key(probe.author_id), party_key(probe.article_id)
        count, best = 0, 0.0
        authors: set[bytes] = set()
        articles: set[bytes] = set()
        cross = 0
        threshold = self.threshold
        for other, same in zip(others, agree.tolist(), strict=True):
            sim = same / NUM_PERM
            if sim < threshold:
                continue
            parties = stored_parties(other)
            if parties is None:
                continue
            author, article = parties
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
    """A near duplicate of a looked-up comment: its id and its author's and article's
    ``minhash.party_key`` (what the index keeps of them)."""

    comment_id: str
    author_key: bytes
    article_key: bytes


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
            other.comment_id: Copy(other.comment_id, other.author_key, other.article_key)
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
    """Delete the stored signatures (a signature of the text, with digests of the author and
    the article) of ``comments`` (id, creation ms or ``None`` when unknown) from their shard
    and every live one; the number deleted. The LSH entries stay: bucket, ref and time,
    nothing of the author, and without the signature no reader can turn them into a
    comment."""
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
