"""The DSA pages of the moderator UI: **Reported** (published comments with their readers'
reports grouped, most reported then riskiest; keep or remove) and **Appeals** (the decision
appealed with its statement of reasons and the author's text; uphold or reverse).

Both are server-rendered from the same functions as the JSON API (``moderation.review.reports``
and ``.appeals``); ``static/dsa.js`` sends each button's action to that API with the session's
CSRF token and takes the decided item off the page.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from moderation.api.access import Principal
from moderation.api.auth import MODERATORS
from moderation.api.moderation import review_of
from moderation.api.validation import query_int
from moderation.errors import ValidationFailed
from moderation.review import appeals, reports
from moderation.review.decisions import REJECT_REASONS
from moderation.ui.render import BASE, NAV_LINKS, NavLink, render, ui_page

#: After the queue: the other places a moderator decides comments.
_after = next((i + 1 for i, link in enumerate(NAV_LINKS) if link.label == "Queue"), 1)
NAV_LINKS[_after:_after] = [
    NavLink("Reported", f"{BASE}/reported", MODERATORS),
    NavLink("Appeals", f"{BASE}/appeals", MODERATORS),
]

PAGE_SIZE = 50


@ui_page(MODERATORS)
async def reported(request: Request, principal: Principal) -> Response:
    offset = query_int(request.query_params.get("offset"), "offset", default=0, low=0, high=10**5)
    review = review_of(request)
    entries = await reports.reported_page(review, offset, PAGE_SIZE)
    total = await review.redis.zcard(review.keys.reported)
    return render(
        request,
        principal,
        "reported.html",
        {
            "title": "Reported comments",
            "entries": entries,
            "total": total,
            "reasons": list(REJECT_REASONS.items()),
            "next_offset": offset + PAGE_SIZE if offset + PAGE_SIZE < total else None,
        },
    )


def _mine(appeal: dict[str, Any], principal: Principal) -> bool:
    """Whether the signed-in moderator took the decision under appeal (then they may not
    decide the appeal)."""
    d = appeal["decision"]
    return not d["automated"] and str(d["by"]).partition(":")[2] == principal.name


@ui_page(MODERATORS)
async def appeals_page(request: Request, principal: Principal) -> Response:
    q = request.query_params
    status = q.get("status") or "open"
    if status not in ("open", "decided"):
        raise ValidationFailed("status must be 'open' or 'decided'", field="status")
    offset = query_int(q.get("offset"), "offset", default=0, low=0, high=10**5)
    entries, total = await appeals.page(
        review_of(request), decided=status == "decided", offset=offset, limit=PAGE_SIZE
    )
    for entry in entries:
        entry["mine"] = _mine(entry, principal)
    return render(
        request,
        principal,
        "appeals.html",
        {
            "title": "Appeals",
            "entries": entries,
            "total": total,
            "status": status,
            "next_offset": offset + PAGE_SIZE if offset + PAGE_SIZE < total else None,
        },
    )
