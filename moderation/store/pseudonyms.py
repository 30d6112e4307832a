"""Keyed hashes that stand for IP addresses and e-mail addresses wherever they are only compared.

Velocity (``Keys.spam_ip_posts``), flood control (``Keys.flood("ip", …)``) and sign-in failures
(``Keys.auth_failures``) only ask "the same address as before?": an HMAC-SHA256 under a secret of
this installation answers that as well as the address, and a key name, a ``SCAN`` or a copy of
the Redis data then shows no address. An unkeyed hash would not do: the IPv4 space is small
enough to hash in full. The secret is made once, on first use, by whichever process comes first
(``SET NX`` of ``Keys.pseudonym_secret``; every process then reads the same one), like the
reporters' secret; it travels with Redis' own backups. Clear addresses stay only in the
submission document, for the personal-data retention period.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from redis.asyncio import Redis

from moderation.keys import Keys

#: Hex digits kept of the HMAC: 128 bits, far beyond any collision between real addresses.
SIZE = 32


def pseudonym(secret: bytes, value: str) -> str:
    """The keyed hash standing for ``value`` under ``secret``."""
    # hmac.digest: the one-shot C path (hmac.new builds a Python object per call).
    return hmac.digest(secret, value.encode(), hashlib.sha256).hex()[:SIZE]


class Pseudonyms:
    """The installation's keyed hash, its secret read (or made) on first use and then kept."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._secret: bytes | None = None

    async def secret(self) -> bytes:
        if self._secret is None:
            raw = await self.redis.get(self.keys.pseudonym_secret)
            if raw is None:
                await self.redis.set(self.keys.pseudonym_secret, secrets.token_hex(32), nx=True)
                raw = await self.redis.get(self.keys.pseudonym_secret)
            self._secret = raw.encode() if isinstance(raw, str) else bytes(raw or b"")
        return self._secret

    async def of(self, value: str) -> str:
        return pseudonym(await self.secret(), value)
