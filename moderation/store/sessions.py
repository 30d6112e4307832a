"""Web sessions of moderators and admins: signed in with their API key, kept in Redis.

The cookie carries a random 256-bit session id; Redis stores only its SHA-256 (a leaked dump
holds no usable session), with the key's name, role and digest, a per-session CSRF token and
the absolute expiry. The hash expires after ``session_idle_s`` without use (each use renews it)
and is refused after ``session_max_s`` in any case. The session also dies with its key: every
use checks that the key still exists, so revoking a key signs its sessions out at once.
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


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


async def create_session(
    redis: Redis, keys: Keys, settings: Settings, info: KeyInfo
) -> tuple[str, Session]:
    """Start a session for a verified key; returns the cookie value and the session."""
    session_id = secrets.token_urlsafe(32)
    now = int(time.time() * 1000)
    session = Session(
        digest=_digest(session_id),
        name=info.name,
        role=info.role,
        key_digest=info.digest,
        csrf=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + settings.session_max_s * 1000,
    )
    key = keys.session(session.digest)
    pipe = redis.pipeline(transaction=True)
    pipe.hset(
        key,
        mapping={
            "name": session.name,
            "role": session.role.value,
            "key": session.key_digest,
            "csrf": session.csrf,
            "created": session.created_at,
            "expires": session.expires_at,
        },
    )
    pipe.expire(key, min(settings.session_idle_s, settings.session_max_s))
    await pipe.execute()
    return session_id, session


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
    data = {as_str(k): as_str(v) for k, v in raw.items()}
    try:
        session = Session(
            digest=digest,
            name=data["name"],
            role=Role(data["role"]),
            key_digest=data["key"],
            csrf=data["csrf"],
            created_at=int(data["created"]),
            expires_at=int(data["expires"]),
        )
    except (KeyError, ValueError):
        await redis.delete(key)
        return None
    remaining_ms = session.expires_at - int(time.time() * 1000)
    if remaining_ms <= 0:
        await redis.delete(key)
        return None
    pipe = redis.pipeline(transaction=False)
    pipe.get(keys.api_key(session.key_digest))
    pipe.pexpire(key, min(settings.session_idle_s * 1000, remaining_ms))
    key_raw, _ = await pipe.execute()
    if key_raw is None:  # the key was revoked: its sessions end with it
        await redis.delete(key)
        return None
    info = _key_decoder.decode(key_raw)
    if info.role is not session.role:
        await redis.delete(key)
        return None
    return session


async def end_session(redis: Redis, keys: Keys, session_id: str) -> None:
    if session_id and len(session_id) <= 100:
        await redis.delete(keys.session(_digest(session_id)))
