"""The operations dashboard: ``/moderate/dashboard`` and its live feed.

The page is rendered with the current figures (so it is useful before any script runs) and
the gauges' history of the last ``dashboard_history_s`` (``moderation.ops.samples``), so its
charts of queue depth, oldest comment and time to decision start full, not empty; the feed,
``/moderate/dashboard/stream``, pushes the ``/v1/stats`` document plus the last hour's
per-minute history every ``MODERATION_DASHBOARD_INTERVAL_S`` as Server-Sent Events
(``event: stats``), which the charts append. Each push costs one bounded stats read
(``moderation.ops.stats``); the history is read once, with the page.

Beside the stats document each push carries ``reasons`` (why comments were held or rejected,
in words, most frequent first) and ``api_errors`` (5xx answers: in all, and within the
samples' window).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from moderation.api.access import Principal, require_principal
from moderation.api.auth import MODERATORS
from moderation.messages import json_encoder
from moderation.ops.samples import api_errors, read_samples
from moderation.ops.stats import history, read_state, summarize
from moderation.settings import Settings
from moderation.store.sessions import COOKIE, load_session
from moderation.ui.present import FILTER_REASONS
from moderation.ui.render import BASE, NAV_LINKS, NavLink, render, ui_page

NAV_LINKS.insert(1, NavLink("Dashboard", f"{BASE}/dashboard", MODERATORS))


#: Reason codes of the decision-mix counters, in words (``toxicity:<label>`` is composed).
REASON_WORDS = {
    **dict(FILTER_REASONS),
    "toxicity": "Toxicity",
    "spam": "Spam score",
    "banned_author": "Banned author",
    "closed": "Article closed",
    "dead_letter": "Scoring failed (dead-lettered)",
    "scorer_unavailable": "Scorer unavailable",
}


#: Detoxify's labels as a held comment's reason.
LABEL_WORDS = {
    "toxicity": "Toxicity",
    "severe_toxicity": "Severe toxicity",
    "obscene": "Obscenity",
    "identity_attack": "Identity attack",
    "insult": "Insult",
    "threat": "Threat",
    "sexual_explicit": "Sexually explicit",
}


def reason_words(code: str) -> str:
    """``toxicity:severe_toxicity`` → "Severe toxicity", ``spam`` → "Spam score"; an unknown
    code still reads as words (``rule:x_y`` → "Rule: x y")."""
    if code in REASON_WORDS:
        return REASON_WORDS[code]
    kind, _, label = code.partition(":")
    if kind == "toxicity" and label:
        return LABEL_WORDS.get(label, label.replace("_", " ").capitalize())
    if kind == "rule" and label:
        return f"Rule: {label.replace('_', ' ')}"
    text = code.replace("_", " ").replace(":", ": ")
    return text[:1].upper() + text[1:]


async def _document(request: Request, *, with_samples: bool = False) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    redis, keys = request.app.state.redis, request.app.state.keys
    state = await read_state(redis, keys, settings)
    doc = summarize(state, settings)
    doc["history"] = history(state)
    doc["stuck_queue_s"] = settings.stuck_queue_s
    doc["reasons"] = [
        {"code": code, "text": reason_words(code), "count": n}
        for code, n in sorted(doc["decisions"]["by_reason"].items(), key=lambda kv: -kv[1])
    ]
    since = state.now - settings.dashboard_history_s
    # The whole history with the page; with each push only its oldest sample (the baseline
    # of the counts "within the window").
    samples = await read_samples(redis, keys, since, None if with_samples else 1)
    if with_samples:
        doc["samples"] = samples
    total = api_errors(state.recorded)
    first = samples[0] if samples else None
    doc["api_errors"] = {
        "total": total,
        "window_s": settings.dashboard_history_s,
        # Since the oldest sample (None before the first one): 5xx answers, refused comments.
        "window": _since(total, first, "api_errors"),
    }
    doc["rate_limited"]["window"] = _since(doc["rate_limited"]["total"], first, "rate_limited")
    return doc


def _since(total: int, first: dict[str, float | None] | None, name: str) -> int | None:
    then = first.get(name) if first is not None else None
    return max(0, total - int(then)) if then is not None else None


def duration(seconds: float | None) -> str:
    """An age in words for a tile: "none waiting", "4.2 s", "42 s", "3 min 5 s", "2 h 10 min"."""
    if seconds is None:
        return "none waiting"
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


@ui_page(MODERATORS)
async def dashboard(request: Request, principal: Principal) -> Response:
    doc = await _document(request, with_samples=True)
    return render(
        request,
        principal,
        "dashboard.html",
        {
            "title": "Dashboard",
            "stats": doc,
            "initial": json_encoder.encode(doc).decode(),
            "interval_s": request.app.state.settings.dashboard_interval_s,
            "duration": duration,
        },
    )


async def dashboard_stream(request: Request) -> Response:
    """The live feed. A session's stream ends once the session does (revoked, signed out,
    account disabled): the session is read again before every push."""
    principal = await require_principal(request, MODERATORS)
    state = request.app.state
    interval = state.settings.dashboard_interval_s
    cookie = request.cookies.get(COOKIE, "") if principal.session is not None else ""

    async def stream() -> AsyncIterator[str]:
        yield f"retry: {int(interval * 1000)}\n\n"
        while True:
            try:
                if cookie and not await load_session(
                    state.redis, state.keys, state.settings, cookie
                ):
                    yield "event: signed_out\ndata: {}\n\n"
                    return
                payload = json_encoder.encode(await _document(request)).decode()
                yield f"event: stats\ndata: {payload}\n\n"
            except (RedisError, OSError) as exc:
                # Keep the stream open and say why the figures stopped moving.
                yield f"event: unavailable\ndata: {json_encoder.encode(str(exc)).decode()}\n\n"
            await asyncio.sleep(interval)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
