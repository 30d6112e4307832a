"""Bearer-key authentication and role checks for API routes."""

from __future__ import annotations

from starlette.requests import Request

from moderation.errors import Forbidden, RateLimited, Unauthorized
from moderation.keys import DEFAULT_SITE
from moderation.messages import Role
from moderation.spam.velocity import ip_bucket
from moderation.store.apikeys import KeyCache, KeyInfo
from moderation.store.auth_failures import AuthFailures
from moderation.store.sites import SiteDirectory

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


def own_site(key: KeyInfo) -> str | None:
    """The one site a key may touch: a site key's own; ``None`` (every site) for moderator and
    admin keys, which are central (see the README, "Sites")."""
    return (key.site or DEFAULT_SITE) if key.role is Role.SITE else None


def may_see(key: KeyInfo, site: str) -> bool:
    """Whether ``key`` may see a comment of ``site``. Callers answer 404 when not, as for a
    missing comment, so a site cannot probe for another site's comment ids."""
    mine = own_site(key)
    return mine is None or mine == site


async def site_of(request: Request, key: KeyInfo | None = None) -> str:
    """The site a request acts on: a site key's own (a ``site`` parameter cannot change it);
    for anyone else the ``site`` query parameter, optional while only one site exists."""
    if key is not None and key.role is Role.SITE:
        return key.site or DEFAULT_SITE
    sites: SiteDirectory = request.app.state.sites
    return await sites.resolve(request.query_params.get("site"))
