"""Every failure as ``{"error": {"code", "message", "field"?}}`` with the right status.

The API's face of :func:`moderation.errors.describe`, which decides status, code, message and
headers for any exception (ours, Redis being unreachable, anything unexpected); this module
only renders it as JSON, logs, and words Starlette's own refusals (unknown route, wrong method).
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ExceptionHandler

from moderation.api.responses import JSON
from moderation.errors import (
    REDIS_UNAVAILABLE,
    ErrorInfo,
    ModerationError,
    describe,
    describe_status,
)

log = logging.getLogger("moderation.api")


def error_response(info: ErrorInfo) -> JSON:
    return JSON(info.body(), status_code=info.status, headers=info.headers)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no route for {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = exc.detail
    return error_response(describe_status(exc.status_code, message, exc.headers))


def error_handler(retry_after_s: int) -> ExceptionHandler:
    """One handler for every exception: :func:`describe` it, log what needs logging, answer."""

    async def on_error(request: Request, exc: Exception) -> Response:
        return answer_error(request, exc, retry_after_s)

    return on_error


def answer_error(request: Request, exc: Exception, retry_after_s: int) -> JSON:
    """:func:`describe` ``exc``, log what needs logging, and render the answer."""
    info = describe(exc, retry_after_s)
    if info.unavailable:
        log.warning("redis unavailable during %s %s: %s", request.method, request.url.path, exc)
    elif info.unexpected:
        log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(info)


def exception_handlers(retry_after_s: int) -> dict[int | type[Exception], ExceptionHandler]:
    on_error = error_handler(retry_after_s)
    # Ours and Redis' by class (Starlette answers those itself); ``Exception`` last: Starlette
    # answers it from its outermost middleware and then re-raises it to the server.
    return {
        ModerationError: on_error,
        HTTPException: on_http_exception,
        **dict.fromkeys(REDIS_UNAVAILABLE, on_error),
        Exception: on_error,
    }
