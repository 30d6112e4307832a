"""Failed sign-ins and unknown API keys, counted per client address in Redis (and failed
password sign-ins also per account name: ``moderation.ui.session`` names the buckets).

A fixed window per address: the first failure starts a counter that expires after
``window_s``; once it reaches ``limit``, the address is refused (429 with ``Retry-After``, the
counter's remaining life) without its key even being looked up, until the window ends. Kept in
Redis so every API process sees the same count. Only the path that already costs a Redis
round trip (a key this process has not verified) consults it: a valid, cached key is never
slowed down.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.store.codec import as_int
from moderation.store.pseudonyms import Pseudonyms


@dataclass(frozen=True, slots=True)
class AuthFailures:
    redis: Redis
    keys: Keys
    limit: int
    window_s: int
    pseudonyms: Pseudonyms = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pseudonyms", Pseudonyms(self.redis, self.keys))

    async def _pseudonym(self, bucket: str) -> str:
        """The bucket's keyed hash: no client address in a key name (``store.pseudonyms``)."""
        return await self.pseudonyms.of(bucket)

    async def retry_after(self, bucket: str) -> int:
        """Seconds until ``bucket`` may try again; 0 while it is under the limit."""
        pipe = self.redis.pipeline(transaction=False)
        key = self.keys.auth_failures(await self._pseudonym(bucket))
        pipe.get(key)
        pipe.ttl(key)
        count, ttl = await pipe.execute()
        if count is None or as_int(count) < self.limit:
            return 0
        return max(1, as_int(ttl))

    async def record(self, bucket: str) -> None:
        """One more failure from ``bucket`` (the window starts at its first)."""
        pipe = self.redis.pipeline(transaction=True)
        key = self.keys.auth_failures(await self._pseudonym(bucket))
        pipe.incr(key)
        pipe.expire(key, self.window_s, nx=True)
        await pipe.execute()
