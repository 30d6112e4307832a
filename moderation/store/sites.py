"""The sites this service hosts, and which one a request that carries no site key means.

A site exists once a site key names it (``apikeys.create_key`` adds it to ``keys.sites``). A
public request, or a moderator's, names its site with the ``site`` query parameter; while only
one site exists the parameter is optional and means that site (``DEFAULT_SITE`` before any site
key exists), so a single-site installation never has to say it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

from moderation.errors import BadRequest, NotFound
from moderation.ids import check_site_id
from moderation.keys import DEFAULT_SITE, Keys
from moderation.store.codec import as_str


@dataclass
class SiteDirectory:
    """Per-process cache of ``keys.sites`` (sites are added rarely and never need to be seen
    at once: a new site's first public request reads Redis again, at most four times a second)."""

    redis: Redis
    keys: Keys
    ttl_s: float = 5.0

    def __post_init__(self) -> None:
        self._sites: frozenset[str] = frozenset()
        self._expires = 0.0
        self._refreshed = 0.0

    async def all(self, *, fresh: bool = False) -> frozenset[str]:
        now = time.monotonic()
        if now >= self._expires or (fresh and now - self._refreshed >= 0.25):
            self._sites = frozenset(as_str(s) for s in await self.redis.smembers(self.keys.sites))
            self._expires = now + self.ttl_s
            self._refreshed = now
        return self._sites

    async def resolve(self, requested: str | None) -> str:
        """The site a request names; without one, the only site. 400 when the request names
        none and several exist; 404 for a site that does not exist; 422 for a malformed id."""
        sites = await self.all()
        if not requested:
            if len(sites) > 1:
                raise BadRequest(
                    "site is required: this service hosts several sites (add ?site=<site id>)",
                    field="site",
                )
            return next(iter(sites), DEFAULT_SITE)
        check_site_id(requested)
        if requested in sites or (not sites and requested == DEFAULT_SITE):
            return requested
        if requested in await self.all(fresh=True):
            return requested
        raise NotFound(f"no site {requested!r}", field="site")
