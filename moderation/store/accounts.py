"""Moderator and admin accounts: one per person, so every audit entry names who acted.

An account is a Redis hash (``keys.account``): name, role (``moderator`` or ``admin``), who
created it and when, a password hash (or none: the person signs in with one-time links
only), and a ``disabled`` flag. Web sessions opened by an account name it
(``store.sessions``) and every use of a session reads the account's role and flag again, so
disabling an account or changing its role takes effect on its next request.

Passwords are stretched with scrypt (``hashlib.scrypt``, N=2^15, r=8, p=1: 32 MiB and some
tens of milliseconds per try, run in a thread so the event loop never waits on it) with a
16-byte random salt; the stored form is ``scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`` (base64),
so parameters can be raised later without breaking old hashes. A sign-in for an unknown name
still pays one hash, so its timing does not tell which names exist.

One-time sign-in links carry 256 random bits; only their SHA-256 is stored, with a TTL, and
the first use deletes it (``GETDEL``), so a link opens at most one session.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from moderation.errors import BadRequest, Conflict, NotFound
from moderation.keys import Keys
from moderation.messages import Role
from moderation.store.codec import as_str

#: Roles an account may hold (sites use API keys, never accounts).
ACCOUNT_ROLES = (Role.MODERATOR, Role.ADMIN)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024

_SCRYPT_LOG_N = 15
_SCRYPT_R = 8
_SCRYPT_P = 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
_DUMMY_HASH: str | None = None


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    role: Role
    created_at: int  # epoch ms
    created_by: str
    has_password: bool
    disabled: bool

    def public(self) -> dict[str, Any]:
        """The account as the API shows it (never the password hash)."""
        return {
            "name": self.name,
            "role": self.role.value,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "has_password": self.has_password,
            "disabled": self.disabled,
        }


# --- passwords --------------------------------------------------------------------------------


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise BadRequest(
            "an account name is 1 to 64 letters, digits or . _ @ - (starting with a letter "
            "or digit)",
            field="name",
        )
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise BadRequest(
            f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters", field="password"
        )
    return password


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str) -> str:
    """The stored form of ``password`` (CPU-bound: call it in a thread)."""
    salt = secrets.token_bytes(16)
    derived = hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=1 << _SCRYPT_LOG_N,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        maxmem=_SCRYPT_MAXMEM,
        dklen=32,
    )
    return f"scrypt${_SCRYPT_LOG_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(derived)}"


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison; False if malformed)."""
    try:
        scheme, log_n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        derived = hashlib.scrypt(
            password.encode("utf-8", "surrogatepass"),
            salt=base64.b64decode(salt),
            n=1 << int(log_n),
            r=int(r),
            p=int(p),
            maxmem=_SCRYPT_MAXMEM,
            dklen=len(base64.b64decode(expected)),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(derived, base64.b64decode(expected))


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    return _DUMMY_HASH


# --- accounts ---------------------------------------------------------------------------------


def _account(name: str, raw: dict[Any, Any]) -> Account | None:
    data = {as_str(k): as_str(v) for k, v in raw.items()}
    try:
        return Account(
            name=name,
            role=Role(data["role"]),
            created_at=int(data["created_at"]),
            created_by=data.get("created_by", ""),
            has_password=bool(data.get("password")),
            disabled=data.get("disabled") == "1",
        )
    except (KeyError, ValueError):
        return None  # absent, or half-written by a creation in progress


async def create_account(
    redis: Redis,
    keys: Keys,
    name: str,
    role: Role,
    *,
    created_by: str,
    password: str | None = None,
) -> Account:
    """A new account; 409 if the name is taken by an account or an API key (the audit names
    people by name, so one name means one person)."""
    check_name(name)
    if role not in ACCOUNT_ROLES:
        raise BadRequest("an account's role is moderator or admin", field="role")
    stored = await asyncio.to_thread(hash_password, check_password(password)) if password else ""
    if await redis.hexists(keys.api_key_index, name):
        raise Conflict(f"an API key is named {name!r}; pick another name", field="name")
    now = int(time.time() * 1000)
    key = keys.account(name)
    # HSETNX on the creation time makes names unique even under concurrent creation.
    if not await redis.hsetnx(key, "created_at", now):
        raise Conflict(f"an account named {name!r} already exists", field="name")
    pipe = redis.pipeline(transaction=True)
    pipe.hset(
        key,
        mapping={"role": role.value, "created_by": created_by, "password": stored, "disabled": 0},
    )
    pipe.sadd(keys.account_index, name)
    await pipe.execute()
    return Account(name, role, now, created_by, bool(stored), False)


async def get_account(redis: Redis, keys: Keys, name: str) -> Account | None:
    if not NAME_PATTERN.match(name):
        return None
    return _account(name, await redis.hgetall(keys.account(name)))


async def require_account(redis: Redis, keys: Keys, name: str) -> Account:
    account = await get_account(redis, keys, name)
    if account is None:
        raise NotFound(f"no account named {name!r}", field="name")
    return account


async def list_accounts(redis: Redis, keys: Keys) -> list[Account]:
    names = sorted(as_str(n) for n in await redis.smembers(keys.account_index))
    if not names:
        return []
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.hgetall(keys.account(name))
    found = [_account(n, raw) for n, raw in zip(names, await pipe.execute(), strict=True)]
    return [a for a in found if a is not None]


async def set_disabled(redis: Redis, keys: Keys, name: str, disabled: bool) -> Account:
    """Disable (or enable again) an account. Its sessions are refused from their next request
    on, and deleted here as well."""
    account = await require_account(redis, keys, name)
    await redis.hset(keys.account(name), "disabled", 1 if disabled else 0)
    if disabled:
        await end_account_sessions(redis, keys, name)
    return Account(
        account.name,
        account.role,
        account.created_at,
        account.created_by,
        account.has_password,
        disabled,
    )


async def set_password(redis: Redis, keys: Keys, name: str, password: str) -> None:
    await require_account(redis, keys, name)
    stored = await asyncio.to_thread(hash_password, check_password(password))
    await redis.hset(keys.account(name), "password", stored)


async def authenticate(redis: Redis, keys: Keys, name: str, password: str) -> Account | None:
    """The enabled account ``name`` if ``password`` is its password; else None (whatever the
    reason: unknown, disabled, no password, wrong password)."""
    raw: dict[Any, Any] = (
        await redis.hgetall(keys.account(name)) if NAME_PATTERN.match(name) else {}
    )
    stored = as_str(raw.get(b"password", raw.get("password", b""))) if raw else ""
    if len(password) > MAX_PASSWORD:
        return None
    ok = await asyncio.to_thread(verify_password, stored or _dummy_hash(), password)
    account = _account(name, raw) if raw else None
    if not ok or not stored or account is None or account.disabled:
        return None
    return account


async def end_account_sessions(redis: Redis, keys: Keys, name: str) -> int:
    """Delete every session of an account; how many there were."""
    index = keys.account_sessions(name)
    digests = [as_str(d) for d in await redis.smembers(index)]
    pipe = redis.pipeline(transaction=True)
    for digest in digests:
        pipe.delete(keys.session(digest))
    pipe.delete(index)
    deleted = await pipe.execute()
    return sum(int(n) for n in deleted[:-1])


# --- one-time sign-in links -------------------------------------------------------------------


def _link_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def create_link(redis: Redis, keys: Keys, name: str, ttl_s: int) -> str:
    """A one-time sign-in token for an existing, enabled account (valid ``ttl_s``)."""
    account = await require_account(redis, keys, name)
    if account.disabled:
        raise Conflict(f"account {name!r} is disabled; enable it first", field="name")
    token = secrets.token_urlsafe(32)
    await redis.set(keys.sign_in_link(_link_digest(token)), name, ex=ttl_s)
    return token


async def peek_link(redis: Redis, keys: Keys, token: str) -> str | None:
    """The account name a link token would open, without using it (None: unknown or spent)."""
    if not token or len(token) > 100:
        return None
    name = await redis.get(keys.sign_in_link(_link_digest(token)))
    return as_str(name) if name is not None else None


async def use_link(redis: Redis, keys: Keys, token: str) -> Account | None:
    """The enabled account a link token opens, consuming the token; None if unknown, used,
    expired, or the account is disabled."""
    if not token or len(token) > 100:
        return None
    name = await redis.getdel(keys.sign_in_link(_link_digest(token)))
    if name is None:
        return None
    account = await get_account(redis, keys, as_str(name))
    return account if account is not None and not account.disabled else None
