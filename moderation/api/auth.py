"""Bearer-key authentication and role checks for API routes."""

from __future__ import annotations

from starlette.requests import Request

from moderation.errors import Forbidden, Unauthorized
from moderation.messages import Role
from moderation.store.apikeys import KeyCache, KeyInfo

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
    cache: KeyCache = request.app.state.key_cache
    info = await cache.resolve(token)
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
