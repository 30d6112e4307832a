"""Web sessions of moderators and admins, kept in Redis: opened by an account (name and
password, or a one-time link: ``store.accounts``) or by a moderator/admin API key.

The cookie carries a random 256-bit session id; Redis stores only its SHA-256 (a leaked dump
holds no usable session), with the account's or key's name and role, a per-session CSRF token,
the absolute expiry and the time of last use. The hash expires after ``session_idle_s``
without use (each use renews it) and is refused after ``session_max_s`` in any case. The
session also dies with what opened it: every use checks that the key still exists, or that
the account is still enabled with the same role, so revoking a key, disabling an account or
changing its role signs its sessions out on their next request. An account's sessions are
also listed in ``keys.account_sessions`` so admins can see and revoke them one by one.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import Role
from moderation.settings import Settings
from moderation.store.accounts import Account
from moderation.store.apikeys import KeyInfo
from moderation.store.codec import as_str

COOKIE = "mod_session"

_key_decoder = msgspec.json.Decoder(KeyInfo)


@dataclass(frozen=True, slots=True)
class Session:
    digest: str  # SHA-256 of the cookie value (the Redis key)
    name: str  # the API key's name
    role: Role
    key_digest: str
    csrf: str
    created_at: int  # epoch ms
    expires_at: int  # epoch ms, absolute
    #: Opened by an account (``name`` is the account's) rather than an API key.
    account: bool = False
    last_seen: int = 0  # epoch ms, the previous use

    @property
    def public_id(self) -> str:
        """How admins name the session: a prefix of its digest (the digest is of a secret
        with 256 random bits, so a prefix is unique in practice and reveals nothing)."""
        return self.digest[:16]


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


async def create_session(
    redis: Redis, keys: Keys, settings: Settings, info: KeyInfo
) -> tuple[str, Session]:
    """Start a session for a verified key; returns the cookie value and the session."""
    return await _create(redis, keys, settings, info.name, info.role, info.digest)


async def create_account_session(
    redis: Redis, keys: Keys, settings: Settings, account: Account
) -> tuple[str, Session]:
    """Start a session for an authenticated account; returns the cookie value and the session."""
    return await _create(redis, keys, settings, account.name, account.role, "")


async def _create(
    redis: Redis, keys: Keys, settings: Settings, name: str, role: Role, key_digest: str
) -> tuple[str, Session]:
    session_id = secrets.token_urlsafe(32)
    now = int(time.time() * 1000)
    session = Session(
        digest=_digest(session_id),
        name=name,
        role=role,
        key_digest=key_digest,
        csrf=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + settings.session_max_s * 1000,
        account=not key_digest,
        last_seen=now,
    )
    key = keys.session(session.digest)
    pipe = redis.pipeline(transaction=True)
    pipe.hset(
        key,
        mapping={
            "name": session.name,
            "role": session.role.value,
            "key": session.key_digest,
            "account": int(session.account),
            "csrf": session.csrf,
            "created": session.created_at,
            "expires": session.expires_at,
            "seen": now,
        },
    )
    pipe.expire(key, min(settings.session_idle_s, settings.session_max_s))
    if session.account:
        index = keys.account_sessions(name)
        pipe.sadd(index, session.digest)
        pipe.expire(index, settings.session_max_s)
    await pipe.execute()
    return session_id, session


def _parse(digest: str, raw: dict[Any, Any]) -> Session | None:
    data = {as_str(k): as_str(v) for k, v in raw.items()}
    try:
        return Session(
            digest=digest,
            name=data["name"],
            role=Role(data["role"]),
            key_digest=data["key"],
            csrf=data["csrf"],
            created_at=int(data["created"]),
            expires_at=int(data["expires"]),
            account=data.get("account") == "1",
            last_seen=int(data.get("seen", data["created"])),
        )
    except (KeyError, ValueError):
        return None


async def load_session(
    redis: Redis, keys: Keys, settings: Settings, session_id: str
) -> Session | None:
    """The live session for a cookie value, renewed; ``None`` if unknown, expired or revoked."""
    if not session_id or len(session_id) > 100:
        return None
    digest = _digest(session_id)
    key = keys.session(digest)
    raw: dict[Any, Any] = await redis.hgetall(key)
    if not raw:
        return None
    session = _parse(digest, raw)
    if session is None:
        await redis.delete(key)
        return None
    now = int(time.time() * 1000)
    remaining_ms = session.expires_at - now
    if remaining_ms <= 0:
        await redis.delete(key)
        return None
    pipe = redis.pipeline(transaction=False)
    if session.account:
        pipe.hmget(keys.account(session.name), ["role", "disabled"])
    else:
        pipe.get(keys.api_key(session.key_digest))
    pipe.pexpire(key, min(settings.session_idle_s * 1000, remaining_ms))
    pipe.hset(key, "seen", now)
    owner, _, _ = await pipe.execute()
    if session.account:
        role, disabled = owner
        # A disabled account, or one whose role changed, is signed out here.
        live = (
            role is not None
            and as_str(role) == session.role.value
            and (disabled is None or as_str(disabled) != "1")
        )
    else:
        # The key was revoked (its sessions end with it), or its role is not the session's.
        live = owner is not None and _key_decoder.decode(owner).role is session.role
    if not live:
        await redis.delete(key)
        return None
    return session


async def account_sessions(redis: Redis, keys: Keys, name: str) -> list[Session]:
    """The live sessions of an account, newest first (ended ones are pruned from its index)."""
    index = keys.account_sessions(name)
    digests = [as_str(d) for d in await redis.smembers(index)]
    if not digests:
        return []
    pipe = redis.pipeline(transaction=False)
    for digest in digests:
        pipe.hgetall(keys.session(digest))
    now = int(time.time() * 1000)
    live, gone = [], []
    for digest, raw in zip(digests, await pipe.execute(), strict=True):
        session = _parse(digest, raw) if raw else None
        if session is None or session.expires_at <= now or session.name != name:
            gone.append(digest)
        else:
            live.append(session)
    if gone:
        await redis.srem(index, *gone)
    return sorted(live, key=lambda s: s.created_at, reverse=True)


async def revoke_account_session(redis: Redis, keys: Keys, name: str, public_id: str) -> bool:
    """End one session of an account by its ``public_id``; False if it has none such."""
    index = keys.account_sessions(name)
    for digest in (as_str(d) for d in await redis.smembers(index)):
        if public_id and digest.startswith(public_id) and len(public_id) >= 16:
            pipe = redis.pipeline(transaction=True)
            pipe.delete(keys.session(digest))
            pipe.srem(index, digest)
            deleted, _ = await pipe.execute()
            return bool(deleted)
    return False


async def end_session(redis: Redis, keys: Keys, session_id: str) -> None:
    if session_id and len(session_id) <= 100:
        await redis.delete(keys.session(_digest(session_id)))
