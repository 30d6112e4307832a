"""API keys: creation, revocation, lookup. Only SHA-256 digests of secrets are stored.

Secrets carry 256 random bits, so a plain SHA-256 is a safe storage form (no password
stretching needed: there is nothing to brute-force). The secret's prefix names its role
(``mk_site_…``) purely to help humans spot a key pasted in the wrong place; the role that counts
is the stored one.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import msgspec
from redis.asyncio import Redis

from moderation.errors import Conflict, NotFound
from moderation.keys import Keys
from moderation.messages import Role, json_encoder
from moderation.store.subscription import Subscription


class KeyInfo(msgspec.Struct, frozen=True):
    name: str
    role: Role
    created_at: int  # epoch ms
    digest: str = ""


_decoder = msgspec.json.Decoder(KeyInfo)


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret(role: Role) -> str:
    return f"mk_{role.value}_{secrets.token_urlsafe(32)}"


async def create_key(redis: Redis, keys: Keys, name: str, role: Role) -> str:
    """Create a key and return its secret (the only time it is ever visible)."""
    secret = new_secret(role)
    digest = digest_of(secret)
    info = KeyInfo(name=name, role=role, created_at=int(time.time() * 1000), digest=digest)
    # One name, one principal: the audit names people and keys alike by name.
    if await redis.sismember(keys.account_index, name):
        raise Conflict(f"an account is named {name!r}; pick another name", field="name")
    # HSETNX on the name index makes names unique even under concurrent creation.
    if not await redis.hsetnx(keys.api_key_index, name, digest):
        raise Conflict(f"an API key named {name!r} already exists", field="name")
    await redis.set(keys.api_key(digest), json_encoder.encode(info))
    return secret


async def revoke_key(redis: Redis, keys: Keys, name: str) -> None:
    digest = await redis.hget(keys.api_key_index, name)
    if digest is None:
        raise NotFound(f"no API key named {name!r}", field="name")
    digest_s = digest.decode() if isinstance(digest, bytes) else str(digest)
    pipe = redis.pipeline(transaction=True)
    pipe.delete(keys.api_key(digest_s))
    pipe.hdel(keys.api_key_index, name)
    # Every API process drops the key from its cache on this message (see KeyCache).
    pipe.publish(keys.key_revoked_channel, digest_s)
    await pipe.execute()


async def list_keys(redis: Redis, keys: Keys) -> list[KeyInfo]:
    index = await redis.hgetall(keys.api_key_index)
    if not index:
        return []
    pipe = redis.pipeline(transaction=False)
    for digest in index.values():
        pipe.get(keys.api_key(digest.decode() if isinstance(digest, bytes) else digest))
    return sorted(
        (_decoder.decode(raw) for raw in await pipe.execute() if raw is not None),
        key=lambda k: k.name,
    )


async def lookup(redis: Redis, keys: Keys, secret: str) -> KeyInfo | None:
    raw = await redis.get(keys.api_key(digest_of(secret)))
    return _decoder.decode(raw) if raw is not None else None


@dataclass
class KeyCache:
    """Per-process cache of verified keys, so a request costs no Redis round trip for auth.

    Entries live ``ttl_s`` seconds. Revocation is pushed: :func:`revoke_key` publishes the key's
    digest on ``keys.key_revoked_channel``, and a cache that follows the process's subscription
    (:meth:`follow`) drops it at once, so the TTL can be long. While that subscription is down a
    revocation could be missed, so the cache then serves nothing from memory (every lookup reads
    Redis) and forgets everything when it resubscribes. A cache that follows nothing relies on
    its TTL alone. Misses are cached too (briefly) so a flood of bad keys cannot turn into a
    flood of Redis reads.
    """

    redis: Redis
    keys: Keys
    ttl_s: float = 10.0
    max_entries: int = 10_000

    def __post_init__(self) -> None:
        self._entries: dict[str, tuple[float, KeyInfo | None]] = {}
        self._subscription: Subscription | None = None
        # Bumped by every revocation and gap: a lookup that raced one does not cache its answer.
        self._generation = 0

    def follow(self, subscription: Subscription) -> None:
        """Drop revoked keys as ``subscription`` (not yet started) announces them."""
        self._subscription = subscription
        subscription.add(self.keys.key_revoked_channel, self._revoked, self.forget)

    def cached(self, secret: str) -> KeyInfo | None:
        """The key, if this process verified it recently; no Redis call (None otherwise)."""
        hit = self._entries.get(digest_of(secret))
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    async def resolve(self, secret: str) -> KeyInfo | None:
        digest = digest_of(secret)
        now = time.monotonic()
        hit = self._entries.get(digest)
        if hit is not None and hit[0] > now and self.pushed:
            return hit[1]
        generation = self._generation
        raw = await self.redis.get(self.keys.api_key(digest))
        info = _decoder.decode(raw) if raw is not None else None
        if generation != self._generation:
            return info  # revoked (or missed) meanwhile: answer, but do not cache
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[digest] = (now + (self.ttl_s if info else min(self.ttl_s, 2.0)), info)
        return info

    @property
    def pushed(self) -> bool:
        """Whether cached entries may be served: follows nothing, or no revocation can have
        been missed (the subscription stands)."""
        return self._subscription is None or self._subscription.connected.is_set()

    def _revoked(self, digest: bytes) -> None:
        self._generation += 1
        self._entries.pop(digest.decode(errors="replace"), None)

    def forget(self) -> None:
        self._generation += 1
        self._entries.clear()
