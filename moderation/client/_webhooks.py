"""Verifying a webhook delivery: a thin wrapper over the ``standardwebhooks`` package.

The service signs each delivery as the Standard Webhooks specification says (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``; ``whsec_`` secrets). During a secret rotation a
site holds both secrets: a delivery verifies if it is signed with any of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import standardwebhooks

from moderation.client._errors import WebhookVerificationError


def verify_webhook(
    headers: Mapping[str, str], body: bytes | str, secrets: str | Iterable[str]
) -> Any:
    """The delivery's JSON payload, once its signature and timestamp verify with one of
    ``secrets``; else :class:`WebhookVerificationError`. ``body`` is the raw request body,
    exactly as received (verify before parsing)."""
    plain = {str(k): str(v) for k, v in headers.items()}
    candidates = [secrets] if isinstance(secrets, str) else list(secrets)
    if not candidates:
        raise WebhookVerificationError("no webhook secret to verify with")
    last: Exception | None = None
    for secret in candidates:
        try:
            return standardwebhooks.Webhook(secret).verify(body, plain)
        except standardwebhooks.WebhookVerificationError as exc:
            last = exc
        except (ValueError, RuntimeError) as exc:  # a malformed secret (bad base64, empty)
            last = exc
    raise WebhookVerificationError(f"webhook does not verify: {last}") from last
