"""Every JSON route's real answer fits the schema ``/openapi.json`` documents for it.

The test walks the document: each operation answering JSON is called (in :data:`CALLS`, with a
valid credential and valid input, on a seeded service: comments approved, held, reported,
an author, an article, a webhook endpoint, a Coral phase call) through the ASGI app, and the
body is validated with ``jsonschema`` against the documented schema of the status it got
(``$ref`` resolved in the document's components). A handler that drifts from its struct, or a
route documented without a call here, fails.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
from jsonschema import Draft202012Validator

from moderation.api.schemas import typed
from moderation.api.schemas_review import Erasure
from moderation.settings import Settings
from tests.conftest import Api, comment, running_api, running_worker

CORAL_SECRET = "ssc_schema-walk"
PASSWORD = "a long enough password 1"


@dataclass(frozen=True)
class Call:
    method: str
    #: The documented path (``{name}`` parameters).
    template: str
    #: The path to call; ``{A}`` (approved), ``{H}`` (held), ``{E}`` (to edit), ``{D}`` (to
    #: delete), ``{H2}`` (to decide), ``{EP}`` (a webhook endpoint) are filled in.
    path: str
    role: str | None = "admin"
    body: Any = None
    params: dict[str, str] | None = None
    #: A raw body and headers instead (Coral's signed phase call).
    raw: bytes | None = None
    headers: dict[str, str] | None = None
    #: Remember the answer's ``id`` as this placeholder (for the calls after).
    capture: str | None = None


def _coral_body() -> bytes:
    return json.dumps({
        "action": "NEW", "comment": {"body": "Good reporting.", "parentID": None},
        "author": {"id": "coral-1", "role": "COMMENTER"}, "story": {"id": "s1", "url": ""},
        "site": {"id": "x"}, "tenantID": "t", "tenantDomain": "d",
    }, indent=2).encode()  # fmt: skip


def _coral_headers() -> dict[str, str]:
    sig = hmac.new(CORAL_SECRET.encode(), _coral_body(), hashlib.sha256).hexdigest()
    return {"X-Coral-Signature": f"sha256={sig}", "Content-Type": "application/json"}


C = "/v1/comments/{comment_id}"
M = "/v1/moderation"
AU = M + "/authors/{author_id}"
W = M + "/webhooks/{endpoint_id}"
#: In order: reads first, then changes (later calls rely on earlier ones).
CALLS: list[Call] = [
    Call("GET", "/healthz", "/healthz", None),
    Call("GET", "/readyz", "/readyz", None),
    Call("GET", "/openapi.json", "/openapi.json", None),
    Call("GET", C, "/v1/comments/{A}", "site"),
    Call("GET", "/v1/articles/{article_id}/comments", "/v1/articles/doc/a/comments", None),
    Call("GET", "/v1/articles/{article_id}", "/v1/articles/doc/a", None),
    Call("GET", "/v1/counts", "/v1/counts", None, params={"article": "doc/a"}),
    Call("GET", "/v1/stats", "/v1/stats", "moderator"),
    Call("GET", M + "/queue", M + "/queue"),
    Call("GET", M + "/queue/counts", M + "/queue/counts"),
    Call("GET", M + "/comments/{comment_id}", M + "/comments/{H}"),
    Call("GET", AU, M + "/authors/u1"),
    Call("GET", M + "/articles", M + "/articles"),
    Call("GET", M + "/articles/{article_id}", M + "/articles/doc/a"),
    Call("GET", M + "/policy", M + "/policy"),
    Call("GET", M + "/words", M + "/words"),
    Call("GET", M + "/audit", M + "/audit"),
    Call("GET", M + "/search", M + "/search"),
    Call("GET", C + "/statement", "/v1/comments/{H}/statement", "site"),
    Call("GET", M + "/grounds", M + "/grounds"),
    Call("POST", "/v1/comments", "/v1/comments", "site", comment("doc/a", "Another view.")),
    Call("PATCH", C, "/v1/comments/{E}", "site", {"text": "An edited thought, reworded."}),
    Call("DELETE", C, "/v1/comments/{D}", "site"),
    Call("PUT", "/v1/articles/{article_id}", "/v1/articles/doc/a", "site",
         {"title": "Budget", "url": "https://news.example/doc/a"}),
    Call("POST", M + "/comments/{comment_id}/decision", M + "/comments/{H2}/decision",
         "moderator", {"action": "approve"}),
    Call("POST", M + "/decisions", M + "/decisions", "moderator",
         {"ids": ["{H3}"], "action": "reject", "reason": "toxic"}),
    Call("POST", M + "/decisions/undo", M + "/decisions/undo", "moderator", {"ids": ["{H3}"]}),
    Call("POST", AU + "/notes", M + "/authors/u1/notes", "moderator", {"text": "Regular."}),
    Call("POST", AU + "/state", M + "/authors/u1/state", "moderator", {"state": "trusted"}),
    Call("POST", AU + "/forget", M + "/authors/gone/forget"),
    Call("PATCH", M + "/articles/{article_id}/settings", M + "/articles/doc/a/settings",
         "moderator", {"premoderate": False}),
    Call("PATCH", M + "/policy", M + "/policy", "admin", {"max_links": 3}),
    Call("PATCH", M + "/words/{kind}", M + "/words/suspect", "admin", {"add": ["zzqword"]}),
    Call("POST", C + "/reports", "/v1/comments/{A}/reports", None,
         {"reason": "spam", "reader_id": "r1"}),
    Call("GET", M + "/reported", M + "/reported", "moderator"),
    Call("POST", M + "/reported/{comment_id}/decision", M + "/reported/{A}/decision",
         "moderator", {"action": "keep"}),
    Call("PUT", M + "/grounds", M + "/grounds", "admin", "{GROUNDS}"),
    Call("POST", "/v1/coral/moderate", "/v1/coral/moderate", None, raw=_coral_body(),
         headers=_coral_headers()),
    Call("GET", M + "/published", M + "/published", params={"article": "doc/a"}),
    Call("GET", M + "/comments/{comment_id}/copies", M + "/comments/{H}/copies"),
    Call("POST", M + "/comments/{comment_id}/escalate", M + "/comments/{H}/escalate",
         "moderator", {"note": "Needs a second look."}),
    Call("GET", M + "/escalated", M + "/escalated"),
    Call("GET", M + "/spam-domains", M + "/spam-domains"),
    Call("PATCH", M + "/spam-domains/{kind}", M + "/spam-domains/deny", "admin",
         {"add": ["spam.example"]}),
    Call("GET", M + "/transparency", M + "/transparency"),
    Call("POST", C + "/appeals", "/v1/comments/{H}/appeals", "site",
         {"text": "I was quoting the article."}, capture="{AP}"),
    Call("GET", M + "/appeals", M + "/appeals", "moderator"),
    Call("GET", M + "/appeals/{appeal_id}", M + "/appeals/{AP}", "moderator"),
    Call("POST", M + "/appeals/{appeal_id}/decision", M + "/appeals/{AP}/decision",
         "moderator", {"outcome": "uphold", "answer": "The house rules apply here."}),
    Call("GET", M + "/accounts", M + "/accounts"),
    Call("POST", M + "/accounts", M + "/accounts", "admin", {"name": "walker2", "link": True}),
    Call("POST", M + "/accounts/{name}/link", M + "/accounts/walker2/link"),
    Call("PATCH", M + "/accounts/{name}", M + "/accounts/walker2", "admin", {"disabled": True}),
    Call("DELETE", M + "/accounts/{name}/sessions/{session_id}",
         M + "/accounts/walker/sessions/{SESS}"),
    Call("POST", M + "/webhooks", M + "/webhooks", "admin",
         {"url": "http://127.0.0.1:9/hook", "events": ["comment.decided"]}, capture="{EP}"),
    Call("GET", M + "/webhooks", M + "/webhooks"),
    Call("GET", W, M + "/webhooks/{EP}"),
    Call("PATCH", W, M + "/webhooks/{EP}", "admin", {"description": "the newsroom"}),
    Call("POST", W + "/rotate", M + "/webhooks/{EP}/rotate"),
    Call("GET", W + "/failures", M + "/webhooks/{EP}/failures"),
    Call("POST", W + "/replay", M + "/webhooks/{EP}/replay", "admin", {}),
    Call("DELETE", W, M + "/webhooks/{EP}"),
    # Read again, now that there are notes, audit entries, settings and decisions.
    Call("GET", AU, M + "/authors/u1"),
    Call("GET", M + "/audit", M + "/audit"),
    Call("GET", M + "/comments/{comment_id}", M + "/comments/{H2}"),
    Call("GET", M + "/articles/{article_id}", M + "/articles/doc/a"),
    Call("GET", M + "/articles", M + "/articles"),
    Call("GET", M + "/queue", M + "/queue", params={"order": "newest"}),
    Call("GET", "/v1/articles/{article_id}/comments", "/v1/articles/doc/a/comments", None,
         params={"thread": "true"}),
    Call("GET", "/v1/stats", "/v1/stats", "moderator"),
]  # fmt: skip


def test_a_view_that_drifts_from_its_struct_is_refused() -> None:
    view = {"author_id": "a", "redis_comments": 1, "record_comments": None, "keys_deleted": 2}
    assert typed(Erasure, view).keys_deleted == 2
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        typed(Erasure, {**view, "undocumented": True})
    with pytest.raises(msgspec.ValidationError):
        typed(Erasure, {**view, "redis_comments": "one"})


def _json_operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    out = set()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for response in op["responses"].values():
                if "application/json" in response.get("content", {}):
                    out.add((method.upper(), path))
                    break
    return out


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        if value in ids and not isinstance(ids[value], str):
            return ids[value]
        for name, real in ids.items():
            if isinstance(real, str):
                value = value.replace(name, real)
        return value
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    # The components ride along in the root, so "#/components/schemas/X" resolves in it.
    return Draft202012Validator({**schema, "components": doc["components"]})


async def _seed(api: Api) -> dict[str, Any]:
    async def post(text: str, **extra: Any) -> str:
        r = await api.post_comment(comment("doc/a", text, **extra), wait=5)
        assert r.status_code == 201, r.text
        cid: str = r.json()["id"]
        return cid

    ids: dict[str, Any] = {}
    ids["{A}"] = await post("A thoughtful reply about the budget.")
    ids["{E}"] = await post("A second thought about the budget.")
    ids["{D}"] = await post("A thought to retract later.")
    ids["{H}"] = await post("shut the fuck up you idiot")
    ids["{H2}"] = await post("you idiot, shut up", author="u2")
    ids["{H3}"] = await post("what an idiot, fuck off", author="u3")
    grounds = await api.client.get("/v1/moderation/grounds", headers=api.auth("admin"))
    ids["{GROUNDS}"] = {"grounds": grounds.json()["grounds"]}
    # An account with a web session, for the session route.
    admin = api.auth("admin")
    made = await api.client.post(
        M + "/accounts", json={"name": "walker", "password": PASSWORD}, headers=admin
    )
    assert made.status_code == 201, made.text
    async with httpx.AsyncClient(
        transport=api.client._transport, base_url="http://testserver"
    ) as b:
        form = {"name": "walker", "password": PASSWORD, "next": "/moderate/queue"}
        assert (await b.post("/moderate/login", data=form)).status_code == 303
    listed = (await api.client.get(M + "/accounts", headers=admin)).json()["accounts"]
    ids["{SESS}"] = next(a for a in listed if a["name"] == "walker")["sessions"][0]["id"]
    return ids


async def test_every_json_route_answers_what_its_schema_says(settings: Settings) -> None:
    s = settings.with_overrides(coral_secrets=(CORAL_SECRET,), coral_budget_ms=3000)
    async with running_api(s) as api, running_worker(s):
        doc = (await api.client.get("/openapi.json")).json()
        called = {(c.method, c.template) for c in CALLS}
        # The audit trail and the author's notes are not empty when read the second time.
        assert called == _json_operations(doc), "every JSON route needs a Call here"
        ids = await _seed(api)
        for call in CALLS:
            if call.template.startswith(M + "/webhooks/") and "{EP}" not in ids:
                pytest.fail("the endpoint was not created")
            headers = {**api.auth(call.role)} if call.role else {}
            headers.update(call.headers or {})
            kwargs: dict[str, Any] = {"headers": headers, "params": call.params}
            if call.raw is not None:
                kwargs["content"] = call.raw
            elif call.body is not None:
                kwargs["json"] = _fill(call.body, ids)
            r = await api.client.request(call.method, _fill(call.path, ids), **kwargs)
            where = f"{call.method} {call.template}"
            assert r.status_code < 300, f"{where}: {r.status_code} {r.text}"
            documented = doc["paths"][call.template][call.method.lower()]["responses"]
            assert str(r.status_code) in documented, f"{where}: {r.status_code} undocumented"
            if r.status_code == 204:
                assert not r.content
                continue
            schema = documented[str(r.status_code)]["content"]["application/json"]["schema"]
            body = r.json()
            errors = sorted(_validator(doc, schema).iter_errors(body), key=str)
            assert not errors, f"{where}: {[e.message for e in errors[:3]]} in {body}"
            if call.capture:
                ids[call.capture] = body["id"]
