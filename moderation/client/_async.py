"""``AsyncModerationClient``: the client for asyncio code (same methods as the sync one)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from moderation.client import _base as b
from moderation.client._models import Article, Comment, CommentPage, Counts, ThreadPage

T = TypeVar("T")


class AsyncModerationClient:
    """Talks to one moderation service with one API key (a site key for writes; reads of
    lists, counts and articles need none). Use it as an async context manager, or ``aclose()``.

    ``retries`` attempts more on ``503``/``429`` or a failed connection (waiting
    ``Retry-After``, at most ``max_retry_wait`` seconds each), then the error is raised.
    ``site``: the site keyless reads (lists, counts, articles) name, needed once the service
    hosts several sites (a site key always acts on its own site).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        max_retry_wait: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        site: str | None = None,
    ) -> None:
        self._timeout = timeout
        self._policy = b.RetryPolicy(retries=retries, max_retry_wait=max_retry_wait)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=b.client_headers(api_key),
            # The site public reads name (needed once the service hosts several sites; a site
            # key's own site wins over it).
            params={"site": site} if site else None,
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> AsyncModerationClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: b.Call, type_: type[T]) -> T:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    call.method,
                    call.path,
                    params=tuple(call.params),
                    content=call.json,
                    headers=call.headers,
                    timeout=call.timeout or self._timeout,
                )
            except httpx.TransportError as exc:
                if attempt >= self._policy.retries:
                    raise b.transport_error(exc) from exc
                await asyncio.sleep(self._policy.delay(attempt, None))
            else:
                if not b.should_retry(response) or attempt >= self._policy.retries:
                    return b.decode(response, type_)
                await asyncio.sleep(self._policy.delay(attempt, b.retry_after(response)))
            attempt += 1

    async def submit(
        self,
        article_id: str,
        text: str,
        author: Mapping[str, Any],
        *,
        parent_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        article: Mapping[str, Any] | None = None,
        wait: float | None = None,
        idempotency_key: str | None = None,
    ) -> Comment:
        """Post a comment. ``author``: ``{"id", "name", "email"?}``. With ``wait`` (seconds,
        up to 10) the decision if it comes in time, else ``status == "pending"``. An
        ``Idempotency-Key`` is generated when none is given, so the retries never post twice."""
        call = b.submit_call(
            article_id, text, author, parent_id=parent_id, context=context, article=article,
            wait=wait, idempotency_key=idempotency_key, timeout=self._timeout,
        )  # fmt: skip
        return await self._send(call, Comment)

    async def get(self, comment_id: str) -> Comment:
        return await self._send(b.Call("GET", f"/v1/comments/{b.segment(comment_id)}"), Comment)

    async def delete(self, comment_id: str) -> Comment:
        """Delete a comment (erased; out of every count and list); the stub it leaves."""
        path = f"/v1/comments/{b.segment(comment_id)}"
        return await self._send(b.Call("DELETE", path), Comment)

    async def edit(self, comment_id: str, text: str) -> Comment:
        """Store a new revision of the text; it is hidden until decided again (``pending``)."""
        return await self._send(b.edit_call(comment_id, text), Comment)

    async def list(
        self,
        article_id: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        newest_first: bool = False,
    ) -> CommentPage:
        """One page of an article's approved comments, flat (``next_cursor`` for the next)."""
        call = b.list_call(
            article_id, limit=limit, cursor=cursor, newest_first=newest_first, thread=False
        )
        return await self._send(call, CommentPage)

    async def threads(
        self,
        article_id: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        newest_first: bool = False,
        replies: int | None = None,
    ) -> ThreadPage:
        """One page of top-level comments, each with its first ``replies`` approved replies."""
        call = b.list_call(
            article_id, limit=limit, cursor=cursor, newest_first=newest_first, thread=True,
            replies=replies,
        )  # fmt: skip
        return await self._send(call, ThreadPage)

    async def counts(self, article_ids: Sequence[str]) -> dict[str, int]:
        """Approved-comment counts, any number of ids (one request per 100)."""
        out: dict[str, int] = {}
        for call in b.count_calls(article_ids):
            out.update((await self._send(call, Counts)).counts)
        return out

    async def get_article(self, article_id: str) -> Article:
        """Whether an article takes comments, its title, link and count."""
        path = f"/v1/articles/{b.segment(article_id)}"
        return await self._send(b.Call("GET", path), Article)

    async def put_article(
        self,
        article_id: str,
        *,
        title: str | None = None,
        url: str | None = None,
        published_at: str | float | None = None,
    ) -> Article:
        """Record an article's title, link and publication time (left out: kept)."""
        call = b.article_call(article_id, title=title, url=url, published_at=published_at)
        return await self._send(call, Article)
