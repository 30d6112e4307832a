"""``?wait=``: many concurrent waiters share one subscription, not a connection each."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from bench.httpclient import Connection
from moderation.evaluation.corpus import prose
from moderation.keys import Keys
from moderation.messages import Role, Status
from moderation.settings import Settings
from moderation.store.apikeys import create_key
from moderation.store.subscription import Subscription
from moderation.store.waiters import (
    DecisionWaiters,
    Published,
    parse_message,
    record,
)
from tests.conftest import comment, linear_scorer, running_worker, served_api, wait_for

WAITERS = 1000


async def test_a_thousand_concurrent_waiters_on_one_api_process(
    settings: Settings, rds: Redis
) -> None:
    key = await create_key(rds, Keys(), "bulk-site", Role.SITE)
    linear_scorer()  # load the model now, not while the waiters' clocks run
    headers = {"Authorization": f"Bearer {key}"}
    with served_api(settings) as base:
        connections = [Connection(base) for _ in range(WAITERS)]
        try:
            tasks = [
                asyncio.create_task(
                    conn.post_json(
                        "/v1/comments?wait=10",
                        comment(article=f"w{i % 10}", text=prose(i), author=f"waiter-{i}"),
                        headers,
                    )
                )
                for i, conn in enumerate(connections)
            ]

            async def all_queued() -> bool:
                return int(await rds.xlen(Keys().stream)) == WAITERS

            loop = asyncio.get_running_loop()
            t0 = loop.time()
            await wait_for(all_queued, timeout=30, interval=0.1)
            print(f"queued {WAITERS} in {loop.time() - t0:.2f}s")
            # Every request is now parked in the API waiting for its decision; count the
            # connections Redis sees: at most the API's bounded pool (opened during the burst of
            # submissions), its one subscription and this test's client, not one per waiter.
            clients = await rds.client_list()
            api_conns = [c for c in clients if c.get("name") == "moderation-api"]
            listeners = [c for c in clients if c.get("name") == "moderation-api-listener"]
            assert 0 < len(api_conns) <= settings.redis_connections, len(api_conns)
            assert len(listeners) == 1
            assert not any(t.done() for t in tasks)

            async with running_worker(settings.with_overrides(batch_size=256)):
                replies = await asyncio.gather(*tasks)
            print(f"all answered after {loop.time() - t0:.2f}s")
        finally:
            await asyncio.gather(*(c.close() for c in connections))
    assert [r.status for r in replies] == [201] * WAITERS
    held = [r.json() for r in replies if r.json()["status"] != "approved"]
    assert not held, [(h["text"], h["spam_signals"]) for h in held[:2]]
    counts = {f"w{i}": 100 for i in range(10)}
    for aid, n in counts.items():
        assert await rds.zcard(Keys().approved(aid)) == n


async def test_wait_wakes_as_soon_as_the_decision_lands(settings: Settings, rds: Redis) -> None:
    from tests.conftest import running_api

    async with running_api(settings) as api:
        post = asyncio.create_task(api.post_comment(comment(text="patience"), wait=10))
        await wait_for(lambda: rds.xlen(Keys().stream))
        await asyncio.sleep(0.3)
        assert not post.done()
        loop = asyncio.get_running_loop()
        async with running_worker(settings):
            started = loop.time()
            r = await post
            woke_after = loop.time() - started
    assert r.status_code == 201 and r.json()["status"] == "approved"
    assert woke_after < 5  # woken by the decision, not by the 10 s deadline


async def test_only_the_first_transition_answers_from_its_message(
    settings: Settings, rds: Redis
) -> None:
    """The first message after the registration carries the decision of the submission as
    stored; after an edit's ``pending`` (which replaced the document) the status is read back
    instead. A message this release cannot parse only wakes the waiter to read."""
    keys = Keys()
    subscription = Subscription(Redis.from_url(settings.resolved_redis_url()))
    waiters = DecisionWaiters(subscription, keys.decided_channel)
    await subscription.start()
    # (Connecting wakes every waiter to re-read: register after it.)
    await asyncio.wait_for(subscription.connected.wait(), 5)
    try:
        statuses = {"c1": Status.APPROVED, "c2": Status.HELD, "c3": Status.APPROVED}

        async def status_of(cid: str) -> Status:
            return statuses[cid]

        async def announce(*messages: bytes) -> None:
            await asyncio.sleep(0.05)
            for m in messages:
                await rds.publish(keys.decided_channel, m)

        first = waiters.expect("c1")
        task = asyncio.create_task(
            announce(record("c1", "approved", 1_700_000_000_123, b"\x9c\x02 blob"))
        )
        status, published = await waiters.wait("c1", 5, lambda: status_of("c1"), first)
        await task
        assert status is Status.APPROVED and published is not None
        assert (published.updated_at, published.decision) == (1_700_000_000_123, b"\x9c\x02 blob")

        edited = waiters.expect("c2")
        task = asyncio.create_task(
            announce(record("c2", "pending", 1, b"x"), record("c2", "held", 2, b"\x9c"))
        )
        status, published = await waiters.wait("c2", 5, lambda: status_of("c2"), edited)
        await task
        assert (status, published) == (Status.HELD, None)

        odd = waiters.expect("c3")
        task = asyncio.create_task(announce(b"c3 approved"))  # an older release's form
        status, published = await waiters.wait("c3", 5, lambda: status_of("c3"), odd)
        await task
        assert (status, published) == (Status.APPROVED, None)

        # A message read only in part: its whole records answer their waiters, and every
        # other waiter reads its status (it may have been named in the part not understood).
        statuses.update(c4=Status.HELD, c5=Status.APPROVED)
        whole, other = waiters.expect("c4"), waiters.expect("c5")
        message = record("c4", "held", 4, b"\x9c") + b"c5 approved x"
        task = asyncio.create_task(announce(message))
        got = await asyncio.wait_for(  # woken by the message, long before their deadline
            asyncio.gather(
                waiters.wait("c4", 60, lambda: status_of("c4"), whole),
                waiters.wait("c5", 60, lambda: status_of("c5"), other),
            ),
            10,
        )
        await task
        assert got[0] == (Status.HELD, Published(Status.HELD, 4, b"\x9c"))
        assert got[1] == (Status.APPROVED, None)
        assert waiters.count == 0
    finally:
        await subscription.stop()


def test_one_message_carries_a_whole_batch_of_records() -> None:
    """``transition_batch.lua`` announces its batch in one message: records concatenated, each
    decision's length telling where its binary blob (spaces and all) ends; a record with a
    status this release does not know is still told apart (its waiter reads the status)."""
    message = (
        record("c1", "approved", 17, b"a b\x00c")
        + record("c2", "someday", 18, b"")
        + record("c3", "held", 19, b"\x9c 4 x")
    )
    assert parse_message(message)[0] == [
        ("c1", Published(Status.APPROVED, 17, b"a b\x00c")),
        ("c2", None),
        ("c3", Published(Status.HELD, 19, b"\x9c 4 x")),
    ]
    # A cut or foreign message yields what it holds whole, and says it was not read whole
    # (its waiters left then read their status).
    assert parse_message(message)[1] is True
    assert parse_message(message[:-1]) == (parse_message(message)[0][:2], False)
    assert parse_message(b"c3 approved") == ([], False)
