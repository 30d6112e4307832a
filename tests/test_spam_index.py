"""The near-duplicate index's layout in Redis (``moderation.spam.lsh``): time shards
read and written once per batch, the window bound exact by creation time, shards expiring
whole, erasure of signatures, a refused batch writing nothing, retries and campaigns bounded."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import Author, CommentRecord, Context
from moderation.normalize import normalize
from moderation.settings import Settings
from moderation.spam import SpamInput, SpamScorer
from moderation.spam import state as state_module
from moderation.spam.duplicates import (
    SIGNATURE_CACHE,
    DuplicateIndex,
    forget_signatures,
    near_duplicates,
)
from moderation.spam.lsh import (
    BUCKET_CAP,
    FIRST_GENERATION,
    TRIM_AT,
    WINDOW_MARGIN_S,
    Geometry,
    _msgpack,
    _strings,
    select,
)
from moderation.spam.minhash import SIG_BYTES, comment_ref, field_key, party_key

CAMPAIGN = "Hey music fans, please check out my new single on my channel and subscribe today"
OTHER = "The council voted on the budget yesterday and the mayor was not happy about it at all"
HOUR_MS = 3_600_000


def item(n: int, created: int, text: str = CAMPAIGN, author: str = "") -> SpamInput:
    record = CommentRecord(
        id=f"c{n:06d}",
        article_id=f"a{n % 7}",
        text=text,
        author=Author(id=author or f"u{n}", name="Reader"),
        created_at=created,
        site="t",
        context=Context(ip=f"10.1.{n // 250 % 250}.{n % 250}"),
    )
    return SpamInput(record, normalize(text))


def inside_one_shard(settings: Settings, span_ms: int = 60_000) -> int:
    """Now, or, where the next ``span_ms`` would cross into the next time shard (at 00:00 and
    12:00 UTC with the default window), a moment earlier in this one: a test's comments, created
    from then on, all land in one shard whatever the clock says when it runs."""
    width = Geometry(Keys(), settings.spam_dup_window_s).width_ms
    now = int(time.time() * 1000)
    return min(now, (now // width + 1) * width - span_ms)


async def lsh_keys(rds: Redis, keys: Keys) -> list[str]:
    return sorted([k.decode() async for k in rds.scan_iter(f"{keys.prefix}:spam:lsh:*")])


async def sig_keys(rds: Redis, keys: Keys) -> list[str]:
    return sorted([k.decode() async for k in rds.scan_iter(f"{keys.prefix}:spam:sig:*")])


async def test_the_window_bound_is_exact_by_creation_time(settings: Settings, rds: Redis) -> None:
    """A copy created exactly one window earlier is a candidate, one a millisecond earlier is
    not, across shards (a shard is half a window)."""
    scorer = SpamScorer(
        rds, Keys(settings.key_prefix), settings.with_overrides(spam_dup_window_s=3600)
    )
    base = 1_600_000_000_000
    [first] = await scorer.score([item(1, base)])
    [edge] = await scorer.score([item(2, base + HOUR_MS)])  # sees 1 (inclusive)
    [past] = await scorer.score([item(3, base + 2 * HOUR_MS + 1)])  # 2 is 1 h + 1 ms before
    [late] = await scorer.score([item(4, base + 2 * HOUR_MS + 2)])  # sees 3 only
    assert first.signals["dup_count"] == 0
    assert edge.signals["dup_count"] == 1
    assert past.signals["dup_count"] == 0
    assert late.signals["dup_count"] == 1
    # Replayed out of order: a comment between them sees both sides of its window.
    [middle] = await scorer.score([item(5, base + HOUR_MS // 2)])
    assert middle.signals["dup_count"] == 2  # 1 (½ h before) and 2 (½ h after)


async def test_shards_expire_whole_once_written(settings: Settings, rds: Redis) -> None:
    keys = Keys(settings.key_prefix)
    scorer = SpamScorer(rds, keys, settings)
    geometry = Geometry(keys, settings.spam_dup_window_s)
    window, width, margin = geometry.window_ms, geometry.width_ms, WINDOW_MARGIN_S * 1000
    now = inside_one_shard(settings)
    await scorer.score([item(1, now), item(2, now + 1, OTHER)])
    shard = geometry.shard(now)
    assert await lsh_keys(rds, keys) == [geometry.lsh_key(shard)]
    assert await sig_keys(rds, keys) == [geometry.signature_key(shard)]
    for key in (geometry.lsh_key(shard), geometry.signature_key(shard)):
        ttl = await rds.pttl(key)
        ends = (shard + 1) * width + window + margin - now  # from the live comment's creation
        assert ends - 60_000 <= ttl <= ends
    # A later batch leaves the expiry as it is (set once, when the key was created).
    before = await rds.pttl(geometry.lsh_key(shard))
    await rds.pexpire(geometry.lsh_key(shard), before + 123_456)
    await scorer.score([item(3, now + 2)])
    assert await rds.pttl(geometry.lsh_key(shard)) > before + 100_000
    # A replayed old comment: its shard is kept as long as a live one would be from then on.
    old = now - 30 * 24 * HOUR_MS
    await scorer.score([item(4, old)])
    old_shard = geometry.shard(old)
    ttl = await rds.pttl(geometry.lsh_key(old_shard))
    ends = (old_shard + 1) * width + window + margin - old
    assert ends - 60_000 <= ttl <= ends
    assert window + margin - 60_000 <= ttl <= window + width + margin


async def test_a_poisoned_shard_refuses_the_batch_before_any_write(
    settings: Settings, rds: Redis
) -> None:
    keys = Keys(settings.key_prefix)
    scorer = SpamScorer(rds, keys, settings)
    geometry = Geometry(keys, settings.spam_dup_window_s)
    now = inside_one_shard(settings)
    poisoned = geometry.lsh_key(geometry.shard(now) - 1)  # only read by this batch
    await rds.set(poisoned, "not a hash")
    try:
        await scorer.score([item(n, now + n) for n in range(3)])
    except Exception as exc:
        assert "WRONGTYPE" in str(exc)
    else:
        raise AssertionError("the batch was scored over a key of the wrong type")
    assert await lsh_keys(rds, keys) == [poisoned]
    assert await sig_keys(rds, keys) == []
    assert [k async for k in rds.scan_iter(f"{keys.prefix}:spam:ip:*")] == []


async def test_a_retried_batch_is_not_indexed_twice(settings: Settings, rds: Redis) -> None:
    keys = Keys(settings.key_prefix)
    now = inside_one_shard(settings)
    batch = [item(n, now + n, f"{CAMPAIGN} {n}") for n in range(5)]
    first = await SpamScorer(rds, keys, settings).score(batch)
    geometry = Geometry(keys, settings.spam_dup_window_s)
    key = geometry.lsh_key(geometry.shard(now))
    stored = await rds.hgetall(key)
    # Another worker (no cache) retries the same batch: same signals, nothing appended.
    again = await SpamScorer(rds, keys, settings).score(batch)
    assert await rds.hgetall(key) == stored
    assert stored[b"n"] == b"5"
    assert [r.signals["dup_count"] for r in first] == [0, 1, 2, 3, 4]
    # Each now also sees the batch's later copies (as the sorted sets did on a retry).
    assert [r.signals["dup_count"] for r in again] == [4, 4, 4, 4, 4]


async def test_a_campaigns_bucket_keeps_its_newest_entries(settings: Settings, rds: Redis) -> None:
    keys = Keys(settings.key_prefix)
    scorer = SpamScorer(rds, keys, settings)
    now = inside_one_shard(settings)
    copies = 3 * BUCKET_CAP
    results = []
    for start in range(0, copies, 16):
        results += await scorer.score([item(n, now + n) for n in range(start, start + 16)])
    geometry = Geometry(keys, settings.spam_dup_window_s)
    values = await rds.hgetall(geometry.lsh_key(geometry.shard(now)))
    groups = [v for f, v in values.items() if f != b"n"]
    assert max(len(v) for v in groups) <= TRIM_AT
    # The buckets still yield the newest copies: identical texts share every bucket, so a copy
    # finds the newest CANDIDATES_PER_BAND (10) of them, as the sorted sets gave.
    counts = [r.signals["dup_count"] for r in results]
    assert counts[:10] == list(range(10))
    assert set(counts[10:]) == {10}


async def test_generations_and_a_second_worker_see_the_same(settings: Settings, rds: Redis) -> None:
    """Past the first generation of groups, and with two workers whose counts of the shard are
    stale in turn (the script then works the groups out itself), the signals are those one
    worker computes alone."""
    now = inside_one_shard(settings)
    texts = [f"{CAMPAIGN} number {n % 40} " + "x" * (n % 3) for n in range(FIRST_GENERATION + 100)]
    batches = [[item(n, now + n, texts[n]) for n in range(s, min(s + 50, len(texts)))]
               for s in range(0, len(texts), 50)]  # fmt: skip
    alone_keys = Keys("alone")
    alone = SpamScorer(rds, alone_keys, settings)
    expected = [r.signals["dup_count"] for b in batches for r in await alone.score(b)]
    pair_keys = Keys("pair")
    workers = [SpamScorer(rds, pair_keys, settings), SpamScorer(rds, pair_keys, settings)]
    got = [
        r.signals["dup_count"] for i, b in enumerate(batches) for r in await workers[i % 2].score(b)
    ]
    assert got == expected
    assert max(expected) > 0
    geometry = Geometry(pair_keys, settings.spam_dup_window_s)
    fields = await rds.hkeys(geometry.lsh_key(geometry.shard(now)))
    # Generations 0 and 1, 0 being folded into 1: one group name moved per comment of each
    # batch that ended in generation 1 (50 + 50 + 48 of its 512 so far: FIRST_GENERATION is
    # 2,048, so the batch from 2,000 ends there).
    assert {len(f) for f in fields if f not in (b"n", b"f", b"c")} == {4, 5}
    assert await rds.hmget(geometry.lsh_key(geometry.shard(now)), "f", "c") == [b"0", b"148"]


async def test_folded_generations_find_what_unfolded_ones_did(
    settings: Settings, rds: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard filled past two generation boundaries, its older groups folded into newer ones
    as it fills (by two workers in turn, each with a stale view of the shard), gives every
    comment the signals, and every held comment the copies, that the same comments give from
    an index never folded; its groups are then in two generations only, the oldest gone."""
    now = inside_one_shard(settings)
    count = FIRST_GENERATION + 4 * FIRST_GENERATION + 800  # into generation 2
    # 40 templates, about 80 copies each: more than a band reads (10; 30 for copies), so which
    # entries come newest decides what is found.
    texts = [f"{CAMPAIGN} number {n % 40} " + "x" * (n % 5) for n in range(count)]
    batches = [
        [item(n, now + n, texts[n], author=f"u{n % 97}") for n in range(s, min(s + 64, count))]
        for s in range(0, count, 64)
    ]

    async def run(prefix: str, workers: int) -> tuple[list[dict[str, object]], Keys]:
        keys = Keys(prefix)
        scorers = [SpamScorer(rds, keys, settings) for _ in range(workers)]
        signals = []
        for i, batch in enumerate(batches):
            signals += [r.signals for r in await scorers[i % workers].score(batch)]
        return signals, keys

    monkeypatch.setattr(state_module, "FOLD_RATE", 0)
    expected, plain_keys = await run("plain", 1)
    monkeypatch.undo()
    got, keys = await run("folded", 2)
    assert got == expected
    # Candidates were cut at the limit: no comment found all of its template's earlier copies.
    assert 10 < max(s["dup_count"] for s in expected) < count // 40 - 10

    geometry = Geometry(keys, settings.spam_dup_window_s)
    shard_key = geometry.lsh_key(geometry.shard(now))
    lengths = {len(f) for f in await rds.hkeys(shard_key) if f not in (b"n", b"f", b"c")}
    assert lengths == {5, 6}  # generation 0 folded away, 1 being folded into 2
    assert await rds.hget(shard_key, "f") == b"1"
    plain_key = Geometry(plain_keys, settings.spam_dup_window_s).lsh_key(geometry.shard(now))
    assert {len(f) for f in await rds.hkeys(plain_key) if f != b"n"} == {4, 5, 6}

    held = [(b.record.id, b.record.created_at) for batch in batches[::7] for b in batch[::9]]
    window = settings.spam_dup_window_s
    copies = await near_duplicates(rds, keys, held, window_s=window, threshold=0.7)
    plain = await near_duplicates(rds, plain_keys, held, window_s=window, threshold=0.7)
    assert copies == plain
    assert max(len(c) for c in copies.values()) > 30


async def test_erasure_removes_the_signatures_and_lookups_find_nothing(
    settings: Settings, rds: Redis
) -> None:
    keys = Keys(settings.key_prefix)
    scorer = SpamScorer(rds, keys, settings)
    now = inside_one_shard(settings)
    batch = [item(n, now + n, author="erin" if n % 2 else "olga") for n in range(6)]
    await scorer.score(batch)
    geometry = Geometry(keys, settings.spam_dup_window_s)
    sig_key = geometry.signature_key(geometry.shard(now))
    # The author's key follows the signature (minhash.Probe.stored).
    erin_key = party_key("erin")
    assert sum(v[SIG_BYTES:].startswith(erin_key) for v in await rds.hvals(sig_key)) == 3
    comments = [(i.record.id, i.record.created_at) for i in batch]
    found = await near_duplicates(
        rds, keys, comments, window_s=settings.spam_dup_window_s, threshold=0.7
    )
    assert sorted(c.comment_id for c in found["c000000"]) == [f"c{n:06d}" for n in range(1, 6)]
    erin = {i.record.id: i.record.created_at for i in batch if i.record.author.id == "erin"}
    erin["never-indexed"] = None
    deleted = await forget_signatures(
        rds, keys, erin, window_s=settings.spam_dup_window_s, now_ms=now
    )
    assert deleted == 3
    values = await rds.hvals(sig_key)
    assert len(values) == 3 and not any(erin_key in v for v in values)
    assert comment_ref("c000001") not in await rds.hkeys(sig_key)
    found = await near_duplicates(
        rds, keys, comments, window_s=settings.spam_dup_window_s, threshold=0.7
    )
    assert sorted(c.comment_id for c in found["c000000"]) == ["c000002", "c000004"]
    assert "c000001" not in found


def test_a_full_signature_cache_drops_its_older_half() -> None:
    index = DuplicateIndex(Keys(), 86_400, 0.7)
    refs = [n.to_bytes(8, "big") for n in range(SIGNATURE_CACHE + 2)]
    index._remember((ref, b"v" * 140) for ref in refs[: SIGNATURE_CACHE + 1])
    assert len(index._signatures) == SIGNATURE_CACHE + 1
    # One more past the bound: the oldest half goes, the newest stay (not a cleared cache).
    index._remember([(refs[-1], b"w" * 140)])
    kept = index._signatures
    assert len(kept) == SIGNATURE_CACHE + 2 - (SIGNATURE_CACHE + 1) // 2
    assert refs[0] not in kept and refs[(SIGNATURE_CACHE + 1) // 2 - 1] not in kept
    assert all(ref in kept for ref in refs[(SIGNATURE_CACHE + 1) // 2 :])


async def test_cached_and_read_signatures_confirm_alike(settings: Settings, rds: Redis) -> None:
    # The worker that indexed a campaign confirms from its cache; a fresh one reads the stored
    # values from Redis: the signals must be the same.
    keys = Keys(settings.key_prefix)
    now = inside_one_shard(settings)
    first = SpamScorer(rds, keys, settings)
    await first.score([item(n, now + n, author=f"u{n % 3}") for n in range(6)])
    later = [item(100 + n, now + 100 + n, author=f"u{n % 3}") for n in range(3)]
    warm = await first.score(later[:1])
    cold = await SpamScorer(rds, keys, settings).score(later[1:2])
    for got in (warm[0], cold[0]):
        assert got.signals["dup_count"] >= 5
    assert warm[0].signals["dup_authors"] == cold[0].signals["dup_authors"] == 2


def test_a_lookup_takes_the_entries_indexed_last_and_reads_no_further() -> None:
    """Per band, the candidates are the comments indexed last (newest generation first, each
    group from its end), and an older generation is not read once a band has its ``limit``."""
    geometry = Geometry(Keys("sel"), 86_400)
    now = 1_800_000_000_000
    shard = geometry.shard(now)
    base = shard * geometry.width_ms
    key5 = bytes((0,)) + (1234567).to_bytes(4, "big")
    fk = field_key(key5)

    def entries(refs: list[bytes], first_ms: int) -> bytes:
        return b"".join(
            key5[1:] + r + (first_ms - base + i).to_bytes(4, "big") for i, r in enumerate(refs)
        )

    older = [bytes([65 + i]) * 6 for i in range(5)]  # generation 0: A..E
    newer = [bytes([70 + i]) * 6 for i in range(11)]  # generation 1: F..P
    # Generation 0's comments were created later than generation 1's (two workers indexing out
    # of order): the order indexed decides, not the creation times.
    values = {fk[:4]: entries(older, now - 10), fk[:5]: entries(newer, now - 50)}
    shards = {shard: (FIRST_GENERATION + 1, 0, values)}
    probe = (now, b"Z" * 6, [key5], [fk])

    [ten] = select(geometry, shards, [probe], 10, sequential=False)
    assert [r for r, _ in ten] == list(reversed(newer))[:10]
    [all_of_them] = select(geometry, shards, [probe], 20, sequential=False)
    assert [r for r, _ in all_of_them] == list(reversed(newer)) + list(reversed(older))
    # The batch's own earlier comment was indexed after everything read: it comes first.
    early = (now + 1, b"Y" * 6, [key5], [fk])
    _, after = select(geometry, shards, [early, probe], 3, sequential=True)
    assert [r for r, _ in after] == [b"Y" * 6, newer[-1], newer[-2]]


def test_grouped_entries_are_packed_as_the_scripts_read_them() -> None:
    """The fast packing of a list of byte strings gives the bytes of the general one, for
    every header size msgpack has (fixstr, str 8, 16 and 32), and the group names spelled
    out give the base-4 digits of the bucket."""
    for n in (0, 1, 17, 31, 32, 34, 255, 256, 65_535, 65_536):
        items = [bytes([n % 251]) * n, b"", bytes(range(256))[: n % 40]]
        assert _strings(items) == _msgpack(items)
    assert _strings([]) == _msgpack([])
    assert field_key(bytes([2, 0, 1, 2, 255])) == "c" + "0000" + "0001" + "0002" + "3333"
