"""``/openapi.json`` is a valid OpenAPI 3.1 document of every mounted route, generated from the
structs the handlers' answers really decode into; ``/docs`` and ``/`` are local pages."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import msgspec
from openapi_spec_validator import validate

from moderation.api import schemas
from moderation.api.openapi import mounted
from moderation.api.operations import OPERATIONS
from tests.conftest import Api, comment
from workers.scoring import ScoringWorker


def _template(path: str) -> str:
    return re.sub(r"{([a-zA-Z_][a-zA-Z0-9_]*):[a-zA-Z_]+}", r"{\1}", path)


async def test_document_is_valid_openapi_31(api: Api) -> None:
    r = await api.client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"] == "3.1.0"
    # openapi-spec-validator raises on any violation; it takes seconds on the whole document,
    # so off the event loop (a loop blocked that long upsets the app fixture's shutdown).
    await asyncio.to_thread(validate, doc)


async def test_document_lists_every_mounted_route(api: Api) -> None:
    doc = (await api.client.get("/openapi.json")).json()
    app = api.client._transport.app  # type: ignore[attr-defined]
    mounted_ops = {(m.lower(), _template(p)) for m, p in mounted(app.routes)}
    documented = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert mounted_ops == documented
    # Every JSON description names a route that exists (none left behind by a removal).
    assert {(m.lower(), _template(p)) for m, p in OPERATIONS} <= mounted_ops
    # Authenticated routes say how; errors have the error shape.
    post = doc["paths"]["/v1/comments"]["post"]
    assert post["security"] == [{"bearer": []}]
    assert post["responses"]["429"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert "requestBody" in post
    assert doc["paths"]["/v1/counts"]["get"]["security"] == []
    html_page = doc["paths"]["/moderate/queue"]["get"]["responses"]["200"]["content"]
    assert list(html_page) == ["text/html"]


def _as(kind: type[Any], body: Any) -> Any:
    """Decode a real answer into its documented struct (raises if it does not fit)."""
    return msgspec.convert(body, kind, strict=True)


async def test_answers_fit_their_documented_structs(api: Api, worker: ScoringWorker) -> None:
    accepted = await api.post_comment(comment(article="doc/a"))
    _as(schemas.Accepted, accepted.json())
    decided = await api.post_comment(comment(article="doc/a", text="Another one."), wait=5)
    assert decided.status_code == 201
    _as(schemas.Comment, decided.json())
    cid = decided.json()["id"]
    _as(schemas.Comment, (await api.client.get(f"/v1/comments/{cid}", headers=api.auth())).json())
    await api.post_comment(comment(article="doc/a", text="A reply.", parent_id=cid), wait=5)
    _as(schemas.CommentPage, (await api.client.get("/v1/articles/doc/a/comments")).json())
    threaded = await api.client.get("/v1/articles/doc/a/comments", params={"thread": "true"})
    page = _as(schemas.ThreadPage, threaded.json())
    assert page.comments[-1].reply_count == 1
    _as(schemas.Article, (await api.client.get("/v1/articles/doc/a")).json())
    _as(schemas.Counts, (await api.client.get("/v1/counts?article=doc/a")).json())
    _as(schemas.Health, (await api.client.get("/healthz")).json())
    for bad in ("/v1/counts", "/v1/comments/nope", "/nowhere"):
        err = _as(schemas.ErrorBody, (await api.client.get(bad, headers=api.auth())).json())
        assert err.error.code


async def test_docs_and_home_are_local_pages(api: Api) -> None:
    docs = await api.client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    for path in ("/v1/comments", "/v1/articles/{article_id}/comments", "/v1/counts"):
        assert f"<code>{path}</code>" in docs.text
    assert "<script" not in docs.text and "src=" not in docs.text  # nothing from elsewhere
    assert "ErrorBody" in docs.text
    home = await api.client.get("/")
    assert home.status_code == 200
    for link in ("/docs", "/moderate", "/moderate/dashboard", "/openapi.json"):
        assert f"href='{link}'" in home.text
