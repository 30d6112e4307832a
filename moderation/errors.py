"""The one error hierarchy of the service, and the one mapping from any exception to what
callers are told.

Library code raises these. :func:`describe` turns *any* exception into an :class:`ErrorInfo`
(status, code, message, headers): one of ours as it says; Redis being unreachable
(:data:`REDIS_UNAVAILABLE`) as ``503 store_unavailable`` with ``Retry-After``; anything else as
``500 internal_error``. Each face only renders it: the API as JSON
(``moderation.api.errors``), the web UI as an HTML error page (``moderation.ui.render``), the
command line as one line and an exit code (``moderation.cli``). Nothing else chooses a status
code for an error.

The hierarchy (HTTP status, code)::

    ModerationError ...................... 500 internal_error
    ├── ConfigError ...................... 500 config_error
    ├── ModelUnavailable ................. 500 model_unavailable
    ├── BadRequest ....................... 400 bad_request
    │   └── InvalidJSON .................. 400 invalid_json
    ├── Unauthorized ..................... 401 unauthorized
    ├── Forbidden ........................ 403 forbidden
    │   ├── CSRFFailed ................... 403 csrf_failed
    │   └── SameModerator ................ 403 same_moderator
    ├── NotFound ......................... 404 not_found
    ├── MethodNotAllowed ................. 405 method_not_allowed
    ├── NotAcceptable .................... 406 not_acceptable
    ├── RequestTimeout ................... 408 request_timeout
    ├── Conflict ......................... 409 conflict
    │   ├── IdempotencyConflict .......... 409 idempotency_key_reused
    │   ├── DecisionConflict ............. 409 already_decided
    │   ├── ArticleClosed ................ 409 article_closed
    │   └── AppealWindowClosed ........... 409 appeal_window_closed
    ├── PayloadTooLarge .................. 413 payload_too_large
    ├── UnsupportedMediaType ............. 415 unsupported_media_type
    ├── ValidationFailed ................. 422 validation_failed
    ├── RateLimited ...................... 429 rate_limited
    ├── ClientClosedRequest .............. 499 client_closed_request
    └── ServiceUnavailable ............... 503 service_unavailable
        └── StoreUnavailable ............. 503 store_unavailable

(``moderation.api.access.SignInRequired``, 401 ``sign_in_required``, extends ``Unauthorized``.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: Redis could not be reached (or did not answer in time): the one definition, used by the
#: error mapping, the API's Redis pool and the workers' retry loops. redis-py wraps the socket's
#: own ``OSError`` in its ``ConnectionError``; the built-in ``ConnectionError`` (refused, reset,
#: broken pipe) covers a socket error that escapes unwrapped. Not every ``OSError``: a missing
#: file is no Redis outage.
REDIS_UNAVAILABLE: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
)


class ModerationError(Exception):
    """Base class. ``code`` is the stable machine-readable name; ``status`` the HTTP status."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """``{"error": {"code", "message", "field"?, **extra}}``"""
        return describe(self).body()


class ConfigError(ModerationError):
    """A setting is missing or malformed (raised at start-up, never per request)."""

    code = "config_error"


class BadRequest(ModerationError):
    status = 400
    code = "bad_request"


class InvalidJSON(BadRequest):
    code = "invalid_json"


class ValidationFailed(ModerationError):
    status = 422
    code = "validation_failed"


class Unauthorized(ModerationError):
    status = 401
    code = "unauthorized"


class Forbidden(ModerationError):
    status = 403
    code = "forbidden"


class NotFound(ModerationError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ModerationError):
    status = 405
    code = "method_not_allowed"


class NotAcceptable(ModerationError):
    status = 406
    code = "not_acceptable"


class RequestTimeout(ModerationError):
    """The request body did not arrive in time (a slow or stalled client)."""

    status = 408
    code = "request_timeout"


class Conflict(ModerationError):
    status = 409
    code = "conflict"


class IdempotencyConflict(Conflict):
    code = "idempotency_key_reused"


class DecisionConflict(Conflict):
    """A moderator decided a comment that is no longer in the status they saw."""

    code = "already_decided"


class ArticleClosed(Conflict):
    """The article is closed to new comments."""

    code = "article_closed"


class AppealWindowClosed(Conflict):
    """The decision is older than the appeal window (``appeal_window_months``)."""

    code = "appeal_window_closed"


class SameModerator(Forbidden):
    """An appeal must be decided by someone other than the moderator who took the decision."""

    code = "same_moderator"


class CSRFFailed(Forbidden):
    """A state-changing request from a web session without the session's CSRF token."""

    code = "csrf_failed"


class PayloadTooLarge(ModerationError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ModerationError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(ModerationError):
    status = 429
    code = "rate_limited"


class ClientClosedRequest(ModerationError):
    """The client went away before its request was read in full (nginx's 499): nobody hears
    the answer, and it is no error of ours (not logged, not counted as a 5xx)."""

    status = 499
    code = "client_closed_request"


class ServiceUnavailable(ModerationError):
    status = 503
    code = "service_unavailable"


class StoreUnavailable(ServiceUnavailable):
    """Redis could not be reached in time."""

    code = "store_unavailable"


class ModelUnavailable(ModerationError):
    """A scorer's weights or runtime are missing; raised at worker start-up."""

    code = "model_unavailable"


# --- the mapping ------------------------------------------------------------------------------

#: What the API says when Redis is unreachable, and what a web page says.
STORE_UNREACHABLE = "the comment store is unreachable; retry shortly"
STORE_UNREACHABLE_PAGE = "The comment store cannot be reached right now. Reload in a moment."
INTERNAL_ERROR = "internal error; it has been logged"

_TITLES = {403: "Not allowed", 404: "Not found", 409: "Conflict"}

#: Refusals the web framework makes itself (no route, wrong method, …): our code for each.
_STATUS_CODES = {
    cls.status: cls.code
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        NotAcceptable,
        PayloadTooLarge,
        UnsupportedMediaType,
        RateLimited,
    )
}


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What callers are told about one failure, whichever face tells them."""

    status: int
    code: str
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Further members of the JSON error object (``field``, ``retry_after_s``, …).
    details: Mapping[str, Any] = field(default_factory=dict)
    #: The sentence a person reading an error page is shown ("" = ``message``).
    page_message: str = ""
    #: Redis is unreachable (log a warning; the caller should retry later).
    unavailable: bool = False
    #: Not one of ours: a bug. Log it with its traceback.
    unexpected: bool = False

    def body(self) -> dict[str, Any]:
        """The JSON document: ``{"error": {"code", "message", "field"?, ...}}``."""
        return {"error": {"code": self.code, "message": self.message, **self.details}}

    @property
    def title(self) -> str:
        """A heading for people (an error page's title)."""
        if self.unavailable:
            return "Store unavailable"
        return _TITLES.get(self.status, "Request refused" if self.status < 500 else "Error")

    @property
    def text(self) -> str:
        """What a person is told (an error page's sentence)."""
        return self.page_message or self.message

    @property
    def exit_code(self) -> int:
        """The command line's exit status: 2 for a refusal or outage, 1 for a bug."""
        return 1 if self.unexpected else 2


def describe(exc: BaseException, retry_after_s: int | None = None) -> ErrorInfo:
    """The one decision for any exception: status, code, message and headers.

    ``retry_after_s`` is the ``Retry-After`` sent when Redis is unreachable (none if ``None``).
    """
    if isinstance(exc, ModerationError):
        details: dict[str, Any] = {}
        if exc.field is not None:
            details["field"] = exc.field
        details.update(exc.extra)
        return ErrorInfo(
            exc.status,
            exc.code,
            exc.message,
            dict(exc.headers),
            details,
            unavailable=isinstance(exc, StoreUnavailable),
        )
    if isinstance(exc, REDIS_UNAVAILABLE):
        headers = {} if retry_after_s is None else {"Retry-After": str(retry_after_s)}
        info = describe(StoreUnavailable(STORE_UNREACHABLE, headers=headers))
        return replace(info, page_message=STORE_UNREACHABLE_PAGE)
    return ErrorInfo(500, "internal_error", INTERNAL_ERROR, unexpected=True)


def describe_status(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> ErrorInfo:
    """A refusal the web framework made itself (no such route, wrong method): its status, with
    our code for that status (``http_error`` for one we have no name for)."""
    return ErrorInfo(status, _STATUS_CODES.get(status, "http_error"), message, dict(headers or {}))
