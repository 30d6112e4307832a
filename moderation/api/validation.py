"""Request-body reading and validation: every rejection names the offending field.

Order of checks: size (413, before reading more than the limit), media type (415), JSON
syntax and UTF-8 (400), shape and types (422, msgspec), then the rules msgspec cannot express
(422): non-empty text within the length limit, id lengths, no control characters in ids, a
valid IP address, encodable Unicode.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlsplit

import msgspec
from starlette.requests import ClientDisconnect, Request

from moderation.errors import (
    ClientClosedRequest,
    InvalidJSON,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
    ValidationFailed,
)
from moderation.ids import check_id_characters
from moderation.messages import (
    ArticleIn,
    Author,
    CommentIn,
    CommentRecord,
    Context,
    json_encoder,
)
from moderation.settings import Settings

T = TypeVar("T")

#: Characters no id may hold: Unicode categories Cc (controls), Cs (surrogates), Zl and Zp
#: (line and paragraph separators); one regex search instead of a category lookup per character.
#: An IPv4 address exactly as ``ipaddress`` writes it (no leading zeros, each octet <= 255):
#: the common case, accepted as it is without the cost of parsing it.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}", re.ASCII)
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_NAMED = re.compile(r"(?:missing required field|unknown field) `(?P<name>[^`]+)`")


async def read_body(request: Request, limit: int, deadline_s: float) -> bytes:
    """The raw body, refusing more than ``limit`` bytes without buffering the excess, and a
    body still incomplete after ``deadline_s`` seconds (408, and the connection is closed: the
    rest of a body we stopped reading cannot be told from the next request). A client that
    disconnects mid-body is :class:`ClientClosedRequest`, not an error of ours."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_large(limit)
        except ValueError:
            raise InvalidJSON("Content-Length is not a number", field="Content-Length") from None
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(deadline_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(
            f"the request body did not arrive within {deadline_s:g} s",
            field="body",
            headers={"Connection": "close"},
        ) from None
    except ClientDisconnect:
        raise ClientClosedRequest("the client closed the connection mid-body") from None
    return b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body exceeds {limit} bytes", field="body")


def check_json_media_type(request: Request) -> None:
    """Accept ``application/json`` (and ``…+json``); a missing Content-Type is taken as JSON."""
    ctype = request.headers.get("content-type")
    if ctype is None:
        return
    media = ctype.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, not {media or 'empty'}",
            field="Content-Type",
        )


def decode_json(body: bytes, kind: type[T]) -> T:
    """Decode ``body`` into ``kind``, turning msgspec's errors into named-field 4xx errors."""
    if not body.strip():
        raise InvalidJSON("request body is empty; expected a JSON object", field="body")
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise _validation_error(str(exc)) from None
    except UnicodeDecodeError:
        raise InvalidJSON("request body is not valid UTF-8", field="body") from None
    except msgspec.DecodeError as exc:
        message = str(exc)
        if "UTF-8" in message or "utf-8" in message:
            raise InvalidJSON("request body is not valid UTF-8", field="body") from None
        raise InvalidJSON(f"request body is not valid JSON: {message}", field="body") from None


def _validation_error(message: str) -> ValidationFailed:
    """msgspec says e.g. "Expected `str`, got `int` - at `$.author.id`"; name that field."""
    path = ""
    at = _AT.search(message)
    if at:
        path = at.group("path")
        message = message[: at.start()]
    named = _NAMED.search(message)
    if named:
        path = f"{path}.{named.group('name')}"
    field = _dotted(path) or "body"
    return ValidationFailed(f"{field}: {message}", field=field)


def _dotted(path: str) -> str:
    # "$.author.id" -> "author.id"; "$.items[0].x" stays readable as "items[0].x".
    return path.lstrip(".")


def body_digest(payload: msgspec.Struct) -> str:
    """A digest of the decoded payload: key order and whitespace do not change it."""
    return hashlib.sha256(json_encoder.encode(payload)).hexdigest()


# --- semantic checks --------------------------------------------------------------------------


def _require(value: str, field: str, max_chars: int, *, is_id: bool) -> str:
    if not value.strip():
        raise ValidationFailed(f"{field} must not be empty", field=field)
    if len(value) > max_chars:
        raise ValidationFailed(
            f"{field} is {len(value)} characters; the limit is {max_chars}", field=field
        )
    if is_id:
        check_id_characters(value, field)
    _encodable(value, field)
    return value


def _optional(value: str | None, field: str, max_chars: int, *, is_id: bool = False) -> str | None:
    if value is None:
        return None
    return _require(value, field, max_chars, is_id=is_id)


def _encodable(value: str, field: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed(
            f"{field} contains an unpaired surrogate (not valid Unicode)", field=field
        ) from None


def _epoch_ms(value: datetime | float | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValidationFailed(
                "context.page_loaded_at needs a time zone (e.g. a trailing Z)",
                field="context.page_loaded_at",
            )
        return int(value.timestamp() * 1000)
    if not 0 <= value < 1e11:
        raise ValidationFailed(
            "context.page_loaded_at must be epoch seconds or an ISO-8601 timestamp",
            field="context.page_loaded_at",
        )
    return int(value * 1000)


def check_text(text: str, settings: Settings) -> str:
    """A comment's text as submitted or edited: not blank, within the limit, encodable."""
    if not text.strip():
        raise ValidationFailed("text must not be empty", field="text")
    if len(text) > settings.max_text_chars:
        raise ValidationFailed(
            f"text is {len(text)} characters; the limit is {settings.max_text_chars}", field="text"
        )
    _encodable(text, "text")
    return text


def to_record(
    payload: CommentIn, settings: Settings, *, comment_id: str, site: str, created_at: int
) -> CommentRecord:
    """Validate what msgspec could not and build the record to store (text verbatim)."""
    s = settings
    article_id = _require(payload.article_id, "article_id", s.max_id_chars, is_id=True)
    text = check_text(payload.text, s)
    author = Author(
        id=_require(payload.author.id, "author.id", s.max_id_chars, is_id=True),
        name=_require(payload.author.name, "author.name", s.max_name_chars, is_id=False),
        email=_optional(payload.author.email, "author.email", 320),
    )
    if author.email is not None and "@" not in author.email:
        raise ValidationFailed("author.email is not an email address", field="author.email")
    parent_id = _optional(payload.parent_id, "parent_id", s.max_id_chars, is_id=True)
    context = None
    if payload.context is not None:
        c = payload.context
        ip = _optional(c.ip, "context.ip", 64)
        if ip is not None:
            try:
                ip = ip.strip()
                if not _CANONICAL_IPV4.fullmatch(ip):  # as ip_address would write it back
                    ip = str(ipaddress.ip_address(ip))
            except ValueError:
                raise ValidationFailed(
                    "context.ip is not an IPv4 or IPv6 address", field="context.ip"
                ) from None
        context = Context(
            ip=ip,
            user_agent=_optional(c.user_agent, "context.user_agent", 1000),
            referrer=_optional(c.referrer, "context.referrer", 2000),
            page_loaded_at=_epoch_ms(c.page_loaded_at),
            honeypot=c.honeypot if c.honeypot else None,
        )
        if context.honeypot is not None:
            _optional(context.honeypot, "context.honeypot", 1000)
    return CommentRecord(
        id=comment_id,
        article_id=article_id,
        text=text,
        author=author,
        created_at=created_at,
        site=site,
        parent_id=parent_id,
        context=context,
    )


def query_int(value: str | None, field: str, *, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValidationFailed(f"{field} must be an integer", field=field) from None
    if not low <= number <= high:
        raise ValidationFailed(f"{field} must be between {low} and {high}", field=field)
    return number


def query_float(value: str | None, field: str, *, low_exclusive: float, high: float) -> float:
    assert value is not None
    try:
        number = float(value)
    except ValueError:
        raise ValidationFailed(f"{field} must be a number of seconds", field=field) from None
    if not (low_exclusive < number <= high) or number != number:
        raise ValidationFailed(
            f"{field} must be greater than {low_exclusive:g} and at most {high:g}", field=field
        )
    return number


@dataclass(frozen=True, slots=True)
class ArticleFacts:
    """A checked :class:`ArticleIn` (times in epoch ms)."""

    title: str | None
    url: str | None
    published_at: int | None


def check_article(article: ArticleIn, article_id: str, prefix: str = "") -> ArticleFacts:
    """Validate what a site says about an article (``prefix``: where it sits in the body)."""
    if article.id is not None and article.id != article_id:
        raise ValidationFailed(
            f"{prefix}id must be the comment's article_id (or left out)", field=f"{prefix}id"
        )
    title = _optional(article.title, f"{prefix}title", 500)
    url = _optional(article.url, f"{prefix}url", 2000, is_id=True)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationFailed(
                f"{prefix}url must be an absolute http(s) URL", field=f"{prefix}url"
            )
    published = article.published_at
    published_ms = None
    if isinstance(published, datetime):
        if published.tzinfo is None:
            raise ValidationFailed(
                f"{prefix}published_at needs a time zone", field=f"{prefix}published_at"
            )
        published_ms = int(published.timestamp() * 1000)
    elif published is not None:
        if not 0 <= published < 1e11:
            raise ValidationFailed(
                f"{prefix}published_at must be epoch seconds or an ISO-8601 time",
                field=f"{prefix}published_at",
            )
        published_ms = int(published * 1000)
    return ArticleFacts(title, url, published_ms)
