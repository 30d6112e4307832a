"""What the site tells us about its articles: title, URL, publication time.

Articles are first-class so moderators see titles and links where they used to see ids, and so
"close after N days" has a start. The site sends ``article: {title, url}`` with a comment or
upserts it with ``PUT /v1/articles/{id}``; an absent field keeps its stored value. The hash
(``Keys.article``, fields ``ArticleField``) is written only here; the admission gate marks
``first_seen`` when an article's first comment arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from redis.asyncio import Redis

from moderation.keys import ArticleField, Keys
from moderation.store.codec import as_str


class ArticleInfo(msgspec.Struct, omit_defaults=True):
    """An article as stored (times in epoch ms)."""

    id: str
    title: str | None = None
    url: str | None = None
    published_at: int | None = None
    first_seen: int | None = None

    @property
    def opened_at(self) -> int | None:
        """When "close after N days" starts counting."""
        return self.published_at or self.first_seen


async def upsert(
    redis: Redis,
    keys: Keys,
    article_id: str,
    *,
    now: int,
    title: str | None = None,
    url: str | None = None,
    published_at: int | None = None,
) -> None:
    """Record what is given (absent fields keep their value) in one round trip."""
    fields: dict[Any, Any] = {ArticleField.UPDATED: now}
    if title is not None:
        fields[ArticleField.TITLE] = title
    if url is not None:
        fields[ArticleField.URL] = url
    if published_at is not None:
        fields[ArticleField.PUBLISHED] = published_at
    key = keys.article(article_id)
    pipe = redis.pipeline(transaction=True)
    pipe.hsetnx(key, ArticleField.FIRST_SEEN, now)
    pipe.hset(key, mapping=fields)
    await pipe.execute()


#: The fields :func:`decode` reads, in its order.
FIELDS = (ArticleField.TITLE, ArticleField.URL, ArticleField.PUBLISHED, ArticleField.FIRST_SEEN)


def decode(article_id: str, row: Sequence[object]) -> ArticleInfo:
    """An ``HMGET`` row of the article hash (:data:`FIELDS`, in order)."""
    title, url, published, first = (as_str(v) if v is not None else None for v in row)
    return ArticleInfo(
        article_id,
        title=title,
        url=url,
        published_at=int(published) if published and published.isdigit() else None,
        first_seen=int(first) if first and first.isdigit() else None,
    )


async def load_many(redis: Redis, keys: Keys, article_ids: Sequence[str]) -> list[ArticleInfo]:
    """The stored facts of each article (an unknown article: its id alone)."""
    if not article_ids:
        return []
    pipe = redis.pipeline(transaction=False)
    for aid in article_ids:
        pipe.hmget(keys.article(aid), *FIELDS)
    return [decode(aid, row) for aid, row in zip(article_ids, await pipe.execute(), strict=True)]
