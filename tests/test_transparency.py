"""DSA transparency: reader reports reach the record (without the notifiers' contact data) and
the Art. 15 report's figures, each against a scripted history, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from redis.asyncio import Redis

from moderation.keys import ARCHIVE_GROUP, Keys
from moderation.messages import ERASED, Decision, Reason, Source, Status, json_encoder
from moderation.record import AppealRow, Archive, EventRow, Record, ReportRow
from moderation.record.erasure import forget_author
from moderation.record.schema import appeals, comments, reports
from moderation.record.transparency import APPEALS_GAP, compute, csv_rows
from moderation.settings import Settings
from moderation.statements import DEFAULT_GROUNDS, by_id, with_statement
from moderation.store.codec import as_str
from moderation.store.reports import Notice, Report, ReportReason
from tests.conftest import running_api
from tests.moderation_support import held
from tests.record_support import archive_all
from workers.webhooks import messages_of

M = "/v1/moderation"
NAME, EMAIL = "Erika Mustermann", "erika@example.org"
APPEAL_TEXT = "I, Hannelore Beispiel, only quoted the minister."


async def _published(api: Any, rds: Redis, text: str, article: str) -> str:
    cid = await held(api, rds, text=text, article=article)
    r = await api.client.post(
        f"{M}/comments/{cid}/decision", json={"action": "approve"}, headers=api.auth("moderator")
    )
    assert r.status_code == 200, r.text
    return cid


async def _report(api: Any, cid: str, **body: Any) -> str:
    r = await api.client.post(f"/v1/comments/{cid}/reports", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["receipt"])


async def _rows(record: Record) -> list[Any]:
    async with record.engine.connect() as conn:
        return list((await conn.execute(sa.select(reports).order_by(reports.c.filed_at))).all())


async def test_every_report_and_its_outcome_reach_the_record_without_contact_data(
    record_settings: Settings, record: Record, rds: Redis
) -> None:
    settings = record_settings.with_overrides(report_hide_threshold=2)
    async with running_api(settings) as api:
        mod = api.auth("moderator")
        removed = await _published(api, rds, "A comment readers dislike.", "t1")
        kept = await _published(api, rds, "A comment one reader calls unlawful.", "t1")
        left = await _published(api, rds, "A comment with one open report.", "t1")
        await _report(api, removed, reason="offensive", reader_id="reader-1")
        await _report(api, removed, reason="harassment", reader_id="reader-2")
        illegal = await _report(
            api,
            kept,
            reason="illegal",
            explanation="It incites hatred against a group.",
            url="https://news.example/t1#c2",
            name=NAME,
            email=EMAIL,
            good_faith=True,
        )
        await _report(api, left, reason="spam", reader_id="reader-3")
        r = await api.client.post(
            f"{M}/reported/{removed}/decision",
            json={"action": "remove", "reason": "harassment"},
            headers=mod,
        )
        assert r.status_code == 200, r.text
        r = await api.client.post(
            f"{M}/reported/{kept}/decision", json={"action": "keep"}, headers=mod
        )
        assert r.status_code == 200, r.text
        # The author appeals the removal through the site; an admin (not the moderator who
        # removed it) reverses it.
        r = await api.client.post(
            f"/v1/comments/{removed}/appeals", json={"text": APPEAL_TEXT}, headers=api.auth()
        )
        assert r.status_code == 201, r.text
        r = await api.client.post(
            f"{M}/appeals/{r.json()['id']}/decision",
            json={"outcome": "reverse", "answer": "Sharp, but within the rules."},
            headers=api.auth("admin"),
        )
        assert r.status_code == 200, r.text
    # Each filing is a ``report.filed`` entry, without the notifier's contact; no site message.
    filed = [
        {as_str(k): as_str(v) for k, v in f.items()}
        for entry_id, f in await rds.xrange(Keys(settings.key_prefix).events)
        if f.get(b"type") == b"report.filed"
    ]
    assert len(filed) == 4 and all(messages_of("1-0", f) == [] for f in filed)
    (appeal_filed,) = [
        {as_str(k): as_str(v) for k, v in f.items()}
        for _, f in await rds.xrange(Keys(settings.key_prefix).events)
        if f.get(b"type") == b"appeal.filed"
    ]
    assert messages_of("1-0", appeal_filed) == [] and "Hannelore" not in str(appeal_filed)
    assert not any(NAME in f["report"] or EMAIL in f["report"] for f in filed)
    assert await archive_all(settings, record) > 0
    rows = await _rows(record)
    assert [(row.comment_id, row.reason, row.outcome) for row in rows] == [
        (removed, "offensive", "removed"),
        (removed, "harassment", "removed"),
        (kept, "illegal", "kept"),
        (left, "spam", None),
    ]
    notice = next(row for row in rows if row.receipt == illegal)
    assert notice.notice_url == "https://news.example/t1#c2"
    assert notice.notice_explanation == "It incites hatred against a group."
    deciders = {row.decided_by for row in rows if row.outcome}
    assert len(deciders) == 1 and deciders.pop().startswith("moderator:mod-")
    assert all(row.automated is False for row in rows if row.outcome)
    # The notifier's name and e-mail are nowhere in the record.
    async with record.engine.connect() as conn:
        for table in ("reports", "decisions", "audit", "appeals"):
            dump = str((await conn.execute(sa.text(f"SELECT * FROM {table}"))).all())
            assert NAME not in dump and EMAIL not in dump, table
        dump = str((await conn.execute(sa.select(appeals))).all())
        assert "Hannelore" not in dump and "within the rules" not in dump
    # A second run of the archiver over everything changes nothing.
    await rds.xgroup_destroy(Keys(settings.key_prefix).events, ARCHIVE_GROUP)
    assert await archive_all(settings, record, name="again") > 0
    assert await _rows(record) == rows

    report = await compute(record, 0, 4_102_444_800_000)
    n = report.notices
    assert (n.received, n.decided, n.open, n.decided_automated) == (4, 3, 1, 0)
    assert n.by_reason == {"harassment": 1, "illegal": 1, "offensive": 1, "spam": 1}
    assert n.by_outcome == {"kept": 1, "removed": 2}
    # The threshold's hide, the illegal notice's hide, the moderator's removal.
    a = report.actions
    assert a.total == 3
    assert a.by_source == {"notice": 2, "notice_illegal": 1}
    assert a.by_restriction == {"hidden_pending_review": 2, "removed": 1}
    assert a.automated_decision == {"fully": 2, "not": 1}
    assert a.automated_detection == 0
    assert report.own_initiative.total == 0
    ap = report.appeals
    assert (ap.received, ap.open, ap.decided, ap.by_outcome) == (1, 0, 1, {"reversed": 1})
    assert ap.median_time_to_decision_s is not None
    # Three holds approved to publish, the kept comment restored, the reversal on appeal.
    assert a.lifted_by_moderators == 5
    # The same figures through the API (admins), and a bad period named.
    async with running_api(settings) as api:
        period = {"from": "1970-01-01", "to": "2100-01-01"}
        r = await api.client.get(f"{M}/transparency", params=period, headers=api.auth("admin"))
        assert r.status_code == 200, r.text
        assert r.json() == msgspec.to_builtins(report)
        r = await api.client.get(
            f"{M}/transparency", params={"from": "2026-13-01"}, headers=api.auth("admin")
        )
        assert r.status_code == 422 and r.json()["error"]["field"] == "from"
    # Erasing the author erases the notice's explanation (it may quote the comment), not the
    # report: the counts stay.
    async with record.engine.connect() as conn:
        author = (
            await conn.execute(sa.select(comments.c.author_id).where(comments.c.id == kept))
        ).scalar_one()
    await forget_author(record, author)
    notice = next(row for row in await _rows(record) if row.receipt == illegal)
    assert notice.notice_explanation == ERASED and notice.outcome == "kept"
    assert (await compute(record, 0, 4_102_444_800_000)).notices == report.notices


# --- The figures against a scripted history (exact times) -------------------------------------

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
H = 3_600_000
GROUNDS = by_id(
    [
        *DEFAULT_GROUNDS,
        msgspec.json.decode(
            b'{"id":"law:stgb130","kind":"law","title":"Incitement to hatred",'
            b'"reference":"\\u00a7 130 StGB"}',
            type=type(DEFAULT_GROUNDS[0]),
        ),
    ]
)


def _event(
    n: int,
    at: int,
    status: Status,
    by: str,
    code: str,
    *,
    source: Source,
    ground: str | None,
    previous: Status = Status.PENDING,
) -> EventRow:
    decision = Decision(
        status=status,
        by=by,
        decided_at=at,
        reasons=[Reason(code=code, message=f"{code} fired")],
    )
    decision = with_statement(
        decision,
        GROUNDS,
        source=source,
        detected=by == "auto" or None if source is Source.OWN_INITIATIVE else False,
        ground=ground,
    )
    return EventRow(
        entry_id=f"{at}-{n}",
        comment_id=f"c{n}",
        article_id="a1",
        from_status=previous.value,
        status=status.value,
        actor=by,
        reason=code,
        at=at,
        decision=json_encoder.encode(decision).decode(),
        doc=None,
    )


def _appeal(
    n: int, filed: int, outcome: str | None = None, decided: int | None = None
) -> list[AppealRow]:
    """An appeal's events: filed at ``filed``; decided at ``decided`` with ``outcome``."""
    rows = [AppealRow(f"{filed}-{n}", "appeal.filed", f"apl_{n}", f"c{n}", "a1", filed)]
    if outcome is not None:
        assert decided is not None
        rows.append(
            AppealRow(f"{decided}-{n}", "appeal.decided", f"apl_{n}", f"c{n}", "a1", filed,
                      outcome, decided, "moderator:bob")
        )  # fmt: skip
    return rows


def _report_row(
    receipt: str,
    reason: ReportReason,
    filed: int,
    *,
    outcome: str | None = None,
    decided: int | None = None,
    automated: bool = False,
) -> list[ReportRow]:
    notice = (
        Notice("unlawful", "https://news.example/a1", NAME, EMAIL, True)
        if reason is ReportReason.ILLEGAL
        else None
    )
    doc = json_encoder.encode(Report(receipt, "c9", reason, filed, "hash", notice))
    rows = [ReportRow(f"{filed}-0", "report.filed", "a1", doc)]
    if outcome is not None:
        assert decided is not None
        rows.append(
            ReportRow(f"{decided}-0", "report.decided", "a1", doc, outcome, automated, "m", decided)
        )
    return rows


async def test_the_report_counts_each_figure_of_a_scripted_history(record: Record) -> None:
    start, end = T0, T0 + 24 * H
    events = [
        # Own initiative: two automatic removals, one automatic hold, one human removal.
        _event(1, T0 + 1 * H, Status.REJECTED, "auto", "toxicity", source=Source.OWN_INITIATIVE,
               ground=None),
        _event(2, T0 + 2 * H, Status.REJECTED, "auto", "spam", source=Source.OWN_INITIATIVE,
               ground=None),
        _event(3, T0 + 3 * H, Status.HELD, "auto", "toxicity", source=Source.OWN_INITIATIVE,
               ground=None),
        _event(4, T0 + 4 * H, Status.REJECTED, "moderator:ann", "moderator:spam",
               source=Source.OWN_INITIATIVE, ground=None),
        # On notices: a threshold hide, then an illegal-content removal under a law.
        _event(5, T0 + 5 * H, Status.HELD, "reports", "reported", source=Source.NOTICE,
               ground=None),
        _event(6, T0 + 6 * H, Status.REJECTED, "moderator:ann", "moderator:other",
               source=Source.NOTICE_ILLEGAL, ground="law:stgb130"),
        # Outside the period: the hour before it, and its end (excluded).
        _event(7, T0 - H, Status.REJECTED, "auto", "toxicity", source=Source.OWN_INITIATIVE,
               ground=None),
        _event(8, end, Status.REJECTED, "auto", "toxicity", source=Source.OWN_INITIATIVE,
               ground=None),
        # No restriction: an approval carries no statement.
        _event(9, T0 + 7 * H, Status.APPROVED, "moderator:ann", "", source=Source.OWN_INITIATIVE,
               ground=None),
        # A moderator lifts the automatic hold of comment 3.
        _event(3, T0 + 8 * H, Status.APPROVED, "moderator:ann", "", source=Source.OWN_INITIATIVE,
               ground=None, previous=Status.HELD),
    ]  # fmt: skip
    report_rows = [
        *_report_row("r1", ReportReason.OFFENSIVE, T0 + H, outcome="removed", decided=T0 + 3 * H),
        *_report_row("r2", ReportReason.ILLEGAL, T0 + 2 * H, outcome="removed", decided=T0 + 3 * H),
        *_report_row("r3", ReportReason.SPAM, T0 + 2 * H, outcome="kept", decided=T0 + 12 * H),
        *_report_row("r4", ReportReason.SPAM, T0 + 5 * H, outcome="kept", decided=T0 + 5 * H,
                     automated=True),
        *_report_row("r5", ReportReason.HARASSMENT, T0 + 8 * H),
        *_report_row("r6", ReportReason.SPAM, T0 - 1, outcome="kept", decided=T0 + H),
        *_report_row("r7", ReportReason.SPAM, end),
    ]  # fmt: skip
    appeal_rows = [
        *_appeal(1, T0 + 1 * H, "upheld", T0 + 3 * H),  # 2 h
        *_appeal(2, T0 + 2 * H, "reversed", T0 + 6 * H),  # 4 h
        *_appeal(3, T0 + 3 * H),  # open
        *_appeal(4, T0 - H, "upheld", T0 + 9 * H),  # filed before, decided within: 10 h
        *_appeal(5, T0 + 5 * H, "upheld", end + H),  # decided after the period
    ]
    archive = Archive(record)
    # Delivered twice, the second time outcomes first: the same rows either way.
    await archive.write(events, [], report_rows, appeal_rows)
    await archive.write(events, [], list(reversed(report_rows)), list(reversed(appeal_rows)))
    report = await compute(record, start, end)

    n = report.notices
    assert n.received == 5
    assert n.by_reason == {"harassment": 1, "illegal": 1, "offensive": 1, "spam": 2}
    assert (n.decided, n.open, n.decided_automated) == (4, 1, 1)
    assert n.by_outcome == {"kept": 2, "removed": 2}
    # Waits of 2 h, 1 h, 10 h and 0 h: the median is 1.5 h.
    assert n.median_time_to_action_s == 1.5 * 3600

    a = report.actions
    assert a.total == 6
    assert a.by_ground_kind == {"law": 1, "rules": 5}
    assert [(g.id, g.count) for g in a.by_ground] == [
        ("rules:civility", 3),
        ("rules:spam", 2),
        ("law:stgb130", 1),
    ]
    assert a.by_restriction == {"hidden_pending_review": 2, "removed": 4}
    assert a.by_source == {"notice": 1, "notice_illegal": 1, "own_initiative": 4}
    assert a.automated_detection == 3  # the three automatic own-initiative decisions
    assert a.automated_decision == {"fully": 4, "not": 2}
    assert a.on_notices_by_ground_kind == {"law": 1, "rules": 1}
    assert a.lifted_by_moderators == 1

    own = report.own_initiative
    assert (own.total, own.automatic, own.human) == (4, 3, 1)
    assert own.by_restriction == {"hidden_pending_review": 1, "removed": 3}
    ap = report.appeals
    assert (ap.received, ap.open) == (4, 1)
    assert (ap.decided, ap.by_outcome) == (3, {"reversed": 1, "upheld": 2})
    assert ap.median_time_to_decision_s == 4 * 3600  # of 2 h, 4 h and 10 h
    assert report.gaps == [APPEALS_GAP]

    rows = csv_rows(report)
    assert ("notices", "received", "5") in rows
    assert ("actions", "by_ground:law:stgb130", "1") in rows
    assert ("notices", "median_time_to_action_s", "5400.0") in rows
    assert ("appeals", "by_outcome:upheld", "2") in rows
    # No contact data of the notifier in the record.
    async with record.engine.connect() as conn:
        dump = str((await conn.execute(sa.select(reports))).all())
    assert NAME not in dump and EMAIL not in dump
