"""``GET /v1/moderation/transparency?from=&to=`` (admins): the DSA Art. 15 transparency
report's figures for a period, as ``moderation report --format json`` writes them.

``from`` and ``to`` are ``YYYY-MM-DD`` or ISO-8601 times (UTC unless they say otherwise; ``to``
excluded); both default to the calendar year so far. Before the record's schema exists every
figure is zero; a database that cannot be reached is a 503 with ``Retry-After``.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from moderation.api.access import require_principal
from moderation.api.auth import ADMINS
from moderation.api.responses import JSON
from moderation.errors import ServiceUnavailable
from moderation.record import Reader
from moderation.record.transparency import (
    TransparencyReport,
    compute,
    default_period,
    empty_report,
    parse_period,
)


async def report_of(request: Request) -> tuple[TransparencyReport, str, str]:
    """The report of the request's period, with the period as asked (``YYYY-MM-DD``…)."""
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
    return report, start_s, end_s


async def get_transparency(request: Request) -> Response:
    await require_principal(request, ADMINS)
    report, _, _ = await report_of(request)
    return JSON(report)
