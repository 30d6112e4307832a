"""A client for the comment moderation service: sync (:class:`ModerationClient`) and async
(:class:`AsyncModerationClient`), typed answers (msgspec structs), one exception per error code
(the tree is drawn in ``_errors``), retries with backoff on ``503``/``429`` honouring
``Retry-After``, and :func:`verify_webhook` for signed deliveries::

    from moderation.client import ModerationClient

    with ModerationClient("https://moderation.example", api_key=SITE_KEY) as mod:
        c = mod.submit("2026/11/budget", "Clear explainer.", {"id": "r17", "name": "Sam"}, wait=2)
        if c.held:
            ...  # show "awaiting moderation" to its author

It needs ``httpx``, ``msgspec`` and ``standardwebhooks`` and imports nothing else of this
project, so a site can vendor the package on its own.
"""

from moderation.client._async import AsyncModerationClient
from moderation.client._errors import (
    AlreadyDecided,
    APIError,
    ArticleClosed,
    BadRequest,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    InvalidJSON,
    ModerationClientError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    StoreUnavailable,
    TransportError,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
    WebhookVerificationError,
)
from moderation.client._models import (
    Article,
    Author,
    Comment,
    CommentPage,
    PublicComment,
    Thread,
    ThreadPage,
)
from moderation.client._sync import ModerationClient
from moderation.client._webhooks import verify_webhook

__all__ = [
    "APIError",
    "AlreadyDecided",
    "Article",
    "ArticleClosed",
    "AsyncModerationClient",
    "Author",
    "BadRequest",
    "Comment",
    "CommentPage",
    "Conflict",
    "Forbidden",
    "IdempotencyKeyReused",
    "InvalidJSON",
    "ModerationClient",
    "ModerationClientError",
    "NotFound",
    "PayloadTooLarge",
    "PublicComment",
    "RateLimited",
    "ServiceUnavailable",
    "StoreUnavailable",
    "Thread",
    "ThreadPage",
    "TransportError",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationFailed",
    "WebhookVerificationError",
    "verify_webhook",
]
