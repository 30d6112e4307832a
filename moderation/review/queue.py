"""The held queue: filtered, ordered, cursor-paginated pages, and queue counts.

Sources (all maintained atomically by ``transition.lua``): ``keys.held`` (score: creation ms),
``keys.held_risk`` (score: risk), ``keys.article_held(aid)`` (creation ms) and, for an author,
``keys.author_comments(id)`` intersected with the held set. A cursor is the position
``(score, id)`` of the last item returned, so pages stay stable while comments come and go:
nothing is skipped or repeated because an earlier item was decided meanwhile.

Filters the sets cannot express (reason, score range outside the risk order) are applied after
loading; one request scans at most :data:`SCAN_BUDGET` candidates, so a page may come back short
(even empty) with a ``next_cursor``: keep following it until it is ``None``.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from redis.asyncio import Redis

from moderation.errors import BadRequest, ValidationFailed
from moderation.keys import CommentField, HeldCount, Keys
from moderation.messages import Status
from moderation.review.items import ReviewItem, load_items
from moderation.store.codec import as_str, decode_cursor, encode_cursor, int_map
from moderation.store.comment_reads import hmget_many
from moderation.store.records import decode_record

ORDERS = ("oldest", "newest", "riskiest")
SCAN_BUDGET = 5_000
#: Most members a filtered (intersected) source may have.
INTERSECT_CAP = 20_000


@dataclass(frozen=True, slots=True)
class QueueQuery:
    order: str = "oldest"
    article: str | None = None
    author: str | None = None
    #: A reason code (``toxicity``, ``spam``, ``suspect_words``…) or ``code:label``.
    reason: str | None = None
    #: Risk range, inclusive.
    min_score: float | None = None
    max_score: float | None = None
    limit: int = 50
    cursor: str | None = None

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValidationFailed(f"order must be one of {', '.join(ORDERS)}", field="order")
        for name in ("min_score", "max_score"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 1.0:
                raise ValidationFailed(f"{name} must be within [0, 1]", field=name)
        if (
            self.min_score is not None
            and self.max_score is not None
            and self.min_score > self.max_score
        ):
            raise ValidationFailed("min_score must not exceed max_score", field="min_score")

    @property
    def descending(self) -> bool:
        return self.order != "oldest"

    def matches(self, item: ReviewItem) -> bool:
        if item.stored.status is not Status.HELD:
            return False
        if self.reason and self.reason not in item.reason_codes():
            return False
        risk = item.risk if item.risk is not None else 0.0
        if self.min_score is not None and risk < self.min_score:
            return False
        return not (self.max_score is not None and risk > self.max_score)


@dataclass(slots=True)
class QueuePage:
    items: list[ReviewItem] = field(default_factory=list)
    next_cursor: str | None = None


# --- cursors ---------------------------------------------------------------------------------


def encode_queue_cursor(order: str, score: float, member: str) -> str:
    return encode_cursor([order, score, member])


def decode_queue_cursor(cursor: str, order: str) -> tuple[float, str]:
    kind, score, member = decode_cursor(cursor, tuple[str, float, str])
    if kind != order:
        raise BadRequest("cursor belongs to another order; start again without it", field="cursor")
    return score, member


def _after(pos: tuple[float, str], cursor: tuple[float, str] | None, desc: bool) -> bool:
    if cursor is None:
        return True
    return pos < cursor if desc else pos > cursor


# --- sources ---------------------------------------------------------------------------------


async def _scan_zset(
    redis: Redis,
    key: str,
    *,
    desc: bool,
    lo: float | None,
    hi: float | None,
    cursor: tuple[float, str] | None,
    chunk: int,
) -> AsyncIterator[list[tuple[str, float]]]:
    """Chunks of ``(member, score)`` strictly after ``cursor`` in (score, member) order.

    Redis orders equal scores by member (reversed with REV), which is the cursor's tie-break,
    so starting at the cursor's score (inclusive) and skipping what is not after it is exact.
    """
    low = lo if lo is not None else float("-inf")
    high = hi if hi is not None else float("inf")
    if cursor is not None:
        if desc:
            high = min(high, cursor[0])
        else:
            low = max(low, cursor[0])
    if low > high:
        return
    offset = 0
    while True:
        if desc:
            rows: list[Any] = await redis.zrange(
                key, _bound(high), _bound(low), byscore=True, desc=True,
                offset=offset, num=chunk, withscores=True,
            )  # fmt: skip
        else:
            rows = await redis.zrange(
                key, _bound(low), _bound(high), byscore=True,
                offset=offset, num=chunk, withscores=True,
            )  # fmt: skip
        offset += len(rows)
        batch = [(as_str(m), float(s)) for m, s in rows]
        batch = [(m, s) for m, s in batch if _after((s, m), cursor, desc)]
        if batch:
            yield batch
        if len(rows) < chunk:
            return


async def _intersection(
    redis: Redis, sources: Sequence[str], *, desc: bool, cursor: tuple[float, str] | None,
    lo: float | None, hi: float | None,
) -> list[tuple[str, float]]:  # fmt: skip
    """Members of all ``sources``, scored by the first one, sorted, after ``cursor``."""
    # Weights 1, 0, 0…: the intersection keeps the first source's scores.
    weighted = {key: (1 if i == 0 else 0) for i, key in enumerate(sources)}
    rows: list[Any] = await redis.zinter(weighted, aggregate="SUM", withscores=True)
    pairs = [(as_str(m), float(s)) for m, s in rows[:INTERSECT_CAP]]
    if lo is not None:
        pairs = [p for p in pairs if p[1] >= lo]
    if hi is not None:
        pairs = [p for p in pairs if p[1] <= hi]
    pairs.sort(key=lambda p: (p[1], p[0]), reverse=desc)
    return [p for p in pairs if _after((p[1], p[0]), cursor, desc)]


def _bound(value: float) -> str | float:
    if value == float("inf"):
        return "+inf"
    if value == float("-inf"):
        return "-inf"
    return value


# --- pages -----------------------------------------------------------------------------------


async def queue_page(redis: Redis, keys: Keys, q: QueueQuery) -> QueuePage:
    """One page of the held queue for ``q``."""
    desc = q.descending
    cursor = decode_queue_cursor(q.cursor, q.order) if q.cursor else None
    by_risk = q.order == "riskiest"
    # The score range is a risk range: it bounds the scan only when the source is scored by
    # risk; otherwise it filters loaded items.
    lo = q.min_score if by_risk else None
    hi = q.max_score if by_risk else None
    ordered = keys.held_risk if by_risk else keys.held
    narrow = [keys.article_held(q.article)] if q.article else []
    if q.author:
        narrow.append(keys.author_comments(q.author))
    post_filter = bool(q.reason) or (
        not by_risk and (q.min_score is not None or q.max_score is not None)
    )
    chunk = q.limit + 1 if not post_filter else max(q.limit * 2, 100)

    async def chunks() -> AsyncIterator[list[tuple[str, float]]]:
        if narrow:
            pairs = await _intersection(
                redis, [ordered, *narrow], desc=desc, cursor=cursor, lo=lo, hi=hi
            )
            for i in range(0, len(pairs), chunk):
                yield pairs[i : i + chunk]
        else:
            async for batch in _scan_zset(
                redis, ordered, desc=desc, lo=lo, hi=hi, cursor=cursor, chunk=chunk
            ):
                yield batch

    page = QueuePage()
    scanned = 0
    last: tuple[float, str] | None = None
    more = False
    async with contextlib.aclosing(chunks()) as source:  # type: ignore[type-var]
        async for batch in source:
            items = await load_items(redis, keys, [m for m, _ in batch])
            for (member, score), item in zip(batch, items, strict=True):
                if len(page.items) == q.limit:
                    more = True
                    break
                scanned += 1
                last = (score, member)
                if item is not None and q.matches(item):
                    page.items.append(item)
            if more or scanned >= SCAN_BUDGET:
                more = True
                break
    if more and last is not None:
        page.next_cursor = encode_queue_cursor(q.order, last[0], last[1])
    return page


#: Held comments a count with a reason filter loads at most (the rest are counted as unknown).
COUNT_BUDGET = 2_000


@dataclass(frozen=True, slots=True)
class MatchCount:
    """How many held comments match a query's filters: ``n`` exactly, or at least ``n``."""

    n: int
    exact: bool


async def queue_match_count(redis: Redis, keys: Keys, q: QueueQuery) -> MatchCount:
    """Held comments matching ``q``'s filters (not its order, cursor or limit).

    From the sets alone when the filters are sets and a risk range (``ZCOUNT`` of the risk
    order, or the intersection that a page would read); a reason filter needs each comment's
    reasons, so at most :data:`COUNT_BUDGET` are loaded and a larger set says "at least".
    """
    lo, hi = q.min_score, q.max_score
    narrow = [keys.article_held(q.article)] if q.article else []
    if q.author:
        narrow.append(keys.author_comments(q.author))
    if not q.reason and not narrow:
        low = lo if lo is not None else float("-inf")
        high = hi if hi is not None else float("inf")
        return MatchCount(int(await redis.zcount(keys.held_risk, _bound(low), _bound(high))), True)
    if narrow:
        pairs = await _intersection(
            redis, [keys.held_risk, *narrow], desc=False, cursor=None, lo=lo, hi=hi
        )
        capped = len(pairs) >= INTERSECT_CAP
    else:
        rows: list[Any] = await redis.zrange(
            keys.held_risk, _bound(lo if lo is not None else float("-inf")),
            _bound(hi if hi is not None else float("inf")), byscore=True, offset=0,
            num=COUNT_BUDGET + 1, withscores=True,
        )  # fmt: skip
        pairs = [(as_str(m), float(s)) for m, s in rows]
        capped = len(pairs) > COUNT_BUDGET
    if not q.reason:
        return MatchCount(len(pairs), not capped)
    ids = [m for m, _ in pairs[:COUNT_BUDGET]]
    n = 0
    for i in range(0, len(ids), 200):
        for item in await load_items(redis, keys, ids[i : i + 200]):
            if item is not None and q.matches(item):
                n += 1
    return MatchCount(n, not capped and len(pairs) <= COUNT_BUDGET)


async def held_tallies(
    redis: Redis, keys: Keys, *, top: int = -1
) -> tuple[dict[str, int], dict[str, int]]:
    """Held comments per article (the ``top`` most held; -1: all) and per primary reason of the
    site of ``keys``, from its ``held_articles`` and ``held_counts`` (moved by ``transition.lua``
    with each comment, so reading costs nothing per held comment)."""
    tallies = await site_tallies(redis, keys, [keys.site], top=top)
    return {article: n for (_, article), n in tallies.articles.items()}, tallies.reasons


@dataclass
class SiteTallies:
    """Held comments per (site, article) (the most held of each site), per primary reason
    summed over the sites, and how many articles have held comments in all."""

    articles: dict[tuple[str, str], int]
    reasons: dict[str, int]
    articles_with_held: int


async def site_tallies(
    redis: Redis, keys: Keys, sites: Sequence[str], *, top: int = -1
) -> SiteTallies:
    """The held tallies of ``sites``: per site one ``ZREVRANGE`` of its ``top`` most-held
    articles, one ``ZCARD`` and one ``HGETALL`` of its few reasons, whatever the queue's size
    or the number of articles."""
    pipe = redis.pipeline(transaction=False)
    for site in sites:
        scoped = keys.for_site(site)
        pipe.zrevrange(scoped.held_articles, 0, top - 1 if top > 0 else -1, withscores=True)
        pipe.zcard(scoped.held_articles)
        pipe.hgetall(scoped.held_counts)
    replies = await pipe.execute()
    tallies = SiteTallies({}, {}, 0)
    for i, site in enumerate(sites):
        ranked, with_held, raw = replies[3 * i : 3 * i + 3]
        tallies.articles_with_held += int(with_held)
        for member, score in ranked:
            if score > 0:
                tallies.articles[site, as_str(member)] = int(score)
        for name, n in int_map(raw).items():
            kind, _, value = name.partition(":")
            if n > 0 and kind == HeldCount.REASON:
                tallies.reasons[value] = tallies.reasons.get(value, 0) + n
    return tallies


async def held_per_article(
    redis: Redis, keys: Keys, *, top: int = -1
) -> tuple[dict[str, int], bool]:
    """Held comments per article (the ``top`` most held; -1: all), and whether the figure is
    partial (it is when ``top`` cut it)."""
    articles, _ = await held_tallies(redis, keys, top=top)
    partial = top > 0 and len(articles) >= top and await redis.zcard(keys.held_articles) > top
    return articles, bool(partial)


async def recount_held(redis: Redis, keys: Keys) -> tuple[dict[str, int], dict[str, int]]:
    """What :func:`held_tallies` should say, recounted over every held comment (O(held): for
    checks and repairs, not for pages)."""
    ids = [as_str(m) for m in await redis.zrange(keys.held, 0, -1)]
    rows = await hmget_many(
        redis, [keys.comment(cid) for cid in ids], [CommentField.DOC, CommentField.HELD_REASON]
    )
    # The article is the submission's (the hash does not repeat it); a corrupt one counts as
    # "" (transition.lua held it under that article).
    articles: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for cid, (doc, reason) in zip(ids, rows, strict=True):
        if doc is None:
            continue
        try:
            articles[decode_record(doc, cid).article_id] += 1
        except (msgspec.DecodeError, TypeError):
            articles[""] += 1
        reasons[as_str(reason) if reason is not None else HeldCount.UNSPECIFIED] += 1
    return dict(articles), dict(reasons)


async def queue_counts(
    redis: Redis, keys: Keys, *, top: int = 100, sites: Sequence[str] | None = None
) -> dict[str, Any]:
    """Held and pending totals (every site's: the queue is central), and held per article
    (with its site; largest first, at most ``top``) and per reason over ``sites`` (default:
    the site of ``keys``)."""
    pipe = redis.pipeline(transaction=False)
    pipe.zcard(keys.held)
    pipe.zcard(keys.pending)
    pipe.zrange(keys.held, 0, 0, withscores=True)
    held, pending, oldest = await pipe.execute()
    tallies = await site_tallies(redis, keys, sites or [keys.site], top=top)
    per_article = sorted(tallies.articles.items(), key=lambda p: (-p[1], p[0]))
    per_reason = sorted(tallies.reasons.items(), key=lambda p: (-p[1], p[0]))
    return {
        "held": int(held),
        "pending": int(pending),
        "oldest_held_ms": int(oldest[0][1]) if oldest else None,
        "articles_with_held": tallies.articles_with_held,
        "articles_partial": False,
        "articles": [
            {"article_id": a, "site": site, "held": n} for (site, a), n in per_article[:top]
        ],
        "reasons": [{"reason": r, "held": n} for r, n in per_reason],
    }
