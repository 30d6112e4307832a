"""What the sync and async clients share: building requests, the retry policy, decoding.

Retries: a ``503`` or ``429`` answer, or a connection that failed, is tried again up to
``retries`` times, waiting what ``Retry-After`` says (capped at ``max_retry_wait``) or, without
it, an exponential backoff with full jitter (0.25 s, 0.5 s, 1 s, … capped). Every call of the
client is safe to repeat: a submission carries an ``Idempotency-Key`` (generated unless given),
a deletion or an edit to the same text changes nothing the second time.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from moderation.client._errors import TransportError, error_for

T = TypeVar("T")

#: The service answers at most this many article ids per counts request.
COUNTS_CHUNK = 100
USER_AGENT = "moderation-client/1"
_RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class Call:
    """One request, before it is sent (built once, sent once per attempt)."""

    method: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    json: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: For a ``?wait`` submission: the read timeout must outlast the wait.
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 3
    backoff: float = 0.25
    max_retry_wait: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_wait)
        return random.uniform(0, min(self.backoff * 2**attempt, self.max_retry_wait))


def segment(value: str) -> str:
    """An id as one path segment: percent-encoded whole (``2026/11/budget`` →
    ``2026%2F11%2Fbudget``), which the service accepts for every id."""
    return quote(value, safe="")


def retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None  # an HTTP date: fall back to the backoff


def should_retry(response: httpx.Response) -> bool:
    return response.status_code in _RETRY_STATUSES


def decode(response: httpx.Response, type_: type[T]) -> T:
    """The typed body of a 2xx answer; the exception of its code for any other."""
    if response.status_code >= 400:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        raise error_for(response.status_code, body, retry_after(response))
    return msgspec.json.decode(response.content, type=type_)


def transport_error(exc: httpx.TransportError) -> TransportError:
    return TransportError(f"the moderation service could not be reached: {exc!r}")


def submit_call(
    article_id: str,
    text: str,
    author: Mapping[str, Any],
    *,
    parent_id: str | None,
    context: Mapping[str, Any] | None,
    article: Mapping[str, Any] | None,
    wait: float | None,
    idempotency_key: str | None,
    timeout: float,
) -> Call:
    body: dict[str, Any] = {"article_id": article_id, "text": text, "author": dict(author)}
    if parent_id is not None:
        body["parent_id"] = parent_id
    if context is not None:
        body["context"] = dict(context)
    if article is not None:
        body["article"] = dict(article)
    return Call(
        "POST",
        "/v1/comments",
        [("wait", str(wait))] if wait else [],
        msgspec.json.encode(body),
        {
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key or str(uuid.uuid4()),
        },
        timeout + wait if wait else None,
    )


def list_call(
    article_id: str,
    *,
    limit: int | None,
    cursor: str | None,
    newest_first: bool,
    thread: bool,
    replies: int | None = None,
) -> Call:
    params = [("thread", "true")] if thread else []
    if limit is not None:
        params.append(("limit", str(limit)))
    if cursor is not None:
        params.append(("cursor", cursor))
    if newest_first:
        params.append(("order", "newest"))
    if replies is not None:
        params.append(("replies", str(replies)))
    return Call("GET", f"/v1/articles/{segment(article_id)}/comments", params)


def count_calls(article_ids: Sequence[str]) -> list[Call]:
    unique = list(dict.fromkeys(article_ids))
    return [
        Call("GET", "/v1/counts", [("article", a) for a in unique[i : i + COUNTS_CHUNK]])
        for i in range(0, len(unique), COUNTS_CHUNK)
    ]


def article_call(
    article_id: str, *, title: str | None, url: str | None, published_at: str | float | None
) -> Call:
    body = {
        k: v
        for k, v in (("title", title), ("url", url), ("published_at", published_at))
        if v is not None
    }
    return Call(
        "PUT",
        f"/v1/articles/{segment(article_id)}",
        json=msgspec.json.encode(body),
        headers={"Content-Type": "application/json"},
    )


def edit_call(comment_id: str, text: str) -> Call:
    return Call(
        "PATCH",
        f"/v1/comments/{segment(comment_id)}",
        json=msgspec.json.encode({"text": text}),
        headers={"Content-Type": "application/json"},
    )


def client_headers(api_key: str | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers
