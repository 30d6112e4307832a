"""Compact hot records and retention (#12): decisions round-trip their compact encoding,
retention moves decided comments out of Redis with counts exact and reads unchanged, personal
data leaves both stores in time, and no key name holds a clear IP address."""

from __future__ import annotations

import time

import msgspec
import pytest
import sqlalchemy as sa
from redis.asyncio import Redis as AsyncRedis

from moderation.keys import CommentField, Keys
from moderation.messages import (
    Author,
    Automation,
    CommentRecord,
    Context,
    Decision,
    Ground,
    ModelInfo,
    Reason,
    Restriction,
    Source,
    SpamResult,
    Statement,
    Status,
)
from moderation.record import Record
from moderation.record.schema import comments
from moderation.settings import Settings
from moderation.store import compression, decisions, records
from moderation.store.codec import as_str
from moderation.store.records import decode_record, encode_record
from tests.conftest import comment, running_api, running_worker, wait_for
from tests.moderation_support import held
from tests.record_support import archive_all
from workers.archiver import Archiver

DAY_MS = 86_400_000

GROUND = Ground(
    id="rules:spam", kind="rules", title="No spam", reference="Rules 2.1", covers=["spam"]
)


def _statement(**over: object) -> Statement:
    base = {
        "restriction": Restriction.HIDDEN_PENDING_REVIEW,
        "facts": ["spam 0.94 ≥ threshold 0.50"],
        "codes": ["spam"],
        "automated_detection": True,
        "automated_decision": Automation.FULLY,
        "source": Source.OWN_INITIATIVE,
        "ground": GROUND,
        "redress": "You can appeal.",
    }
    return Statement(**{**base, **over})  # type: ignore[arg-type]


DECISIONS = [
    # An automatic hold: every score, every spam signal (nested values too), a statement whose
    # facts and codes are the reasons'.
    Decision(
        status=Status.HELD,
        by="auto",
        decided_at=1_700_000_000_123,
        reasons=[Reason("spam", "spam 0.94 ≥ threshold 0.50", score=0.9393, threshold=0.5)],
        scores={"toxicity": 0.0, "insult": 0.125, "threat": 1e-09},
        spam=SpamResult(
            0.9393,
            {
                "links": 1,
                "link_share": 0.084,
                "domains": ["t.co"],
                "honeypot": False,
                "contributions": {"bias": -2.0, "has_link": 1.2},
                "promo": [],
            },
        ),
        thresholds={"toxicity": 0.8, "insult": 0.6},
        spam_threshold=0.5,
        model=ModelInfo(name="detoxify", version="original", device="cuda", runtime="torch-bf16"),
        rules=["links"],
        statement=_statement(),
    ),
    # A moderator's rejection: a note, a statement of its own facts and codes, no model.
    Decision(
        status=Status.REJECTED,
        by="moderator:ann",
        decided_at=1_700_000_100_000,
        reasons=[Reason("moderator:harassment", "Harassment", words=["zonk"])],
        note="repeat offender",
        statement=_statement(
            restriction=Restriction.REMOVED,
            facts=["A moderator found harassment."],
            codes=["moderator:harassment"],
            automated_detection=False,
            automated_decision=Automation.NOT,
        ),
    ),
    # Score reasons: worded as the format words them (the message left out), an unscaled
    # score, an integer threshold, a wording of its own, a negative zero.
    Decision(
        status=Status.REJECTED,
        by="auto",
        decided_at=1_700_000_200_000,
        reasons=[
            Reason("toxicity", "insult 0.81 ≥ threshold 0.60", "insult", 0.8105, 0.6),
            Reason("toxicity", "threat 0.91 ≥ threshold 1.00", "threat", 0.912345678, 1),
            Reason("spam_blatant", "spam 0.99 ≥ reject level 0.95", None, 0.9901, 0.95),
            Reason("spam", "looks like spam to me", None, 0.7, 0.5),
            Reason("spam", "spam -0.00 ≥ threshold 0.50", None, -0.0, 0.5),
        ],
    ),
    # The smallest: an approval with nothing to say, and a deletion.
    Decision(status=Status.APPROVED, by="auto", decided_at=1),
    Decision(status=Status.DELETED, by="site:www", decided_at=2, spam=SpamResult(0.0)),
]


def test_the_automatic_actor_takes_one_byte() -> None:
    """``auto``, the actor of nearly every decision, is a code in the blob; any other name is
    kept as it is, one of four letters too."""
    encoder = decisions.Encoder()
    auto = DECISIONS[3]
    other = msgspec.structs.replace(auto, by="site")
    assert len(encoder.encode(other)) - len(encoder.encode(auto)) == 4
    assert decisions.decode(encoder.encode(other)).by == "site"


@pytest.mark.parametrize("decision", DECISIONS)
async def test_a_decision_round_trips_its_compact_encoding(
    decision: Decision, rds: AsyncRedis
) -> None:
    keys = Keys()
    encoder = decisions.Encoder()
    blob = encoder.encode(decision)
    await encoder.save(rds, keys)
    assert len(blob) < len(msgspec.json.encode(decision))
    # Identical, field for field and in the same order: the explanation shown is the one made.
    assert decisions.decode(blob) == decision
    assert msgspec.json.encode(decisions.decode(blob)) == msgspec.json.encode(decision)
    assert decisions.as_json(blob) == msgspec.json.encode(decision).decode()
    # Shared facts are stored once, by digest, and read back by a process that lacks them.
    assert await rds.hexists(keys.decision_facts, decisions.facts_of(blob))
    decisions._cache.clear()
    (again,) = await decisions.decode_many(rds, keys, [blob])
    assert again == decision


@pytest.mark.parametrize(
    "value",
    [
        0.0, -0.0, 0.19, -2.0, 0.4162, 81.377, 1e-09, 0.1 + 0.2, 3.5e38, 1e300,
        float("inf"), float("-inf"), 0.30000001192092896, 214_747.9999, 7, True, None, "x",
        [0.5, [0.25, {"a": 0.1}]], {"bias": -2.0, "caps": 0.19, "z": [1, 0.0]}, {},
    ],
)  # fmt: skip
def test_packed_values_come_back_identical(value: object) -> None:
    names: dict[str, int] = {}
    packed = decisions.pack_values([value, value], names)
    wire = msgspec.msgpack.decode(msgspec.msgpack.encode(packed), type=decisions.Packed)
    back = decisions.unpack_values(wire, tuple(names))
    assert back == [value, value]
    assert msgspec.json.encode(back) == msgspec.json.encode([value, value])  # 0.0 stays a float
    if isinstance(value, float):  # never bigger than the float64 it replaces (a bitmap aside)
        assert len(msgspec.msgpack.encode(packed.values)) <= 1 + 2 * 9


def test_a_nan_signal_survives_packing() -> None:
    (back,) = decisions.unpack_values(decisions.pack_values([float("nan")], {}), ())
    assert isinstance(back, float) and back != back


def test_packed_values_that_do_not_match_the_facts_are_refused() -> None:
    names: dict[str, int] = {}
    packed = decisions.pack_values([{"bias": -2.0}], names)
    with pytest.raises(msgspec.DecodeError):
        decisions.unpack_values(packed, ())  # the name table lacks "bias"


def test_every_status_has_a_code_and_a_worded_reason_is_small() -> None:
    assert set(decisions._STATUSES) == set(Status)
    held = decisions.Encoder().encode(DECISIONS[0])
    reason = Reason("spam", "spam 0.94 ≥ threshold 0.50", score=0.9393, threshold=0.5)
    (packed,) = decisions.split(msgspec.structs.replace(DECISIONS[0], reasons=[reason]))[0].reasons
    assert packed.message is None and len(msgspec.msgpack.encode(decisions.wire(packed))) <= 14
    assert decisions.decode(held).reasons == [reason]
    # A message the wording does not give back is kept as made.
    (kept,) = decisions.split(DECISIONS[2])[0].reasons[3:4]
    assert kept.message == "looks like spam to me"


def test_a_packed_decision_is_smaller_than_its_plain_msgpack() -> None:
    decision = DECISIONS[0]
    blob, _ = decisions.split(decision, {})
    assert decision.spam is not None
    plain = msgspec.msgpack.encode([list(decision.scores.values()), decision.spam.score,
                                    list(decision.spam.signals.values())])  # fmt: skip
    packed = msgspec.msgpack.encode([blob.scores, blob.spam])
    assert len(packed) < 0.75 * len(plain)


async def test_decisions_under_one_policy_share_one_facts_entry(rds: AsyncRedis) -> None:
    keys = Keys()
    encoder = decisions.Encoder()
    first = DECISIONS[0]
    for i in range(50):
        other = msgspec.structs.replace(first, decided_at=first.decided_at + i)
        encoder.encode(other)
    await encoder.save(rds, keys)
    assert await rds.hlen(keys.decision_facts) == 1
    # A corrupt blob or one of an unknown format explains nothing; it is no crash.
    assert await decisions.decode_many(rds, keys, [b"\x93junk", b"", None]) == [None] * 3
    with pytest.raises(msgspec.DecodeError):
        decisions.decode(msgspec.msgpack.encode([99, b"x", "held", "auto", 1]))


async def test_no_key_name_holds_a_clear_ip_address(settings: Settings, rds: AsyncRedis) -> None:
    settings = settings.with_overrides(flood_ip_interval_s=1.0, flood_ip_burst=100)
    addresses = ["198.51.100.7", "198.51.100.8", "2001:db8::1"]
    async with running_api(settings) as api, running_worker(settings):
        ids = []
        for i, ip in enumerate(addresses * 2):
            body = comment(author=f"ip-reader-{i}", text=f"A fair point about the budget {i}.",
                           context={"ip": ip})  # fmt: skip
            ids.append((await api.post_comment(body)).json()["id"])
        # A failed sign-in from the test client's address counts under a keyed hash too.
        await api.client.get("/v1/moderation/queue", headers={"Authorization": "Bearer nope"})

        async def decided() -> bool:
            keys = Keys(settings.key_prefix)
            return await rds.zcard(keys.pending) == 0

        await wait_for(decided, timeout=30)
    names = [as_str(k) async for k in rds.scan_iter(count=1000)]
    assert any(":spam:ip:" in n for n in names) and any(":flood:ip:" in n for n in names)
    for name in names:
        for ip in [*addresses, "2001:db8::", "127.0.0.1"]:
            assert ip not in name, name


async def _post_and_decide(api: object, rds: AsyncRedis, settings: Settings) -> list[str]:
    ids = []
    for i in range(6):
        body = comment(
            article="a/retained",
            author=f"kept-{i % 3}",
            text=f"Thanks for the careful reporting on the housing figures, part {i}.",
            context={"ip": f"203.0.113.{i + 1}", "user_agent": "Mozilla/5.0 Test"},
        )
        body["author"]["email"] = f"reader{i}@example.org"
        ids.append((await api.post_comment(body)).json()["id"])  # type: ignore[attr-defined]
    keys = Keys(settings.key_prefix)

    async def decided() -> bool:
        return await rds.zcard(keys.pending) == 0

    await wait_for(decided, timeout=30)
    return ids


async def test_retention_moves_decided_comments_out_and_counts_stay_exact(
    record_settings: Settings, record: Record, rds: AsyncRedis
) -> None:
    settings = record_settings
    keys = Keys(settings.key_prefix)
    async with running_api(settings) as api:
        async with running_worker(settings):
            ids = await _post_and_decide(api, rds, settings)
        # A held comment stays until decided, however old. Held with no worker running, which
        # would otherwise race the hold and decide the comment first.
        ids.append(
            await held(api, rds, text="Is this a link farm? example.com", article="a/retained")
        )
        await archive_all(settings, record)

        async def read() -> tuple[list[bytes], bytes, bytes]:
            one = [
                (await api.client.get(f"/v1/comments/{c}", headers=api.auth())).content for c in ids
            ]
            count = (await api.client.get("/v1/counts", params={"article": "a/retained"})).content
            page = (
                await api.client.get("/v1/articles/a/retained/comments", params={"limit": 10})
            ).content
            return one, count, page

        before = await read()
        statuses = {c: as_str(await rds.hget(keys.comment(c), CommentField.STATUS)) for c in ids}
        approved_before = await rds.zcard(keys.approved("a/retained"))
        archiver = Archiver(settings, rds, record, name="retain-test")

        # Inside retention, nothing moves.
        assert await archiver.retain(int(time.time() * 1000)) == (0, 0)
        assert await rds.exists(*(keys.comment(c) for c in ids)) == len(ids)

        # A comment changed after the record saw it stays until the record has the change.
        changed = next(c for c in ids if statuses[c] == "approved")
        updated = await rds.hget(keys.comment(changed), CommentField.UPDATED)
        await rds.hset(keys.comment(changed), CommentField.UPDATED, "1")

        later = int(time.time() * 1000) + 31 * DAY_MS
        swept, _ = await archiver.retain(later)
        decided = [c for c in ids if statuses[c] in ("approved", "rejected") and c != changed]
        assert swept == len(decided)
        for c in decided:
            assert not await rds.exists(keys.comment(c))
            assert not await rds.zscore(keys.author_comments(f"kept-{ids.index(c) % 3}"), c)
        for c in ids:
            if c not in decided:
                assert await rds.exists(keys.comment(c)), c
        # Approved ids moved from the set to the archived count in the same script.
        moved = int(await rds.hget(keys.archived_counts, "a/retained") or 0)
        assert moved == len([c for c in decided if statuses[c] == "approved"]) > 0
        assert await rds.zcard(keys.approved("a/retained")) + moved == approved_before
        await rds.hset(keys.comment(changed), CommentField.UPDATED, updated)

        after = await read()
        assert after[1] == before[1]  # the count, exact
        for c, was, now in zip(ids, before[0], after[0], strict=True):
            assert now == was, c  # from the record when swept: the same JSON
        assert after[2] == before[2]  # the public list, merged from both tiers

        # A second pass finds nothing more; counts still exact.
        assert (await archiver.retain(later))[0] == 0
        assert (await api.client.get("/v1/counts", params={"article": "a/retained"})).content == (
            before[1]
        )


async def test_personal_data_leaves_both_stores_after_its_period(
    record_settings: Settings, record: Record, rds: AsyncRedis
) -> None:
    settings = record_settings.with_overrides(retention_days=0, personal_data_days=90)
    keys = Keys(settings.key_prefix)
    async with running_api(settings) as api, running_worker(settings):
        ids = await _post_and_decide(api, rds, settings)
        await archive_all(settings, record)
    archiver = Archiver(settings, rds, record, name="pd-test")
    assert await archiver.retain(int(time.time() * 1000)) == (0, 0)  # not yet
    _, stripped = await archiver.retain(int(time.time() * 1000) + 91 * DAY_MS)
    assert stripped == 2 * len(ids)  # each in the record and in Redis
    async with record.engine.connect() as conn:
        docs = [row.doc for row in (await conn.execute(sa.select(comments.c.doc))).all()]
    redis_docs = [
        msgspec.json.encode(
            decode_record(await rds.hget(keys.comment(c), CommentField.DOC), c)
        ).decode()
        for c in ids
    ]
    for doc in docs + redis_docs:
        assert "203.0.113." not in doc and "example.org" not in doc and "Mozilla" not in doc
        assert "Thanks for the careful reporting" in doc  # the text stays


@pytest.mark.parametrize(
    "record",
    [
        CommentRecord(
            id="01J0000000000000000000000A",
            article_id="a/1",
            text='Ünïcode text, quotes " and a newline\n.',
            author=Author(id="u1", name="Ann", email="ann@example.org"),
            created_at=1_700_000_000_000,
            site="www",
            parent_id="01J0000000000000000000000B",
            context=Context(
                ip="2001:db8::1",
                user_agent="UA",
                referrer="https://x.example/",
                page_loaded_at=1_699_999_990_000,
                honeypot="",
            ),
            root_id="01J0000000000000000000000B",
            revision=2,
            edited_at=1_700_000_100_000,
        ),
        CommentRecord(
            id="01J0000000000000000000000C",
            article_id="a",
            text="",
            author=Author("u", "U"),
            created_at=0,
            site="s",
        ),
    ],
)
def test_a_submission_round_trips_its_compact_encoding(record: CommentRecord) -> None:
    raw = encode_record(record)
    assert decode_record(raw, record.id) == record
    assert record.id.encode() not in compression.plain(raw)  # the hash's key names it
    assert len(raw) < len(msgspec.json.encode(record))
    assert decode_record(msgspec.json.encode(record), record.id) == record  # JSON is still read
    assert records.as_json(raw, record.id) == msgspec.json.encode(record)
