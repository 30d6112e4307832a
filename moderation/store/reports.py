"""Reader reports on comments (DSA Art. 16) in Redis: filing one, closing a comment's reports.

A reporter is a keyed hash (HMAC-SHA256 under a secret made once and kept in Redis) of the
site's reader id or of the reader's address, so the same reader is recognised without the id
or address being stored. Both writes are one script each (``report.lua``, ``report_close.lua``):
a report is refused as a duplicate or over the rate limit before anything is written, and
closing emits every reporter's ``report.decided`` event in the same step that empties the
comment's place in the Reported queue.

Events on ``keys.events`` with a ``type`` field are not status changes. ``report.filed``
(written by ``report.lua`` with the report) carries ``id`` (comment), ``article`` and ``report``:
the report JSON *without* the notifier's name and e-mail (:func:`archived_form`), for the
record. ``report.decided`` carries ``id`` (comment), ``article``, ``report`` (the report JSON,
receipt inside), ``outcome`` (``kept`` | ``removed``), ``automated`` (``0`` | ``1``), ``by``
and ``at``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import json_encoder
from moderation.store.codec import as_str, script
from moderation.store.transitions import EVENTS_MAXLEN


class ReportReason(enum.StrEnum):
    OFFENSIVE = "offensive"
    HARASSMENT = "harassment"
    SPAM = "spam"
    MISINFORMATION = "misinformation"
    ILLEGAL = "illegal"


class Notice(msgspec.Struct, omit_defaults=True):
    """The Art. 16(2) fields of an ``illegal`` report."""

    explanation: str
    url: str
    name: str
    email: str
    good_faith: bool


class Report(msgspec.Struct, omit_defaults=True):
    """One open report, as stored (the reporter only as its keyed hash)."""

    receipt: str
    comment_id: str
    reason: ReportReason
    at: int  # epoch ms
    reporter: str
    notice: Notice | None = None


_decoder = msgspec.json.Decoder(Report)


def decode_report(raw: Any) -> Report:
    return _decoder.decode(raw)


@dataclass(frozen=True, slots=True)
class Filed:
    """``outcome``: ``ok`` (``open`` reports now), ``duplicate`` (``earlier`` is the first one)
    or ``rate`` (``retry_after_s``)."""

    outcome: str
    open: int = 0
    earlier: Report | None = None
    retry_after_s: int = 0


def archived_form(report: Report) -> Report:
    """The report as the record keeps it: the notifier's name and e-mail left out (needed only
    while the report is open, to answer the notifier; the record is kept for years)."""
    if report.notice is None:
        return report
    notice = msgspec.structs.replace(report.notice, name="", email="")
    return msgspec.structs.replace(report, notice=notice)


async def reporter_hash(redis: Redis, keys: Keys, identity: str) -> str:
    """The keyed hash that stands for one reporter (the key is made once, first come wins)."""
    secret = await redis.get(keys.reporter_secret)
    if secret is None:
        await redis.set(keys.reporter_secret, secrets.token_hex(32), nx=True)
        secret = await redis.get(keys.reporter_secret)
    mac = hmac.new(as_str(secret).encode(), identity.encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


async def file_report(
    redis: Redis,
    keys: Keys,
    report: Report,
    *,
    article_id: str,
    site: str,
    risk: float,
    rate_max: int,
    window_s: int,
) -> Filed:
    reply = await script(redis, "report.lua")(
        keys=[
            keys.reports(report.comment_id),
            keys.reported,
            keys.report_rate(report.reporter),
            keys.events,
        ],
        args=[
            report.comment_id,
            report.reporter,
            json_encoder.encode(report),
            min(max(risk, 0.0), 0.999),
            rate_max,
            window_s,
            json_encoder.encode(archived_form(report)),
            EVENTS_MAXLEN,
            article_id,
            site,
        ],
    )
    kind = as_str(reply[0])
    if kind == "duplicate":
        return Filed("duplicate", earlier=decode_report(reply[1]))
    if kind == "rate":
        return Filed("rate", retry_after_s=max(int(reply[1]), 1))
    return Filed("ok", open=int(reply[1]))


async def open_reports(redis: Redis, keys: Keys, comment_ids: Sequence[str]) -> list[list[Report]]:
    pipe = redis.pipeline(transaction=False)
    for cid in comment_ids:
        pipe.hvals(keys.reports(cid))
    rows = await pipe.execute()
    return [sorted((decode_report(r) for r in row), key=lambda r: r.at) for row in rows]


async def close_reports(
    redis: Redis,
    keys: Keys,
    comment_id: str,
    article_id: str,
    site: str,
    *,
    outcome: str,
    automated: bool,
    by: str,
    now: int,
) -> list[Report]:
    reply = await script(redis, "report_close.lua")(
        keys=[keys.reports(comment_id), keys.reported, keys.events],
        args=[comment_id, outcome, int(automated), now, EVENTS_MAXLEN, by, article_id, site],
    )
    return [decode_report(r) for r in reply]


async def reported_ids(redis: Redis, keys: Keys, offset: int, limit: int) -> list[str]:
    """Comments with open reports, most reported (then riskiest) first."""
    rows = await redis.zrevrange(keys.reported, offset, offset + limit - 1)
    return [as_str(r) for r in rows]
