"""The run-time spam domain lists' pure parts (table-driven) and the scorer's cache of them
against a real Redis."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis as AsyncRedis

from moderation.errors import ValidationFailed
from moderation.keys import Keys
from moderation.store.domainlists import DomainCache, canonical_domain


@pytest.mark.parametrize(
    ("entry", "stored"),
    [
        ("example.org", "example.org"),
        ("  Example.ORG ", "example.org"),
        ("https://www.gov.example/path?q=1", "www.gov.example"),
        ("http://news.example:8080/", "news.example"),
        (".cdn.example.net", "cdn.example.net"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
)
def test_domains_are_stored_as_the_matcher_compares_them(entry: str, stored: str) -> None:
    assert canonical_domain(entry) == stored


@pytest.mark.parametrize(
    "entry", ["", "localhost", "not a domain", "exa mple.org", "-bad.example", "a..b", "x.123"]
)
def test_what_is_not_a_domain_is_refused_by_name(entry: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        canonical_domain(entry, "add[3]")
    assert caught.value.field == "add[3]"
    assert "not a domain name" in str(caught.value)


async def test_the_cache_rereads_only_when_the_version_changed(rds: AsyncRedis) -> None:
    keys = Keys()
    cache = DomainCache(refresh_s=0.0)
    assert await cache.lists(rds, keys) == {"allow": [], "deny": []}
    await rds.sadd(keys.spam_domains("deny"), "spam.example")
    # The version did not change: the copy stands (edits always change it, see review.domains).
    assert (await cache.lists(rds, keys))["deny"] == []
    await rds.set(keys.spam_domains_version, "v2")
    first = await cache.lists(rds, keys)
    assert first["deny"] == ["spam.example"]
    assert await cache.lists(rds, keys) is first  # same version: not read again
    slow = DomainCache(refresh_s=3600)
    await slow.lists(rds, keys)
    await rds.set(keys.spam_domains_version, "v3")
    await rds.sadd(keys.spam_domains("allow"), "gov.example")
    assert (await slow.lists(rds, keys))["allow"] == []  # not checked again within refresh_s
