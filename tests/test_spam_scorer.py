"""The spam scorer against a real Redis: near-duplicates across workers, velocity, author
history, learning from moderators' feedback, and how spam scores turn into decisions."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import Author, CommentRecord, Context
from moderation.normalize import normalize
from moderation.settings import Settings
from moderation.spam import SpamInput, SpamScorer
from moderation.spam.features import N_BUCKETS
from moderation.spam.feedback import record_feedback
from moderation.spam.model import OnlineModel
from moderation.store.comments import Store
from moderation.store.pseudonyms import Pseudonyms
from tests.conftest import Api, comment, running_worker, wait_for

CAMPAIGN = "Hey music fans, please check out my new single on my channel and subscribe today"


async def decided(api: Api, comment_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        data: dict[str, Any] = (
            await api.client.get(f"/v1/comments/{comment_id}", headers=api.auth())
        ).json()
        return data if data["status"] != "pending" else None

    result: dict[str, Any] = await wait_for(check)
    return result


async def post_and_decide(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.post_comment(body)
    assert r.status_code == 202, r.text
    return await decided(api, r.json()["id"])


async def record_of(rds: Redis, keys: Keys, comment_id: str) -> CommentRecord:
    stored = await Store(rds, keys).get(comment_id)
    assert stored is not None
    return stored.record


# --- near duplicates ----------------------------------------------------------------------------


async def test_near_duplicate_seen_by_a_different_worker(api: Api, settings: Settings) -> None:
    async with running_worker(settings, "w1"):
        first = await post_and_decide(api, comment("a1", CAMPAIGN, "u1"))
    # A second worker process, its own Redis connection, a small edit, another author/article.
    edited = CAMPAIGN.replace("new single", "NEW single") + "!!"
    async with running_worker(settings, "w2"):
        second = await post_and_decide(api, comment("a2", edited, "u2"))
    assert first["spam_signals"]["dup_count"] == 0
    s = second["spam_signals"]
    assert s["dup_count"] == 1
    assert s["dup_authors"] == 1
    assert s["dup_articles"] == 1
    assert s["dup_cross_post"] == 0
    assert s["dup_similarity"] >= 0.7
    assert s["contributions"]["dup"] > 0
    assert second["spam_score"] > first["spam_score"]


async def test_every_pair_of_copies_is_seen_once_by_two_concurrent_workers(
    api: Api, settings: Settings
) -> None:
    """Two workers score copies concurrently; indexing is atomic per comment, so of each pair
    exactly the later-indexed copy sees the other: the counts add up to n(n-1)/2."""
    n = 8
    async with running_worker(settings, "w1"), running_worker(settings, "w2"):
        ids = []
        for i in range(n):
            text = f"{CAMPAIGN} (copy {i})"
            r = await api.post_comment(comment(f"article-{i}", text, f"author-{i}"))
            ids.append(r.json()["id"])
        results = [await decided(api, cid) for cid in ids]
    counts = [r["spam_signals"]["dup_count"] for r in results]
    assert sum(counts) == n * (n - 1) // 2, counts
    assert max(counts) == n - 1


async def test_cross_posting_by_one_author(api: Api, worker: object) -> None:
    await post_and_decide(api, comment("a1", CAMPAIGN, "spammer"))
    again = await post_and_decide(api, comment("a2", CAMPAIGN, "spammer"))
    assert again["spam_signals"]["dup_cross_post"] == 1
    assert again["spam_signals"]["dup_authors"] == 0


async def test_short_common_texts_are_not_duplicates(api: Api, worker: object) -> None:
    await post_and_decide(api, comment("a1", "Great article!", "u1"))
    second = await post_and_decide(api, comment("a2", "Great article!", "u2"))
    assert second["spam_signals"]["dup_count"] == 0


async def test_duplicate_window_uses_creation_times(settings: Settings, rds: Redis) -> None:
    """Copies further apart than the window are not duplicates (replays behave as live)."""
    keys = Keys(settings.key_prefix)
    scorer = SpamScorer(rds, keys, settings.with_overrides(spam_dup_window_s=3600))
    base = 1_600_000_000_000

    def item(n: int, created: int) -> SpamInput:
        record = CommentRecord(
            id=f"01J{n:023d}",
            article_id=f"a{n}",
            text=CAMPAIGN,
            author=_author(f"u{n}"),
            created_at=created,
            site="t",
        )
        return SpamInput(record, normalize(record.text))

    [old] = await scorer.score([item(1, base)])
    [late] = await scorer.score([item(2, base + 2 * 3600_000)])
    [near] = await scorer.score([item(3, base + 2 * 3600_000 + 60_000)])
    assert old.signals["dup_count"] == 0
    assert late.signals["dup_count"] == 0  # two hours later, window one hour
    assert near.signals["dup_count"] == 1  # a minute after the second copy


def _author(author_id: str) -> Any:
    from moderation.messages import Author

    return Author(id=author_id, name=author_id)


# --- velocity and history ------------------------------------------------------------------------


async def test_velocity_per_author_and_per_ip(api: Api, settings: Settings) -> None:
    ctx = {"ip": "203.0.113.7"}
    ids = []
    for i in range(4):
        r = await api.post_comment(
            comment(f"a{i}", f"Opinion number {i} on this", "fast", context=ctx)
        )
        ids.append(r.json()["id"])
    r = await api.post_comment(comment("a9", "Someone else entirely here", "other", context=ctx))
    ids.append(r.json()["id"])
    r = await api.post_comment(comment("a9", "A reader on another network", "calm"))
    ids.append(r.json()["id"])
    async with running_worker(settings):  # all in one batch: each sees the others
        results = [await decided(api, cid) for cid in ids]
    for r in results[:4]:
        assert r["spam_signals"]["author_rate"] == 3
        assert r["spam_signals"]["ip_rate"] == 4
    assert results[4]["spam_signals"]["author_rate"] == 0
    assert results[4]["spam_signals"]["ip_rate"] == 4
    assert results[5]["spam_signals"]["author_rate"] == 0
    assert results[5]["spam_signals"]["ip_rate"] == 0


async def test_author_history_raises_and_lowers_the_score(
    api: Api, worker: object, rds: Redis, keys: Keys
) -> None:
    await rds.hset(keys.author("repeat-offender"), mapping={"rejected": 4})
    await rds.hset(keys.author("regular"), mapping={"approved": 40})
    text = "Interesting point about the transport plan, see the figures"
    bad = await post_and_decide(api, comment("a1", text, "repeat-offender"))
    fresh = await post_and_decide(api, comment("a2", text + ".", "newcomer"))
    good = await post_and_decide(api, comment("a3", text + "!", "regular"))
    assert bad["spam_signals"]["author_rejected"] == 4
    assert good["spam_signals"]["author_approved"] == 40
    assert bad["spam_score"] > fresh["spam_score"] > good["spam_score"]


# --- decisions -------------------------------------------------------------------------------


async def test_spam_is_held_with_its_explanation(api: Api, worker: object) -> None:
    data = await post_and_decide(
        api, comment(text="Make money from home!! Visit hxxp://cash-now[.]biz/start")
    )
    assert data["status"] == "held"
    assert data["reasons"][0]["code"] == "spam"
    s = data["spam_signals"]
    assert s["links"] == 1 and s["obfuscated"] >= 1 and "make money" in s["promo"]
    assert data["spam_score"] >= data["spam_threshold"]


async def test_honeypot_and_too_fast_submissions(api: Api, worker: object) -> None:
    trap = await post_and_decide(api, comment(text="Nice article", context={"honeypot": "x"}))
    assert trap["status"] == "held" and trap["spam_signals"]["honeypot"] is True
    import time

    loaded = time.time() - 0.5
    bot = await post_and_decide(
        api,
        comment(text="I fully agree with the author on this", context={"page_loaded_at": loaded}),
    )
    assert bot["spam_signals"]["too_fast"] is True
    assert bot["status"] == "held"
    human = await post_and_decide(
        api,
        comment(text="I fully agree with the author here", context={"page_loaded_at": loaded - 90}),
    )
    assert human["spam_signals"]["too_fast"] is False
    assert human["status"] == "approved"


async def test_blatant_spam_is_rejected_when_configured(api: Api, settings: Settings) -> None:
    async with running_worker(settings.with_overrides(spam_reject=0.95)):
        data = await post_and_decide(
            api, comment(text="click here: bit.ly/free-cash", context={"honeypot": "filled"})
        )
    assert data["status"] == "rejected"
    assert "spam_blatant" in data["rules"]


async def test_trusted_author_skips_the_spam_hold(
    api: Api, worker: object, rds: Redis, keys: Keys
) -> None:
    await rds.hset(keys.author("staff"), "state", "trusted")
    text = "Check out my new video on our channel: https://example.org/video"
    trusted = await post_and_decide(api, comment(text=text, author="staff"))
    stranger = await post_and_decide(api, comment(text=text, author="stranger"))
    assert trusted["status"] == "approved"
    assert stranger["status"] == "held"


# --- learning from moderators ------------------------------------------------------------------


async def test_feedback_changes_later_scores(
    api: Api, worker: object, rds: Redis, keys: Keys, settings: Settings
) -> None:
    # Watch adverts: no link, no phrase from the lexicon, so the cold start thinks little of it.
    probe = "Luxury replica watches for sale, genuine swiss movement, lowest prices guaranteed"
    before = await post_and_decide(api, comment("p1", probe, "p1"))
    assert before["status"] == "approved"
    assert before["spam_signals"]["learned_from"] == 0
    for i, text in enumerate(
        [
            "Replica watches for sale, swiss movement, best prices",
            "Luxury watches, swiss replica, lowest prices online",
            "Genuine swiss movement replica watches at low prices",
        ]
    ):
        done = await post_and_decide(api, comment(f"s{i}", text, f"s{i}"))
        learned = await record_feedback(
            rds, keys, await record_of(rds, keys, done["id"]), "spam", settings=settings
        )
        assert learned is True
    after = await post_and_decide(api, comment("p2", probe + ".", "p2"))
    assert after["spam_signals"]["learned_from"] == 3
    assert after["spam_signals"]["text_logit"] > 1.0
    assert after["spam_score"] > before["spam_score"] + 0.3
    assert after["status"] == "held"

    # And the other way: moderators approving held comments teach the model they are fine.
    promo = "Check out my garden photos from the allotment this summer"
    held = await post_and_decide(api, comment("g0", promo, "g0"))
    assert held["status"] == "held"
    for i in range(3):
        text = f"Check out my garden photos: the allotment in week {i + 1}"
        done = await post_and_decide(api, comment(f"g{i + 1}", text, f"g{i + 1}"))
        await record_feedback(
            rds, keys, await record_of(rds, keys, done["id"]), "ham", settings=settings
        )
    later = await post_and_decide(api, comment("g9", promo + "!", "g9"))
    assert later["spam_score"] < held["spam_score"] - 0.2
    assert (
        later["spam_signals"]["contributions"]["promo"]
        < held["spam_signals"]["contributions"]["promo"]
    )


async def test_feedback_is_idempotent_per_label(
    api: Api, worker: object, rds: Redis, keys: Keys, settings: Settings
) -> None:
    done = await post_and_decide(api, comment(text="Cheap loans approved in minutes, apply"))
    record = await record_of(rds, keys, done["id"])
    assert await record_feedback(rds, keys, record, "spam", settings=settings) is True
    weights = await rds.hgetall(keys.spam_weights)
    assert weights
    assert await record_feedback(rds, keys, record, "spam", settings=settings) is False
    assert await rds.hgetall(keys.spam_weights) == weights
    # A moderator changing their mind is learned.
    assert await record_feedback(rds, keys, record, "ham", settings=settings) is True
    assert await rds.hgetall(keys.spam_weights) != weights
    assert await rds.hmget(keys.spam_model_meta, ["spam", "ham", "version"]) == [b"1", b"1", b"2"]


async def test_concurrent_feedback_is_never_lost(
    rds: Redis, keys: Keys, settings: Settings
) -> None:
    """Many moderators at once, each on its own connection: every label lands."""
    records = [
        CommentRecord(
            id=f"01K{n:023d}",
            article_id="a",
            text=f"Buy followers now, cheap package number {n}",
            author=_author(f"u{n}"),
            created_at=1_700_000_000_000 + n,
            site="t",
        )
        for n in range(20)
    ]
    clients = [Redis.from_url(settings.resolved_redis_url()) for _ in range(4)]
    try:
        await asyncio.gather(
            *(
                record_feedback(clients[n % 4], keys, r, "spam", settings=settings)
                for n, r in enumerate(records)
            )
        )
    finally:
        for c in clients:
            await c.aclose()
    assert await rds.hget(keys.spam_model_meta, "spam") == b"20"
    # Never scored automatically: learned from the text and its text signals.
    scorer = SpamScorer(rds, keys, settings)
    [result] = await scorer.score(
        [SpamInput(records[0], normalize("Buy followers now, cheap package number 99"))]
    )
    assert result.signals["learned_from"] == 20
    assert result.score > 0.9


async def test_worker_weight_cache_follows_the_model_version(
    rds: Redis, keys: Keys, settings: Settings
) -> None:
    """A worker caches weights between batches, but never scores with weights older than
    the model version it read: feedback from anywhere invalidates the cache."""
    scorer = SpamScorer(rds, keys, settings)
    text = "Cheap replica handbags, designer quality, free shipping worldwide"
    record = CommentRecord(
        id="01N" + "0" * 23,
        article_id="a",
        text=text,
        author=_author("u"),
        created_at=1_700_000_000_000,
        site="t",
    )
    item = SpamInput(record, normalize(text))
    [first] = await scorer.score([item])
    # Nothing learned since: the second batch reads no weights at all.
    pipe = rds.pipeline(transaction=False)
    pending = await scorer.model.queue_read(pipe, rds, np.flatnonzero(scorer.model._known))
    assert pending.missing == [] and pending.replies == 1
    await pipe.execute()
    # Another process (a moderator's request) teaches the model; this scorer must see it.
    other = Redis.from_url(settings.resolved_redis_url())
    try:
        for n in range(3):
            similar = CommentRecord(
                id=f"01P{n:023d}",
                article_id="a",
                text=f"Replica designer handbags, cheap, free shipping {n}",
                author=_author(f"s{n}"),
                created_at=1_700_000_000_000 + n,
                site="t",
            )
            await record_feedback(other, keys, similar, "spam", settings=settings)
    finally:
        await other.aclose()
    [second] = await scorer.score([item])
    assert second.signals["learned_from"] == 3
    assert second.score > first.score + 0.2


async def test_the_weight_cache_holds_the_whole_feature_space(rds: Redis, keys: Keys) -> None:
    """The cache never overflows: once a worker has read every feature's weight (far more
    than any batch holds), a batch reads none again, and what it returns is the model's."""
    model = OnlineModel(keys, 0.5, cache=True)
    await rds.hset(keys.spam_weights, mapping={"100": "0.25", str(N_BUCKETS - 1): "-0.5"})
    every = range(N_BUCKETS)
    for chunk in range(0, N_BUCKETS, 65_536):
        await model.read(rds, every[chunk : chunk + 65_536])
    pipe = rds.pipeline(transaction=False)
    pending = await model.queue_read(pipe, rds, every)
    assert pending.missing == [] and pending.replies == 1
    state = await model.finish_read(rds, pending, await pipe.execute())
    assert dict(state.weights) == {100: 0.25, N_BUCKETS - 1: -0.5}
    # A model without a cache reads every weight each time.
    plain = OnlineModel(keys, 0.5)
    assert dict((await plain.read(rds, [100, 7, N_BUCKETS - 1])).weights) == {
        100: 0.25,
        N_BUCKETS - 1: -0.5,
    }
    pipe = rds.pipeline(transaction=False)
    assert (await plain.queue_read(pipe, rds, [100])).missing == [100]


async def test_weights_read_alike_from_a_small_and_a_large_hash(rds: Redis, keys: Keys) -> None:
    """``spam_weights.lua`` reads a hash no larger than the lookups (or a listpack-sized one)
    whole and looks the features up itself, and a larger one field by field: the same weights
    either way, absent ones 0."""
    plain = OnlineModel(keys, 0.5)
    small = {str(i): str(i / 1000) for i in range(1, 6)}
    await rds.hset(keys.spam_weights, mapping=small)
    wanted = [3, 4, 999, 5]
    assert dict((await plain.read(rds, wanted)).weights) == {3: 0.003, 4: 0.004, 5: 0.005}
    # Past 128 fields and more than the lookups: read field by field.
    await rds.hset(keys.spam_weights, mapping={str(i): str(i / 1000) for i in range(6, 400)})
    assert dict((await plain.read(rds, wanted)).weights) == {3: 0.003, 4: 0.004, 5: 0.005}
    # As many lookups as fields: read whole again, the same answer.
    many = list(range(0, 450))
    state = await plain.read(rds, many)
    assert dict(state.weights) == {i: i / 1000 for i in range(1, 400)}


async def test_scoring_costs_two_round_trips_per_batch(
    rds: Redis, keys: Keys, settings: Settings
) -> None:
    """Whatever the batch size: one pipeline for everything (near-duplicate candidates come
    from one script call); confirming them needs no second round trip when this process
    indexed them itself (its signature cache), else one MGET."""
    scorer = SpamScorer(rds, keys, settings)
    await scorer.score([])  # nothing to do, nothing sent
    calls: list[int] = []
    original = rds.pipeline

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    rds.pipeline = counting  # type: ignore[method-assign]
    try:
        items = [
            SpamInput(
                CommentRecord(
                    id=f"01M{n:023d}",
                    article_id=f"a{n % 3}",
                    text=f"{CAMPAIGN} {n}",
                    author=_author(f"u{n % 5}"),
                    created_at=1_700_000_000_000 + n,
                    site="t",
                ),
                normalize(f"{CAMPAIGN} {n}"),
            )
            for n in range(32)
        ]
        results = await scorer.score(items)
    finally:
        rds.pipeline = original  # type: ignore[method-assign]
    assert len(results) == 32
    assert len(calls) == 1
    assert results[-1].signals["dup_count"] > 0


# --- the batch script's type checks -------------------------------------------------------------


def _records(n: int) -> list[CommentRecord]:
    base = 1_700_000_000_000
    return [
        CommentRecord(
            id=f"poison{i:03d}",
            article_id="a1",
            text=f"{CAMPAIGN} number {i}",
            author=Author(id=f"pu{i}", name="Reader"),
            created_at=base + i,
            site="test",
            context=Context(ip=f"10.9.0.{i}"),
        )
        for i in range(n)
    ]


async def test_a_poisoned_ip_key_refuses_the_batch_before_any_write(
    settings: Settings, rds: Redis, keys: Keys
) -> None:
    records = _records(3)
    ip = Pseudonyms(rds, keys).of  # the sets are named by the addresses' keyed hashes
    await rds.set(keys.spam_ip_posts(await ip("10.9.0.2")), "not a sorted set")
    scorer = SpamScorer(rds, keys, settings)
    try:
        await scorer.score([SpamInput(r, normalize(r.text)) for r in records])
    except Exception as exc:
        assert "WRONGTYPE" in str(exc)
    else:
        raise AssertionError("the batch was scored over a key of the wrong type")
    # Nothing written: no IP set, no LSH band, no signature of any comment of the batch.
    unused = [keys.spam_ip_posts(await ip(f"10.9.0.{i}")) for i in (0, 1)]
    assert await rds.exists(*unused) == 0
    assert [k async for k in rds.scan_iter(f"{keys.prefix}:spam:lsh:*")] == []
    assert [k async for k in rds.scan_iter(f"{keys.prefix}:spam:sig:*")] == []


async def test_a_poisoned_author_key_only_loses_that_authors_velocity(
    settings: Settings, rds: Redis, keys: Keys
) -> None:
    """Author keys are read, never written, by the batch script: a wrong type there counts as
    nothing (the transition, which writes them, refuses it and holds the comment)."""
    records = _records(3)
    await rds.set(keys.author_comments("pu1"), "not a sorted set")
    await rds.set(keys.author("pu2"), "not a hash")
    scorer = SpamScorer(rds, keys, settings)
    results = await scorer.score([SpamInput(r, normalize(r.text)) for r in records])
    assert [r.signals["author_rate"] for r in results] == [0, 0, 0]
    assert [r.signals["author_rejected"] for r in results] == [0, 0, 0]
    # The batch itself was indexed: the copies see each other.
    assert [r.signals["dup_count"] for r in results] == [0, 1, 2]
