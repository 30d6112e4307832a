"""Bearer-key authentication and role checks for API routes."""

from __future__ import annotations

from starlette.requests import Request

from moderation.errors import Forbidden, RateLimited, Unauthorized
from moderation.messages import Role
from moderation.spam.velocity import ip_bucket
from moderation.store.apikeys import KeyCache, KeyInfo
from moderation.store.auth_failures import AuthFailures

#: Who may call what. Admins may do everything moderators may.
SITE = frozenset({Role.SITE, Role.ADMIN})
READERS = frozenset({Role.SITE, Role.MODERATOR, Role.ADMIN})
MODERATORS = frozenset({Role.MODERATOR, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "Authorization header must be 'Bearer <API key>'",
            field="Authorization",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


async def require(request: Request, roles: frozenset[Role]) -> KeyInfo:
    """The caller's key, if it is valid and has one of ``roles``; else 401/403."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized(
            "an API key is required (Authorization: Bearer <key>)",
            field="Authorization",
            headers={"WWW-Authenticate": "Bearer"},
        )
    info = await verify_key(request, token)
    if info is None:
        raise Unauthorized(
            "unknown or revoked API key",
            field="Authorization",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if info.role not in roles:
        allowed = " or ".join(sorted(r.value for r in roles))
        raise Forbidden(f"this needs a {allowed} key; yours is a {info.role.value} key")
    return info


async def verify_key(request: Request, secret: str) -> KeyInfo | None:
    """The key ``secret`` names (None: unknown or revoked), counting failures per client
    address: past ``auth_failures_max`` in a window, 429 with ``Retry-After`` before any
    lookup. A key this process verified recently is answered from its cache, never held back.
    Used by bearer keys and the web UI's sign-in alike."""
    cache: KeyCache = request.app.state.key_cache
    known = cache.cached(secret)
    if known is not None:
        return known
    failures: AuthFailures = request.app.state.auth_failures
    bucket = ip_bucket(request.client.host if request.client else "unknown")
    wait = await failures.retry_after(bucket)
    if wait:
        raise RateLimited(
            f"too many unknown keys or failed sign-ins from this address; retry in {wait} s",
            field="Authorization",
            headers={"Retry-After": str(wait)},
            extra={"retry_after_s": wait, "limit": "auth"},
        )
    info = await cache.resolve(secret)
    if info is None:
        await failures.record(bucket)
    return info
