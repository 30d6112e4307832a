"""The transparency report's admin page (DSA Art. 15): ``/moderate/transparency?from=&to=``.

The figures of :func:`moderation.record.transparency.compute` for the chosen period (default:
the calendar year so far), the same as ``moderation report`` writes. Admins only. Before the
record's schema exists every figure is zero; a database that cannot be reached is a 503 page.
"""

from __future__ import annotations

import msgspec
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from moderation.api.access import Principal
from moderation.api.auth import ADMINS
from moderation.errors import ServiceUnavailable
from moderation.record import Reader
from moderation.record.transparency import compute, default_period, empty_report, parse_period
from moderation.ui.render import BASE, NAV_LINKS, NavLink, render, ui_page

NAV_LINKS.append(NavLink("Transparency", f"{BASE}/transparency", ADMINS))


@ui_page(ADMINS)
async def transparency(request: Request, principal: Principal) -> Response:
    q = request.query_params
    default_from, default_to = default_period()
    start_s, end_s = q.get("from") or default_from, q.get("to") or default_to
    start, end = parse_period(start_s, end_s)
    reader: Reader = request.app.state.record
    try:
        ready = await reader.ready()
        report = await compute(reader.record, start, end) if ready else empty_report(start, end)
    except (SQLAlchemyError, OSError) as exc:
        raise ServiceUnavailable(
            f"the record (database) is unreachable: {type(exc).__name__}",
            headers={"Retry-After": str(reader.retry_after_s)},
        ) from exc
    return render(
        request,
        principal,
        "transparency.html",
        {
            "title": "Transparency report",
            "report": msgspec.to_builtins(report),
            "start": start_s,
            "end": end_s,
        },
    )
