"""Flood control at the API: per-author and per-IP limits → 429 with Retry-After, counted."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from moderation.errors import ConfigError
from moderation.keys import Keys
from moderation.settings import Settings
from tests.conftest import comment, running_api


def limited(settings: Settings, **changes: object) -> Settings:
    values: dict[str, object] = {
        "flood_author_interval_s": 10.0,
        "flood_author_burst": 3,
        "flood_ip_interval_s": 0.0,
        "flood_ip_burst": 10,
    }
    values.update(changes)
    return settings.with_overrides(**values)


async def test_author_over_the_limit_gets_429_with_retry_after(
    settings: Settings, rds: Redis, keys: Keys
) -> None:
    async with running_api(limited(settings)) as api:
        for i in range(3):  # the burst
            r = await api.post_comment(comment(text=f"comment {i}", author="eager"))
            assert r.status_code == 202, r.text
        refused = await api.post_comment(comment(text="one too many", author="eager"))
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 10
        error = refused.json()["error"]
        assert error["code"] == "rate_limited"
        assert error["field"] == "author.id"
        assert error["limit"] == "author"
        assert error["retry_after_s"] == int(refused.headers["retry-after"])
        # Nothing was stored for the refused comment.
        assert await rds.zcard(keys.author_comments("eager")) == 3
        # Other authors are not affected.
        other = await api.post_comment(comment(text="hello", author="someone-else"))
        assert other.status_code == 202
    counters = await rds.hgetall(keys.counters)
    assert counters[b"rate_limited"] == b"1"
    assert counters[b"rate_limited:author"] == b"1"
    assert counters[b"accepted"] == b"4"
    minute = int(time.time()) // 60
    per_minute = await rds.hget(keys.minute_counters(minute), "rate_limited")
    if per_minute is None:  # the minute turned over during the test
        per_minute = await rds.hget(keys.minute_counters(minute - 1), "rate_limited")
    assert per_minute == b"1"


async def test_the_limit_refills_at_the_configured_rate(settings: Settings) -> None:
    async with running_api(
        limited(settings, flood_author_interval_s=0.3, flood_author_burst=1)
    ) as api:
        assert (await api.post_comment(comment(text="first", author="a"))).status_code == 202
        assert (await api.post_comment(comment(text="second", author="a"))).status_code == 429
        await asyncio.sleep(0.35)
        assert (await api.post_comment(comment(text="third", author="a"))).status_code == 202


async def test_ip_limit_spans_authors(settings: Settings, rds: Redis, keys: Keys) -> None:
    s = limited(settings, flood_author_interval_s=0.0, flood_ip_interval_s=5.0, flood_ip_burst=2)
    async with running_api(s) as api:
        ip = {"ip": "198.51.100.23"}
        for author in ("sock-1", "sock-2"):
            r = await api.post_comment(comment(text="hi", author=author, context=ip))
            assert r.status_code == 202
        refused = await api.post_comment(comment(text="hi", author="sock-3", context=ip))
        assert refused.status_code == 429
        assert refused.json()["error"]["field"] == "context.ip"
        assert int(refused.headers["retry-after"]) >= 1
        elsewhere = await api.post_comment(
            comment(text="hi", author="sock-3", context={"ip": "198.51.100.99"})
        )
        assert elsewhere.status_code == 202
    assert await rds.hget(keys.counters, "rate_limited:ip") == b"1"


async def test_ipv6_addresses_count_per_64_network(settings: Settings) -> None:
    s = limited(settings, flood_author_interval_s=0.0, flood_ip_interval_s=5.0, flood_ip_burst=1)
    async with running_api(s) as api:
        first = comment(text="hi", author="v6-a", context={"ip": "2001:db8:1:2::1"})
        assert (await api.post_comment(first)).status_code == 202
        same_net = comment(text="hi", author="v6-b", context={"ip": "2001:db8:1:2:ffff::9"})
        assert (await api.post_comment(same_net)).status_code == 429
        other_net = comment(text="hi", author="v6-c", context={"ip": "2001:db8:1:3::1"})
        assert (await api.post_comment(other_net)).status_code == 202


async def test_a_refusal_by_one_limit_does_not_use_up_the_other(settings: Settings) -> None:
    s = limited(settings, flood_author_burst=1, flood_ip_interval_s=60.0, flood_ip_burst=2)
    async with running_api(s) as api:
        ip = {"ip": "192.0.2.1"}
        assert (
            await api.post_comment(comment(text="a", author="x", context=ip))
        ).status_code == 202
        # Refused by the author limit: the IP allowance must be left intact …
        assert (
            await api.post_comment(comment(text="b", author="x", context=ip))
        ).status_code == 429
        # … so another author on that IP still gets the second slot.
        assert (
            await api.post_comment(comment(text="c", author="y", context=ip))
        ).status_code == 202
        assert (
            await api.post_comment(comment(text="d", author="z", context=ip))
        ).status_code == 429


async def test_trusted_authors_and_idempotent_replays_pass(
    settings: Settings, rds: Redis, keys: Keys
) -> None:
    async with running_api(limited(settings, flood_author_burst=1)) as api:
        await rds.hset(keys.author("staff"), "state", "trusted")
        for i in range(5):
            r = await api.post_comment(comment(text=f"update {i}", author="staff"))
            assert r.status_code == 202
        body = comment(text="posted once, retried by the site", author="reader")
        first = await api.post_comment(body, headers={"Idempotency-Key": "k-1"})
        assert first.status_code == 202
        replay = await api.post_comment(body, headers={"Idempotency-Key": "k-1"})
        assert replay.status_code in (200, 202)
        assert replay.json()["id"] == first.json()["id"]
        new = await api.post_comment(comment(text="a new one", author="reader"))
        assert new.status_code == 429


async def test_limits_are_shared_by_api_processes(settings: Settings) -> None:
    """Two app instances (as two uvicorn processes would be) share one author's allowance."""
    s = limited(settings, flood_author_burst=2)
    async with running_api(s) as one, running_api(s) as two:
        assert (await one.post_comment(comment(text="1", author="roamer"))).status_code == 202
        assert (await two.post_comment(comment(text="2", author="roamer"))).status_code == 202
        assert (await one.post_comment(comment(text="3", author="roamer"))).status_code == 429
        assert (await two.post_comment(comment(text="4", author="roamer"))).status_code == 429


async def test_concurrent_bursts_admit_exactly_the_burst(settings: Settings) -> None:
    async with running_api(limited(settings, flood_author_burst=3)) as api:
        replies = await asyncio.gather(
            *(api.post_comment(comment(text=f"c{i}", author="racer")) for i in range(10))
        )
    codes = sorted(r.status_code for r in replies)
    assert codes == [202] * 3 + [429] * 7


def test_flood_and_spam_settings_from_the_environment() -> None:
    s = Settings.from_env(
        {
            "MODERATION_FLOOD_AUTHOR_INTERVAL_S": "15",
            "MODERATION_FLOOD_AUTHOR_BURST": "2",
            "MODERATION_FLOOD_IP_INTERVAL_S": "0",
            "MODERATION_SPAM_ALLOW_DOMAINS": "example.com, news.example.org",
            "MODERATION_SPAM_REJECT": "0.97",
        }
    )
    assert s.flood_author_interval_s == 15.0 and s.flood_author_burst == 2
    assert s.flood_ip_interval_s == 0.0
    assert s.spam_allow_domains == ("example.com", "news.example.org")
    assert s.spam_reject == 0.97
    for bad in (
        {"MODERATION_FLOOD_AUTHOR_BURST": "0"},
        {"MODERATION_FLOOD_IP_INTERVAL_S": "-1"},
        {"MODERATION_SPAM_REJECT": "2"},
        {"MODERATION_SPAM_DUP_SIMILARITY": "1.5"},
    ):
        with pytest.raises(ConfigError) as err:
            Settings.from_env(bad)
        assert next(iter(bad)) in err.value.message
