"""DSA Transparency Database (Art. 24(5)): the statements export validates against a schema
written from the database's field list and holds no personal data; the sender posts batches of
at most 100 with its bearer token to a local stand-in, retries, and never sends twice. The
``report`` command writes the Art. 15 figures as JSON, CSV and HTML."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema
import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from moderation.messages import Decision, Reason, Source, Status, json_encoder
from moderation.record import Archive, EventRow, Record
from moderation.record.tdb import batches, sent_count
from moderation.settings import EU_COUNTRIES, Settings
from moderation.statements import DEFAULT_GROUNDS, by_id, with_statement
from tests.conftest import free_port, running_api, running_worker, settings_env, wait_for
from tests.record_support import archive_all
from tests.test_cli import cli
from workers.tdb import send_pending

M = "/v1/moderation"
TOKEN = "X|test-token-123"

_ENUM = {"type": "string"}
#: The statement's fields as the database's API documentation lists them (the ones this service
#: fills, each with its allowed values); anything else is refused.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "decision_visibility",
        "decision_ground",
        "category",
        "content_type",
        "territorial_scope",
        "content_date",
        "application_date",
        "decision_facts",
        "source_type",
        "automated_detection",
        "automated_decision",
        "puid",
    ],
    "properties": {
        "decision_visibility": {
            "type": "array",
            "minItems": 1,
            "items": {
                "enum": [
                    "DECISION_VISIBILITY_CONTENT_REMOVED",
                    "DECISION_VISIBILITY_CONTENT_DISABLED",
                    "DECISION_VISIBILITY_CONTENT_DEMOTED",
                    "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
                    "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
                    "DECISION_VISIBILITY_CONTENT_LABELLED",
                    "DECISION_VISIBILITY_OTHER",
                ]
            },
        },
        "decision_ground": {
            "enum": ["DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"]
        },
        "decision_ground_reference_url": {"type": "string", "format": "uri"},
        "illegal_content_legal_ground": {"type": "string", "minLength": 1, "maxLength": 500},
        "illegal_content_explanation": {"type": "string", "minLength": 1, "maxLength": 2000},
        "incompatible_content_ground": {"type": "string", "minLength": 1, "maxLength": 500},
        "incompatible_content_explanation": {"type": "string", "minLength": 1, "maxLength": 2000},
        "category": {
            "enum": [
                "STATEMENT_CATEGORY_ANIMAL_WELFARE",
                "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
                "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
                "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
                "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
                "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR",
                "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT",
                "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
                "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
                "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
                "STATEMENT_CATEGORY_SELF_HARM",
                "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
                "STATEMENT_CATEGORY_UNSAFE_AND_ILLEGAL_PRODUCTS_OR_SERVICES",
                "STATEMENT_CATEGORY_VIOLENCE",
            ]
        },
        "content_type": {
            "type": "array",
            "minItems": 1,
            "items": {
                "enum": [
                    "CONTENT_TYPE_APP",
                    "CONTENT_TYPE_AUDIO",
                    "CONTENT_TYPE_IMAGE",
                    "CONTENT_TYPE_PRODUCT",
                    "CONTENT_TYPE_SYNTHETIC_MEDIA",
                    "CONTENT_TYPE_TEXT",
                    "CONTENT_TYPE_VIDEO",
                    "CONTENT_TYPE_OTHER",
                ]
            },
        },
        "territorial_scope": {"type": "array", "items": {"enum": list(EU_COUNTRIES)}},
        "content_date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
        "application_date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
        "decision_facts": {"type": "string", "minLength": 1, "maxLength": 5000},
        "source_type": {
            "enum": [
                "SOURCE_ARTICLE_16",
                "SOURCE_TRUSTED_FLAGGER",
                "SOURCE_TYPE_OTHER_NOTIFICATION",
                "SOURCE_VOLUNTARY",
            ]
        },
        "automated_detection": {"enum": ["Yes", "No"]},
        "automated_decision": {
            "enum": [
                "AUTOMATED_DECISION_FULLY",
                "AUTOMATED_DECISION_PARTIALLY",
                "AUTOMATED_DECISION_NOT_AUTOMATED",
            ]
        },
        "puid": {"type": "string", "minLength": 1, "maxLength": 500},
    },
    "allOf": [
        {
            "if": {"properties": {"decision_ground": {"const": "DECISION_GROUND_ILLEGAL_CONTENT"}}},
            "then": {"required": ["illegal_content_legal_ground", "illegal_content_explanation"]},
            "else": {
                "required": ["incompatible_content_ground", "incompatible_content_explanation"]
            },
        }
    ],
}
BATCH_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["statements"],
    "properties": {
        "statements": {"type": "array", "minItems": 1, "maxItems": 100, "items": SCHEMA}
    },
}

AUTHOR, AUTHOR_EMAIL, IP = "Maximilian Privatperson", "max@private.example", "203.0.113.77"
NOTIFIER, NOTIFIER_EMAIL = "Erika Mustermann", "erika@example.org"
NOTE = "Maximilian again, see his other posts"
TEXTS = ("You are a zonkword, Quuxly.", "What a blurpword idea, Quuxly.", "Quuxly lies here.")


async def test_export_validates_and_holds_no_personal_data(
    record_settings: Settings, record: Record, rds: Redis
) -> None:
    settings = record_settings.with_overrides(
        tdb_territorial_scope=("DE", "AT"),
    )
    body = {"author": {"id": "u-max", "name": AUTHOR, "email": AUTHOR_EMAIL},
            "context": {"ip": IP}}  # fmt: skip
    async with running_api(settings) as api, running_worker(settings):
        admin, mod = api.auth("admin"), api.auth("moderator")
        for kind, word in (("banned", "zonkword"), ("suspect", "blurpword")):
            r = await api.client.patch(f"{M}/words/{kind}", json={"add": [word]}, headers=admin)
            assert r.status_code == 200, r.text
        ids = []
        for text in TEXTS:
            r = await api.post_comment({**body, "article_id": "p1", "text": text}, wait=5)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        # A moderator removes the held one with a note naming the author.
        r = await api.client.post(
            f"{M}/comments/{ids[1]}/decision",
            json={"action": "reject", "reason": "harassment", "note": NOTE},
            headers=mod,
        )
        assert r.status_code == 200, r.text
        # An illegal-content notice on the published one hides it; a moderator removes it.
        r = await api.client.post(
            f"/v1/comments/{ids[2]}/reports",
            json={"reason": "illegal", "explanation": "Defames Quuxly.", "good_faith": True,
                  "url": "https://news.example/p1", "name": NOTIFIER, "email": NOTIFIER_EMAIL},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        r = await api.client.post(
            f"{M}/reported/{ids[2]}/decision", json={"action": "remove"}, headers=mod
        )
        assert r.status_code == 200, r.text
    await archive_all(settings, record)

    env = settings_env(settings)
    done = await asyncio.to_thread(
        cli, "tdb", "export", "--from", "2000-01-01", "--to", "2100-01-01", env=env
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    batch = json.loads(lines[0])
    jsonschema.validate(batch, BATCH_SCHEMA)
    statements = batch["statements"]
    # Auto rejection, auto hold, the moderator's removal, the notice's hide and removal.
    assert len(statements) == 5
    assert len({s["puid"] for s in statements}) == 5
    by_source = sorted(s["source_type"] for s in statements)
    assert by_source == ["SOURCE_ARTICLE_16"] * 2 + ["SOURCE_VOLUNTARY"] * 3
    assert {s["territorial_scope"] == ["AT", "DE"] for s in statements} == {True}
    first = statements[0]
    assert first["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert first["automated_detection"] == "Yes"
    assert first["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    assert first["category"] == "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"
    for secret in (AUTHOR, AUTHOR_EMAIL, IP, NOTIFIER, NOTIFIER_EMAIL, "Quuxly", "Maximilian",
                   "zonkword", "blurpword", "u-max"):  # fmt: skip
        assert secret not in done.stdout, secret

    # The Art. 15 report, through the command in its three forms.
    out = {}
    for fmt in ("json", "csv", "html"):
        done = await asyncio.to_thread(
            cli, "report", "--from", "2000-01-01", "--to", "2100-01-01", "--format", fmt, env=env
        )
        assert done.returncode == 0, done.stderr
        out[fmt] = done.stdout
    doc = json.loads(out["json"])
    assert doc["notices"]["received"] == 1 and doc["notices"]["by_reason"] == {"illegal": 1}
    assert doc["actions"]["total"] == 5 and doc["own_initiative"]["automatic"] == 2
    rows = list(csv.reader(io.StringIO(out["csv"])))
    assert rows[0] == ["section", "figure", "value"]
    assert ["actions", "total", "5"] in rows
    assert '<dd id="actions-total">5</dd>' in out["html"]
    bad = await asyncio.to_thread(
        cli, "report", "--from", "2026-02-01", "--to", "2026-01-01", env=env
    )
    assert bad.returncode != 0 and "to must be after from" in bad.stderr


@dataclass
class StandIn:
    """The database's multiple-statements endpoint: checks the token and the body, answers
    scripted statuses (consumed first; then 201), keeps what it accepted."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    accepted: list[list[dict[str, Any]]] = field(default_factory=list)
    attempts: int = 0


@contextlib.asynccontextmanager
async def stand_in() -> AsyncIterator[StandIn]:
    db = StandIn()

    async def statements(request: Request) -> Response:
        db.attempts += 1
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"message": "Unauthenticated."}, 401)
        body = await request.json()
        try:
            jsonschema.validate(body, BATCH_SCHEMA)
        except jsonschema.ValidationError as exc:
            return JSONResponse({"message": exc.message}, 422)
        status = db.statuses.pop(0) if db.statuses else 201
        if status == 201:
            db.accepted.append(body["statements"])
            return JSONResponse({"statements": body["statements"]}, 201)
        return JSONResponse({"message": "try later"}, status)

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/api/v1/statements", statements, methods=["POST"])]),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: asyncio.sleep(0, result=server.started))
    db.url = f"http://127.0.0.1:{port}/api/v1/statements"
    try:
        yield db
    finally:
        server.should_exit = True
        await task


def _events(first: int, n: int) -> list[EventRow]:
    grounds = by_id(DEFAULT_GROUNDS)
    rows = []
    for i in range(first, first + n):
        decision = Decision(
            status=Status.REJECTED,
            by="auto",
            decided_at=1_767_225_600_000 + i,
            reasons=[Reason(code="toxicity", label="insult", message="insult 0.9 ≥ 0.6")],
        )
        decision = with_statement(decision, grounds, source=Source.OWN_INITIATIVE)
        rows.append(
            EventRow(
                entry_id=f"{1_767_225_600_000 + i}-0",
                comment_id=f"c{i}",
                article_id="a1",
                from_status="pending",
                status="rejected",
                actor="auto",
                reason="toxicity",
                at=decision.decided_at,
                decision=json_encoder.encode(decision).decode(),
                doc=None,
            )
        )
    return rows


async def test_sender_posts_batches_retries_and_never_sends_twice(
    settings: Settings, record: Record
) -> None:
    await Archive(record).write(_events(0, 150), [])
    async with stand_in() as db, httpx.AsyncClient() as client:
        off = settings.with_overrides(tdb_backoff_s=0.01)
        s = off.with_overrides(tdb_url=db.url, tdb_token=TOKEN)
        # Refused for a wrong token: stops at once, nothing recorded as sent.
        wrong = s.with_overrides(tdb_token="X|wrong")
        result = await send_pending(wrong, record, client)
        assert result.sent == 0 and result.error and "401" in result.error
        assert db.attempts == 1 and await sent_count(record) == 0
        # Unavailable twice, then accepted: 100 and 50, each statement once.
        db.statuses = [503, 429]
        result = await send_pending(s, record, client)
        assert (result.sent, result.batches, result.error) == (150, 2, None)
        assert [len(b) for b in db.accepted] == [100, 50]
        assert db.attempts == 1 + 4
        puids = [st["puid"] for b in db.accepted for st in b]
        assert len(set(puids)) == 150 and await sent_count(record) == 150
        # Nothing pending: nothing is sent again; a new decision goes alone.
        assert (await send_pending(s, record, client)).sent == 0
        assert db.attempts == 5
        await Archive(record).write(_events(150, 1), [])
        assert (await send_pending(s, record, client)).sent == 1
        assert [len(b) for b in db.accepted] == [100, 50, 1]
        # Down for every try: the run stops with the error, the statement stays pending.
        await Archive(record).write(_events(151, 1), [])
        db.statuses = [503] * s.tdb_attempts
        result = await send_pending(s, record, client)
        assert result.sent == 0 and result.error and "503" in result.error
        assert (await send_pending(s, record, client)).sent == 1
        # A decision archived late, older than a day before the newest sent: found by a rescan.
        await Archive(record).write(_events(-100_000_000, 1), [])
        assert (await send_pending(s, record, client)).sent == 0
        assert (await send_pending(s, record, client, rescan=True)).sent == 1
    # The export of the same period holds every statement, in batches of at most 100.
    sizes = [len(b) async for b in batches(record, 0, 4_102_444_800_000, ("DE",))]
    assert sizes == [100, 53]
