"""The Transparency Database sender (DSA Art. 24(5)): pending statements of reasons, posted in
batches of at most 100 to ``MODERATION_TDB_URL`` with ``Authorization: Bearer
MODERATION_TDB_TOKEN``; off while the URL is empty.

One batch at a time, oldest first (``moderation.record.tdb.pending``): the body is the
database's ``{"statements": [...]}``; a ``201`` (or ``200``) records the batch in ``tdb_sent``
so it is never sent again. A refused connection, a timeout, ``408``, ``429`` or a ``5xx`` is
tried again up to ``MODERATION_TDB_ATTEMPTS`` times, waits doubling from
``MODERATION_TDB_BACKOFF_S`` (a ``Retry-After`` in seconds is honoured); any other answer (a
``4xx``: the token or a statement refused) stops the run with the answer's status and body, as
does a batch that exhausted its tries: what was not sent stays pending for the next run.

A kill between the database's ``201`` and the record's commit leaves that one batch pending: it
goes again under the same ``puid`` values, which the database keeps unique per platform.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import httpx

from moderation.errors import ConfigError
from moderation.ids import new_id
from moderation.record import Record
from moderation.record.tdb import mark_sent, pending
from moderation.settings import Settings

log = logging.getLogger("moderation.tdb")

_RETRY = {408, 429}


@dataclass(frozen=True, slots=True)
class SendResult:
    """``sent`` statements in ``batches`` requests; ``error``: why the run stopped early."""

    sent: int
    batches: int
    error: str | None = None


def _wait(response: httpx.Response | None, backoff: float) -> float:
    if response is not None:
        raw = response.headers.get("retry-after", "")
        if raw.isdigit():
            return min(float(raw), 300.0)
    return backoff


async def send_pending(
    settings: Settings,
    record: Record,
    client: httpx.AsyncClient,
    *,
    max_batches: int = 0,
    rescan: bool = False,
) -> SendResult:
    """Send what is pending (``max_batches`` > 0: at most that many requests; ``rescan``: look
    through the whole record, not only from a day before the newest statement sent)."""
    if not settings.tdb_url:
        raise ConfigError("MODERATION_TDB_URL is not set: the Transparency Database sender is off")
    headers = {
        "Authorization": f"Bearer {settings.tdb_token}",
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    sent = requests = 0
    while not max_batches or requests < max_batches:
        batch = await pending(
            record, settings.tdb_territorial_scope, settings.tdb_batch_size, rescan=rescan
        )
        if not batch:
            return SendResult(sent, requests)
        body = {"statements": [doc for _, doc in batch]}
        backoff = settings.tdb_backoff_s
        error: str | None = None
        for attempt in range(1, settings.tdb_attempts + 1):
            response: httpx.Response | None = None
            try:
                response = await client.post(
                    settings.tdb_url, json=body, headers=headers, timeout=settings.tdb_timeout_s
                )
            except httpx.TransportError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code in (200, 201):
                    error = None
                    break
                error = f"HTTP {response.status_code}: {response.text[:500]}"
                if response.status_code < 500 and response.status_code not in _RETRY:
                    break  # refused: trying again sends the same refusal
            if attempt < settings.tdb_attempts:
                log.warning("transparency database: %s; trying again (%d)", error, attempt)
                await asyncio.sleep(_wait(response, backoff))
                backoff *= 2
        requests += 1
        if error is not None:
            return SendResult(sent, requests, error)
        await mark_sent(record, f"b_{new_id()}", batch, int(time.time() * 1000))
        sent += len(batch)
        log.info("transparency database: sent %d statements", len(batch))
    return SendResult(sent, requests)
