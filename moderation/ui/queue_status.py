"""The queue page's live parts: the header's totals, the "Held per article" sidebar and the
scoring-health notice.

The page renders them on load, and its script asks ``/moderate/queue/status`` again after
live events (debounced) and every half minute, replacing them whole: the sidebar and the header
come from one read, so after a bulk decision they agree, whatever the events said.

The health notice reads the same facts as ``/v1/stats`` (:func:`moderation.ops.stats.summarize`'s
alerts) and says in a moderator's words what they mean for the queue: no worker running
(comments wait unscored), scoring on the fallback model, the queue stuck.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from moderation.api.access import require_session
from moderation.api.auth import MODERATORS
from moderation.api.moderation import counted_sites, queue_query, queue_review, review_of
from moderation.api.responses import JSON
from moderation.ops.stats import read_state, summarize
from moderation.review.queue import QueueQuery, queue_counts, queue_match_count
from moderation.settings import Settings
from moderation.ui.render import BASE, ENV

#: Articles listed in the sidebar.
SIDEBAR_ARTICLES = 20


@dataclass(frozen=True, slots=True)
class Notice:
    code: str
    #: "bad" (nothing gets scored) or "warn" (scored, but not as usual).
    kind: str
    title: str
    text: str


def notices(summary: dict[str, Any], pending: int) -> list[Notice]:
    """The stats document's alerts, as a moderator needs to read them (pure: table-tested)."""
    out: list[Notice] = []
    waiting = (
        f" {pending} comment{'s' if pending != 1 else ''} wait{'s' if pending == 1 else ''}"
        " for scoring."
        if pending
        else ""
    )
    for alert in summary.get("alerts") or []:
        code = alert.get("code")
        if code == "no_workers":
            out.append(
                Notice(
                    code,
                    "bad",
                    "No scoring worker is running.",
                    "New comments are not being scored and reach this queue only once a "
                    f"worker runs again.{waiting} Tell whoever runs the service.",
                )
            )
        elif code == "scorer_degraded":
            out.append(
                Notice(
                    code,
                    "warn",
                    "Scoring is degraded.",
                    f"{alert.get('message', '')}: toxicity scores are rougher than usual, "
                    "so expect more false holds and read held comments with care.",
                )
            )
        elif code == "queue_stuck":
            out.append(
                Notice(
                    code,
                    "bad",
                    "Scoring is falling behind.",
                    f"{alert.get('message', '')}.{waiting}",
                )
            )
        # A stale worker beside live ones changes nothing for the queue: not shown here.
    # The same condition from several workers is one notice.
    seen: dict[str, Notice] = {}
    for n in out:
        seen.setdefault(n.code, n)
    return list(seen.values())


def is_filtered(q: QueueQuery) -> bool:
    return any(
        v is not None and v != "" for v in (q.article, q.author, q.reason, q.min_score, q.max_score)
    )


def matching_text(n: int, exact: bool) -> str:
    """The header's count of a filtered queue: ``"3 match"``, ``"2,000+ match"``."""
    return f"{n:,}{'' if exact else '+'} match"


async def queue_status(request: Request) -> dict[str, Any]:
    """The template context of the live parts: ``counts``, ``notices`` and, when the request's
    query filters the queue, ``matching`` (the header's count of what matches, in words)."""
    settings: Settings = request.app.state.settings
    review = review_of(request)
    sites = await counted_sites(request)
    counts = await queue_counts(review.redis, review.keys, top=SIDEBAR_ARTICLES, sites=sites)
    summary = summarize(await read_state(review.redis, review.keys, settings), settings)
    q = queue_query(request, default_limit=settings.queue_page_size)
    matching = None
    if is_filtered(q):
        narrowed = await queue_review(request, q)
        count = await queue_match_count(narrowed.redis, narrowed.keys, q)
        matching = matching_text(count.n, count.exact)
    return {"counts": counts, "notices": notices(summary, counts["pending"]), "matching": matching}


async def status(request: Request) -> Response:
    """JSON for the queue page's script: the totals and the two fragments, rendered."""
    await require_session(request, MODERATORS)
    context = await queue_status(request)
    order = request.query_params.get("order", "oldest")
    if order not in ("oldest", "newest", "riskiest"):
        order = "oldest"
    counts = context["counts"]
    fragment = {"BASE": BASE, "order": order, **context}
    return JSON(
        {
            "held": counts["held"],
            "pending": counts["pending"],
            "matching": context["matching"],
            "per_article": ENV.get_template("_per_article.html").render(fragment),
            "notices": ENV.get_template("_notices.html").render(fragment),
        },
        headers={"Cache-Control": "no-store"},
    )
