"""The transparency report's admin page (DSA Art. 15): ``/moderate/transparency?from=&to=``.

The figures of :func:`moderation.record.transparency.compute` for the chosen period (default:
the calendar year so far), the same as ``moderation report`` writes and
``GET /v1/moderation/transparency`` answers. Admins only.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from moderation.api.access import Principal
from moderation.api.auth import ADMINS
from moderation.api.transparency import report_of
from moderation.ui.render import BASE, NAV_LINKS, NavLink, render, ui_page

NAV_LINKS.append(NavLink("Transparency", f"{BASE}/transparency", ADMINS))


@ui_page(ADMINS)
async def transparency(request: Request, principal: Principal) -> Response:
    report, start, end = await report_of(request)
    return render(
        request,
        principal,
        "transparency.html",
        {
            "title": "Transparency report",
            "report": msgspec.to_builtins(report),
            "start": start,
            "end": end,
        },
    )
