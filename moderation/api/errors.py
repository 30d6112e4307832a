"""Map every failure to ``{"error": {"code", "message", "field"?}}`` with the right status.

The one place where exceptions become HTTP responses: our own hierarchy
(``moderation.errors``), Starlette's HTTP exceptions (unknown route, wrong method), Redis
being unreachable (503 with ``Retry-After``) and, last, anything unexpected (500, logged).
"""

from __future__ import annotations

import logging

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ExceptionHandler

from moderation.api.responses import JSON
from moderation.errors import ModerationError, StoreUnavailable

log = logging.getLogger("moderation.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_response(exc: ModerationError) -> JSON:
    return JSON(exc.body(), status_code=exc.status, headers=exc.headers)


async def on_moderation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModerationError)
    return error_response(exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no route for {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = exc.detail
    body = {"error": {"code": _HTTP_CODES.get(exc.status_code, "http_error"), "message": message}}
    return JSON(body, status_code=exc.status_code, headers=dict(exc.headers or {}))


def redis_down_handler(retry_after_s: int) -> ExceptionHandler:
    async def on_redis_down(request: Request, exc: Exception) -> Response:
        log.warning("redis unavailable during %s %s: %s", request.method, request.url.path, exc)
        err = StoreUnavailable(
            "the comment store is unreachable; retry shortly",
            headers={"Retry-After": str(retry_after_s)},
        )
        return error_response(err)

    return on_redis_down


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error in %s %s", request.method, request.url.path)
    body = {"error": {"code": "internal_error", "message": "internal error; it has been logged"}}
    return JSON(body, status_code=500)


def exception_handlers(retry_after_s: int) -> dict[int | type[Exception], ExceptionHandler]:
    on_redis_down = redis_down_handler(retry_after_s)
    return {
        ModerationError: on_moderation_error,
        HTTPException: on_http_exception,
        RedisConnectionError: on_redis_down,
        RedisTimeoutError: on_redis_down,
        ConnectionRefusedError: on_redis_down,
        Exception: on_unexpected,
    }
