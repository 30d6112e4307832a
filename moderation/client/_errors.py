"""The client's exceptions: one class per error code the service answers, under one base.

Every error the service sends is ``{"error": {"code", "message", "field"?, …}}``; the client
raises the class of its ``code`` (an unknown code: the class of its HTTP status), carrying the
status, code, message, field and the whole error object::

    ModerationClientError ................ (base; also raised for transport failures)
    ├── TransportError ................... the service could not be reached
    └── APIError ......................... any error response (status, code, message, field)
        ├── BadRequest ................... 400 bad_request
        │   └── InvalidJSON .............. 400 invalid_json
        ├── Unauthorized ................. 401 unauthorized
        ├── Forbidden .................... 403 forbidden
        ├── NotFound ..................... 404 not_found
        ├── Conflict ..................... 409 conflict
        │   ├── IdempotencyKeyReused ..... 409 idempotency_key_reused
        │   ├── AlreadyDecided ........... 409 already_decided
        │   └── ArticleClosed ............ 409 article_closed
        ├── PayloadTooLarge .............. 413 payload_too_large
        ├── UnsupportedMediaType ......... 415 unsupported_media_type
        ├── ValidationFailed ............. 422 validation_failed
        ├── RateLimited .................. 429 rate_limited (after the retries)
        └── ServiceUnavailable ........... 503 service_unavailable (after the retries)
            └── StoreUnavailable ......... 503 store_unavailable

``WebhookVerificationError`` (from ``verify_webhook``) also derives from the base.
"""

from __future__ import annotations

from typing import Any


class ModerationClientError(Exception):
    """Base of everything this client raises."""


class TransportError(ModerationClientError):
    """The request did not get an answer (connection refused, timeout)."""


class WebhookVerificationError(ModerationClientError):
    """A webhook delivery whose signature, timestamp or headers do not verify."""


class APIError(ModerationClientError):
    """An error response. ``retry_after`` (seconds) when the service sent ``Retry-After``."""

    status: int = 0
    code: str = ""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        field: str | None = None,
        detail: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.message = message
        self.status = status
        self.code = code
        self.field = field
        self.detail = detail or {}
        self.retry_after = retry_after


class BadRequest(APIError):
    pass


class InvalidJSON(BadRequest):
    pass


class Unauthorized(APIError):
    pass


class Forbidden(APIError):
    pass


class NotFound(APIError):
    pass


class Conflict(APIError):
    pass


class IdempotencyKeyReused(Conflict):
    pass


class AlreadyDecided(Conflict):
    pass


class ArticleClosed(Conflict):
    pass


class PayloadTooLarge(APIError):
    pass


class UnsupportedMediaType(APIError):
    pass


class ValidationFailed(APIError):
    pass


class RateLimited(APIError):
    pass


class ServiceUnavailable(APIError):
    pass


class StoreUnavailable(ServiceUnavailable):
    pass


BY_CODE: dict[str, type[APIError]] = {
    "bad_request": BadRequest,
    "invalid_json": InvalidJSON,
    "unauthorized": Unauthorized,
    "sign_in_required": Unauthorized,
    "forbidden": Forbidden,
    "csrf_failed": Forbidden,
    "not_found": NotFound,
    "conflict": Conflict,
    "idempotency_key_reused": IdempotencyKeyReused,
    "already_decided": AlreadyDecided,
    "article_closed": ArticleClosed,
    "payload_too_large": PayloadTooLarge,
    "unsupported_media_type": UnsupportedMediaType,
    "validation_failed": ValidationFailed,
    "rate_limited": RateLimited,
    "service_unavailable": ServiceUnavailable,
    "store_unavailable": StoreUnavailable,
}
BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    429: RateLimited,
    503: ServiceUnavailable,
}


def error_for(status: int, body: Any, retry_after: float | None) -> APIError:
    """The exception for an error response (``body``: its decoded JSON, or anything else)."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        err = {"code": f"http_{status}", "message": f"HTTP {status}"}
    code = str(err.get("code", f"http_{status}"))
    cls = BY_CODE.get(code) or BY_STATUS.get(status, APIError)
    field = err.get("field")
    return cls(
        str(err.get("message", "")),
        status=status,
        code=code,
        field=str(field) if field is not None else None,
        detail=err,
        retry_after=retry_after,
    )
