"""An article's published comments for moderators, newest first, searchable (text, author,
dates), each one click from removal.

Two sources, merged by id (ids sort by creation time):

* Redis: the article's approved set (``Keys.approved``) holds every published comment, so
  without a text or date filter it alone answers, exactly and at once (a removal shows on the
  next read). With filters, the newest :data:`REDIS_WINDOW` ids before the cursor are read and
  filtered here: that window holds whatever the archiver has not copied to the record yet.
* The record (SQL search, :func:`moderation.record.reads.search`): everything archived,
  matched by the database (full-text on PostgreSQL, FTS5 on SQLite).

Redis is current to the millisecond and the record lags, so a comment Redis still holds is
shown as Redis has it: one the record still calls approved but Redis says was removed is left
out. Removal itself is an ordinary decision (reject, expecting ``approved``) through
``transition.lua``: audited, and the article's count drops in the same step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from moderation.messages import Status
from moderation.record import Reader, SearchQuery
from moderation.review.context import Review
from moderation.review.history import review_items
from moderation.review.items import ReviewItem, load_items
from moderation.store.codec import as_str
from moderation.store.wordlists import words_of

#: Newest approved ids read from Redis per page when filters apply (covers the archiver's lag).
REDIS_WINDOW = 500


@dataclass(frozen=True, slots=True)
class PublishedPage:
    items: list[ReviewItem]
    #: The id of the last comment shown; pass as ``before`` for the next page.
    next_before: str | None


def _matches(item: ReviewItem, q: SearchQuery) -> bool:
    record = item.stored.record
    if q.author_id is not None and record.author.id != q.author_id:
        return False
    if q.created_from is not None and record.created_at < q.created_from:
        return False
    if q.created_to is not None and record.created_at >= q.created_to:
        return False
    if q.text and q.text.strip():
        # Every word of the query among the text's words (the record's search is word-based too).
        have = set(words_of(record.text))
        return all(w in have for w in words_of(q.text))
    return True


async def _redis_ids(review: Review, article_id: str, before: str | None, count: int) -> list[str]:
    top = f"({before}" if before else "+"
    raw = await review.redis.zrange(
        review.keys.approved(article_id), top, "-", desc=True, bylex=True, offset=0, num=count
    )
    return [as_str(x) for x in raw]


async def published_page(review: Review, reader: Reader, q: SearchQuery) -> PublishedPage:
    """One page (``q.limit``) of ``q.article_id``'s published comments matching ``q``, newest
    first, strictly before ``q.before``."""
    assert q.article_id is not None
    filtered = bool((q.text and q.text.strip()) or q.author_id or q.created_from or q.created_to)
    window = REDIS_WINDOW if filtered else q.limit + 1
    ids = await _redis_ids(review, q.article_id, q.before, window)
    loaded = await load_items(review.redis, review.keys, ids)
    live = [i for i in loaded if i is not None]
    # An id still in the approved set whose comment hash Redis no longer holds: the record
    # has it (reads fall through, as the public list does).
    gone = [cid for cid, i in zip(ids, loaded, strict=True) if i is None]
    if gone:
        archived_by_id = await reader.get_many(gone)
        live += await review_items(review, reader, list(archived_by_id.values()))
    found = {i.id: i for i in live if i.stored.status is Status.APPROVED and _matches(i, q)}
    if filtered:
        archived, _ = await reader.search(
            replace(q, statuses=(Status.APPROVED,), limit=q.limit + 1)
        )
        unseen = [s for s in archived if s.record.id not in found]
        current = await load_items(review.redis, review.keys, [s.record.id for s in unseen])
        from_record = [s for s, now in zip(unseen, current, strict=True) if now is None]
        for now in current:
            # Redis still holds it: its status there is the current one.
            if now is not None and now.stored.status is Status.APPROVED and _matches(now, q):
                found[now.id] = now
        for item in await review_items(review, reader, from_record):
            found.setdefault(item.id, item)
    ordered = sorted(found.values(), key=lambda i: i.id, reverse=True)
    page = ordered[: q.limit]
    more = len(ordered) > q.limit or (not filtered and len(ids) > q.limit)
    return PublishedPage(page, page[-1].id if more and page else None)
