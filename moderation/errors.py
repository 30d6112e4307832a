"""The one error hierarchy of the service, and its mapping to HTTP statuses.

Library code raises these; ``moderation.api.errors`` turns any of them into
``{"error": {"code", "message", "field"?}}`` with ``status``. Nothing else chooses a status code
for an error.
"""

from __future__ import annotations

from typing import Any, ClassVar


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
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            err["field"] = self.field
        err.update(self.extra)
        return {"error": err}


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


class ServiceUnavailable(ModerationError):
    status = 503
    code = "service_unavailable"


class StoreUnavailable(ServiceUnavailable):
    """Redis could not be reached in time."""

    code = "store_unavailable"


class ModelUnavailable(ModerationError):
    """A scorer's weights or runtime are missing; raised at worker start-up."""

    code = "model_unavailable"
