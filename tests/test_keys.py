"""Key names: every user-supplied id is one encoded part, so no id reaches another key."""

from __future__ import annotations

import itertools

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from moderation.keys import CommentField, Keys, part
from moderation.messages import Author, CommentRecord
from moderation.store.comments import Store
from tests.conftest import Api, comment, wait_for

K = Keys()

IDS = ["x", "x:comments", "x:held", "x%3Acomments", "x%", "{x}", "x:approved", "a:b:c", ""]


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("reader-17", "reader-17"),
        ("2026/11/budget", "2026/11/budget"),
        ("x:comments", "x%3Acomments"),
        ("x%3Acomments", "x%253Acomments"),
        ("{tag}", "%7Btag%7D"),
    ],
)
def test_part_escapes_only_what_means_something(raw: str, encoded: str) -> None:
    assert part(raw) == encoded
    assert ":" not in part(raw)


def test_no_two_ids_share_a_key() -> None:
    """Every per-id key of every kind, for ids built to collide, is a distinct name."""
    makers = [
        K.comment,
        K.approved,
        K.article_held,
        K.article_settings,
        K.author,
        K.author_comments,
        K.spam_ip_posts,
        K.spam_learned,
        K.worker,
        lambda v: K.flood("author", v),
        lambda v: K.flood("ip", v),
        lambda v: K.audit_index("author", v),
        lambda v: K.for_site(v).idempotency(0),
        # A site's keys: no site id and article or author id meet another site's names.
        lambda v: K.for_site(v).approved("a"),
        lambda v: K.for_site(v).author("a"),
        lambda v: K.for_site(v).policy,
        lambda v: K.for_site("a").approved(v),
        lambda v: K.for_site("a").author(v),
    ]
    names = [make(v) for make, v in itertools.product(makers, IDS)]
    assert len(names) == len(set(names))


async def test_an_author_id_naming_another_authors_key_is_harmless(
    api: Api, worker: object, rds: Redis
) -> None:
    """The attack: author ``colla`` then ``colla:comments`` (which used to be the first one's
    comment list) — both accepted, both decided, each author's records their own."""
    first = await api.post_comment(comment(author="colla", text="First thoughts on the budget."))
    second = await api.post_comment(
        comment(author="colla:comments", text="Second thoughts on the budget.")
    )
    assert first.status_code == 202, first.text
    assert second.status_code == 202, second.text
    ids = [first.json()["id"], second.json()["id"]]

    async def decided() -> bool:
        pipe = rds.pipeline(transaction=False)
        for i in ids:
            pipe.hget(K.comment(i), CommentField.STATUS)
        return all(s in (b"approved", b"held") for s in await pipe.execute())

    await wait_for(decided)
    assert await rds.zrange(K.author_comments("colla"), 0, -1) == [ids[0].encode()]
    assert await rds.zrange(K.author_comments("colla:comments"), 0, -1) == [ids[1].encode()]
    assert await rds.type(K.author("colla")) == b"hash"
    assert await rds.type(K.author("colla:comments")) == b"hash"


def _comment(comment_id: str, *, author: str) -> CommentRecord:
    """A comment submitted straight to the store (``Store.submit``), not through the API."""
    return CommentRecord(
        id=comment_id,
        article_id="a1",
        text="hello",
        author=Author(id=author, name=author.title()),
        site="default",
        created_at=1,
    )


async def test_submit_refuses_before_its_first_write(rds: Redis) -> None:
    """A key of the wrong type fails the script before anything is written: no comment hash,
    no stream entry, no counters — not a comment half stored."""
    store = Store(rds, K)
    await rds.set(K.author("squatter"), "not a hash")
    record = _comment("01KAXD6Y8V3N9TQ2J5ZB7W4H1C", author="squatter")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await store.submit(record, "digest", None, 60)
    assert await rds.exists(K.comment(record.id)) == 0
    assert await rds.xlen(K.stream) == 0
    assert await rds.hget(K.counters, "accepted") is None
    assert await rds.zcard(K.pending) == 0


async def test_submit_refuses_a_comment_hash_of_the_wrong_type_before_any_write(
    rds: Redis,
) -> None:
    """The comment hash is the script's first write, checked by that write alone: when it is
    not a hash, nothing else is written either (flood state, stream, counters, lists)."""
    store = Store(rds, K)
    record = _comment("01KAXD6Y8V3N9TQ2J5ZB7W4H1D", author="reader")
    await rds.set(K.comment(record.id), "not a hash")
    before = set(await rds.keys("*"))
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await store.submit(record, "digest", "idem-key", 60)
    assert set(await rds.keys("*")) == before
    assert await rds.get(K.comment(record.id)) == b"not a hash"
