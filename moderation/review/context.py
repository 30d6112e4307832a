"""What every review operation needs, bundled once per application."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import Ground
from moderation.settings import Settings
from moderation.statements import by_id
from moderation.store.audit import AuditLog
from moderation.store.comments import Store
from moderation.store.grounds import load_grounds


@dataclass(slots=True)
class Review:
    redis: Redis
    keys: Keys
    settings: Settings
    store: Store
    audit: AuditLog = field(init=False)

    def __post_init__(self) -> None:
        self.audit = AuditLog(self.redis, self.keys, self.settings)

    def for_site(self, site: str) -> Review:
        """The same review bound to ``site``: its authors, articles and policy are read and
        changed (moderators are central; comments are reached by id whatever their site)."""
        if site == self.keys.site:
            return self
        return Review(self.redis, self.keys.for_site(site), self.settings, self.store)

    async def grounds(self) -> dict[str, Ground]:
        """The site's grounds for restrictions, by id (statements of reasons)."""
        return by_id(await load_grounds(self.redis, self.keys))
