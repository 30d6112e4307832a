"""The transparency report's figures (DSA Art. 15(1)) for a period, from the record.

Counted in SQL, grouped, so a year of decisions is one scan of an index range, not a year of
documents in Python. A period is ``[start, end)`` in epoch ms (UTC).

- **Notices** (Art. 15(1)(b)): reader reports *filed* in the period, by reason; of those, how
  many have an outcome (kept, removed), how many outcomes were reached by automated means, and
  the median time from a notice to its outcome.
- **Actions** (Art. 15(1)(c)): every decision *taken* in the period that restricted a comment,
  i.e. every stored statement of reasons: by ground (law or the site's rules, and each ground),
  by type of restriction (removed, hidden pending review), by what brought it (an illegal-content
  notice, another report, own initiative), how many were detected by automated means and how
  far each was decided by automated means. An automatic hold later confirmed by a moderator is
  two actions (two statements). **Own-initiative** actions are split into automatic and human.
- **Appeals** (Art. 15(1)(d)): appeals *filed* in the period (and how many of them are still
  open), appeals *decided* in the period by outcome (``upheld``, ``reversed``: the decision
  was reversed) and the median time from filing to decision. The basis of the appeals (the
  grounds of the decisions appealed) is not broken down: a line in ``gaps``.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from moderation.errors import ValidationFailed
from moderation.messages import Source, Status, iso
from moderation.record.database import Record
from moderation.record.schema import appeals, decisions, reports

APPEALS_GAP = (
    "appeals (Art. 15(1)(d)): the basis of the appeals (the grounds of the decisions appealed) "
    "is not broken down"
)


def parse_time(value: str, field: str) -> int:
    """``YYYY-MM-DD`` or an ISO-8601 time (UTC unless it says otherwise) → epoch ms."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            f"{field} must be a date (YYYY-MM-DD) or an ISO-8601 time, not {value!r}", field=field
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def parse_period(start: str, end: str) -> tuple[int, int]:
    """``[start, end)`` in epoch ms; 422 naming the field when a bound is bad or out of order."""
    lo, hi = parse_time(start, "from"), parse_time(end, "to")
    if hi <= lo:
        raise ValidationFailed("to must be after from", field="to")
    return lo, hi


def default_period(today: date | None = None) -> tuple[str, str]:
    """The calendar year so far: its 1 January to tomorrow (both ``YYYY-MM-DD``)."""
    today = today or datetime.now(UTC).date()
    return date(today.year, 1, 1).isoformat(), (today + timedelta(days=1)).isoformat()


class GroundCount(msgspec.Struct):
    id: str
    kind: str
    title: str
    count: int


class Appeals(msgspec.Struct):
    #: Appeals filed in the period, and how many of those are still open.
    received: int
    open: int
    #: Appeals decided in the period, and by outcome (``upheld``, ``reversed``).
    decided: int
    by_outcome: dict[str, int]
    #: Median seconds from filing to decision of the appeals decided in the period.
    median_time_to_decision_s: float | None


class Notices(msgspec.Struct):
    received: int
    by_reason: dict[str, int]
    #: Of the notices received in the period: closed with an outcome, and still open.
    decided: int
    open: int
    by_outcome: dict[str, int]
    #: Outcomes reached by automated means.
    decided_automated: int
    #: Median seconds from a notice to its outcome (``None``: no outcome yet).
    median_time_to_action_s: float | None


class Actions(msgspec.Struct):
    total: int
    by_ground_kind: dict[str, int]
    by_ground: list[GroundCount]
    by_restriction: dict[str, int]
    by_source: dict[str, int]
    automated_detection: int
    automated_decision: dict[str, int]
    #: Restrictions taken on notices (Art. 16), by ground kind (``law``: illegal content,
    #: ``rules``: incompatible with the site's terms).
    on_notices_by_ground_kind: dict[str, int] = msgspec.field(default_factory=dict)
    #: Restrictions a moderator lifted in the period (``held``/``rejected`` → ``approved``): an
    #: indicator of the error rate of the automated means (Art. 15(1)(e)), which take most.
    lifted_by_moderators: int = 0


class OwnInitiative(msgspec.Struct):
    total: int
    automatic: int
    human: int
    by_restriction: dict[str, int]


class TransparencyReport(msgspec.Struct):
    period_from: str
    period_to: str
    notices: Notices
    actions: Actions
    own_initiative: OwnInitiative
    appeals: Appeals
    gaps: list[str]


def _path(record: Record, column: Any, *path: str) -> Any:
    """A JSON path of a text column, as text, in the record's dialect."""
    if record.dialect == "postgresql":
        return sa.cast(column, JSONB)[list(path)].astext
    return sa.func.json_extract(column, "$." + ".".join(path))


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true")


async def compute(record: Record, start: int, end: int) -> TransparencyReport:
    """The figures of ``[start, end)`` (epoch ms)."""
    fields = {
        name: _path(record, decisions.c.decision, "statement", *path).label(name)
        for name, path in (
            ("restriction", ("restriction",)),
            ("ground_id", ("ground", "id")),
            ("ground_kind", ("ground", "kind")),
            ("ground_title", ("ground", "title")),
            ("source", ("source",)),
            ("detected", ("automated_detection",)),
            ("automation", ("automated_decision",)),
        )
    }
    grouped = list(fields.values())
    actions_q = (
        sa.select(*grouped, sa.func.count().label("n"))
        .where(decisions.c.decided_at >= start, decisions.c.decided_at < end)
        .where(decisions.c.status.in_([Status.HELD.value, Status.REJECTED.value]))
        .where(fields["restriction"].is_not(None))
        .group_by(*grouped)
    )
    notices_q = (
        sa.select(
            reports.c.reason,
            reports.c.outcome,
            reports.c.automated,
            sa.func.count().label("n"),
        )
        .where(reports.c.filed_at >= start, reports.c.filed_at < end)
        .group_by(reports.c.reason, reports.c.outcome, reports.c.automated)
    )
    appeals_received_q = sa.select(
        sa.func.count().label("n"),
        sa.func.count(appeals.c.outcome).label("decided"),
    ).where(appeals.c.filed_at >= start, appeals.c.filed_at < end)
    appeals_decided_q = (
        sa.select(appeals.c.outcome, (appeals.c.decided_at - appeals.c.filed_at).label("wait"))
        .where(appeals.c.decided_at >= start, appeals.c.decided_at < end)
        .where(appeals.c.outcome.is_not(None))
    )
    lifted_q = (
        sa.select(sa.func.count())
        .select_from(decisions)
        .where(decisions.c.decided_at >= start, decisions.c.decided_at < end)
        .where(decisions.c.from_status.in_([Status.HELD.value, Status.REJECTED.value]))
        .where(decisions.c.status == Status.APPROVED.value)
        .where(sa.or_(decisions.c.actor.like("moderator:%"), decisions.c.actor.like("admin:%")))
    )
    waits_q = (
        sa.select((reports.c.decided_at - reports.c.filed_at).label("wait"))
        .where(reports.c.filed_at >= start, reports.c.filed_at < end)
        .where(reports.c.decided_at.is_not(None))
    )
    async with record.engine.connect() as conn:
        action_rows = list((await conn.execute(actions_q)).all())
        notice_rows = list((await conn.execute(notices_q)).all())
        waits = [int(row.wait) for row in (await conn.execute(waits_q)).all()]
        received = (await conn.execute(appeals_received_q)).one()
        appeal_rows = list((await conn.execute(appeals_decided_q)).all())
        lifted = int((await conn.execute(lifted_q)).scalar_one())
    return TransparencyReport(
        period_from=iso(start) or "",
        period_to=iso(end) or "",
        notices=_notices(notice_rows, waits),
        actions=msgspec.structs.replace(_actions(action_rows), lifted_by_moderators=lifted),
        own_initiative=_own(action_rows),
        appeals=_appeals(int(received.n), int(received.decided), appeal_rows),
        gaps=[APPEALS_GAP],
    )


def empty_report(start: int, end: int) -> TransparencyReport:
    """The figures of a record that does not exist yet: nothing archived, all zero."""
    return TransparencyReport(
        period_from=iso(start) or "",
        period_to=iso(end) or "",
        notices=_notices([], []),
        actions=_actions([]),
        own_initiative=_own([]),
        appeals=_appeals(0, 0, []),
        gaps=[APPEALS_GAP],
    )


def _appeals(received: int, received_decided: int, rows: list[Any]) -> Appeals:
    by_outcome = Counter(str(row.outcome) for row in rows)
    waits = [int(row.wait) for row in rows]
    return Appeals(
        received=received,
        open=received - received_decided,
        decided=len(rows),
        by_outcome=dict(sorted(by_outcome.items())),
        median_time_to_decision_s=statistics.median(waits) / 1000 if waits else None,
    )


def _notices(rows: list[Any], waits: list[int]) -> Notices:
    by_reason: Counter[str] = Counter()
    by_outcome: Counter[str] = Counter()
    automated = 0
    for row in rows:
        by_reason[row.reason] += row.n
        if row.outcome is not None:
            by_outcome[row.outcome] += row.n
            automated += row.n if _truthy(row.automated) else 0
    received = sum(by_reason.values())
    decided = sum(by_outcome.values())
    return Notices(
        received=received,
        by_reason=dict(sorted(by_reason.items())),
        decided=decided,
        open=received - decided,
        by_outcome=dict(sorted(by_outcome.items())),
        decided_automated=automated,
        median_time_to_action_s=statistics.median(waits) / 1000 if waits else None,
    )


def _actions(rows: list[Any]) -> Actions:
    kinds: Counter[str] = Counter()
    grounds: dict[str, GroundCount] = {}
    restrictions: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    automation: Counter[str] = Counter()
    on_notices: Counter[str] = Counter()
    detected = 0
    for row in rows:
        if row.source != Source.OWN_INITIATIVE.value:
            on_notices[row.ground_kind] += row.n
        kinds[row.ground_kind] += row.n
        g = grounds.setdefault(
            row.ground_id, GroundCount(row.ground_id, row.ground_kind, row.ground_title, 0)
        )
        g.count += row.n
        restrictions[row.restriction] += row.n
        sources[row.source] += row.n
        automation[row.automation] += row.n
        detected += row.n if _truthy(row.detected) else 0
    return Actions(
        total=sum(restrictions.values()),
        by_ground_kind=dict(sorted(kinds.items())),
        by_ground=sorted(grounds.values(), key=lambda g: (-g.count, g.id)),
        by_restriction=dict(sorted(restrictions.items())),
        by_source=dict(sorted(sources.items())),
        automated_detection=detected,
        automated_decision=dict(sorted(automation.items())),
        on_notices_by_ground_kind=dict(sorted(on_notices.items())),
    )


def _own(rows: list[Any]) -> OwnInitiative:
    own = [row for row in rows if row.source == Source.OWN_INITIATIVE.value]
    restrictions: Counter[str] = Counter()
    for row in own:
        restrictions[row.restriction] += row.n
    automatic = sum(row.n for row in own if row.automation == "fully")
    total = sum(row.n for row in own)
    return OwnInitiative(
        total=total,
        automatic=automatic,
        human=total - automatic,
        by_restriction=dict(sorted(restrictions.items())),
    )


def csv_rows(report: TransparencyReport) -> list[tuple[str, str, str]]:
    """The figures as ``(section, figure, value)`` rows (the CSV form): one figure a row, a
    breakdown's key after a ``:`` (``notices``, ``by_reason:spam``, ``4``)."""
    rows: list[tuple[str, str, str]] = [
        ("period", "from", report.period_from),
        ("period", "to", report.period_to),
    ]

    def add(section: str, struct: msgspec.Struct) -> None:
        for name, value in msgspec.structs.asdict(struct).items():
            if isinstance(value, dict):
                rows.extend((section, f"{name}:{k}", str(v)) for k, v in value.items())
            elif isinstance(value, list):
                rows.extend((section, f"{name}:{g.id}", str(g.count)) for g in value)
            else:
                rows.append((section, name, "" if value is None else str(value)))

    add("notices", report.notices)
    add("actions", report.actions)
    add("own_initiative", report.own_initiative)
    add("appeals", report.appeals)
    rows.extend(("gaps", str(i + 1), gap) for i, gap in enumerate(report.gaps))
    return rows
