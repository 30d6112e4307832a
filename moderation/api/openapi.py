"""The API described: an OpenAPI 3.1 document at ``/openapi.json``, a readable page at
``/docs`` (rendered here, server-side, from the same document: no CDN, no script) and ``/``.

The catalogue ``moderation.api.operations`` (:data:`OPERATIONS`) says, for each JSON route,
who may call it, what it takes and what it answers; the schemas come from the msgspec structs
of ``moderation.api.schemas`` and ``moderation.messages``
(``msgspec.json.schema_components``). Routes that do not speak JSON (the review UI's pages,
the event streams, static files, ``/metrics``, ``count.js``) are listed as what they are.
:func:`document` builds from the app's *mounted* routes and refuses a route it cannot
describe, so a new route without an entry fails the tests rather than going undocumented.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from moderation.api import schemas as s
from moderation.api.operation import SECURITY, SITE, SITE_ROUTES, WHO
from moderation.api.operations import OPERATIONS, OTHER
from moderation.api.responses import JSON

TITLE = "Comment moderation API"

_UI_PREFIX = "/moderate"
_STATUS_TEXT = {
    200: "OK", 201: "Decided within the wait", 202: "Accepted", 400: "Bad request",
    401: "No or unknown key", 403: "The key's role may not do this", 404: "Not found",
    409: "Conflict", 413: "Body too large", 415: "Not JSON", 422: "Invalid field",
    429: "Rate limited (see Retry-After)", 503: "Store unavailable (see Retry-After)",
}  # fmt: skip
_CONVERTER = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*):[a-zA-Z_]+}")


def mounted(routes: Sequence[BaseRoute]) -> list[tuple[str, str]]:
    """(method, path) of every route an app mounts (a static mount: ``GET <path>/{path}``)."""
    out: list[tuple[str, str]] = []
    for r in routes:
        if isinstance(r, Mount):
            out.append(("GET", r.path + "/{path}"))
        elif isinstance(r, Route):
            out.extend((m, r.path) for m in sorted(r.methods or ()) if m != "HEAD")
    return out


def document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of an app's routes; a route with no description raises."""
    types: list[Any] = []
    for op in OPERATIONS.values():
        types.extend(_types(op.response) if op.response is not None else [])
        types.extend(_types(op.request) if op.request is not None else [])
        for extra in op.also.values():
            types.extend(_types(extra))
    types.append(s.ErrorBody)
    unique = list(dict.fromkeys(types))
    schemas, components = msgspec.json.schema_components(
        unique, ref_template="#/components/schemas/{name}"
    )
    for component in components.values():
        # The answer structs forbid unknown members (so views cannot drift from them), but
        # clients should accept members added later: the document leaves objects open.
        if component.get("additionalProperties") is False:
            del component["additionalProperties"]
    refs = dict(zip(unique, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for method, path in mounted(routes):
        item = paths.setdefault(_CONVERTER.sub(r"{\1}", path), {})
        item[method.lower()] = _operation(method, path, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": "1",
            "description": "Self-hosted comment moderation for news sites. Errors are "
            '`{"error": {"code", "message", "field"?}}`.',
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API key"},
                "session": {"type": "apiKey", "in": "cookie", "name": "mod_session"},
            },
        },
    }


def _types(t: Any) -> list[Any]:
    if isinstance(t, dict) and "oneOf" in t:
        return list(t["oneOf"])
    return [t]


def _schema(t: Any, refs: dict[Any, Any]) -> dict[str, Any]:
    if isinstance(t, dict) and "oneOf" in t:
        # anyOf, not oneOf: an empty page is both a flat and a threaded page, and oneOf
        # would call that answer invalid.
        return {"anyOf": [refs[x] for x in t["oneOf"]]}
    return dict(refs[t])


def _operation(method: str, path: str, refs: dict[Any, Any]) -> dict[str, Any]:
    params = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
        for n in re.findall(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?}", path)
    ]
    op = OPERATIONS.get((method, path))
    if op is None:
        media, summary = _other(method, path)
        return {
            "summary": summary,
            "parameters": params,
            "responses": {"200": {"description": summary, "content": {media: {}}}},
        }
    site = (SITE,) if (method, path) in SITE_ROUTES else ()
    for p in (*op.params, *site):
        schema: dict[str, Any] = {"type": p.type}
        if p.repeated:
            schema = {"type": "array", "items": schema}
        params.append({"name": p.name, "in": p.where, "description": p.description,
                       "schema": schema})  # fmt: skip
    responses: dict[str, Any] = {}
    for status, t in {op.status: op.response, **op.also}.items():
        if t is None:  # no body (204)
            responses[str(status)] = {"description": "No content"}
            continue
        responses[str(status)] = {
            "description": _STATUS_TEXT.get(status, "OK"),
            "content": {"application/json": {"schema": _schema(t, refs)}},
        }
    # A route that takes a body may refuse it as malformed (400), too large (413), not JSON
    # (415) or invalid (422), whatever else its entry lists.
    body_errors = (400, 413, 415, 422) if op.request is not None else ()
    # A path parameter the route's pattern cannot match (a line break in an id) leaves the
    # path naming no route: 404 with the error shape.
    path_errors = (404,) if params else ()
    site_errors = (400, 404, 422) if site else ()
    for status in sorted({*op.errors, *body_errors, *path_errors, *site_errors}):
        responses.setdefault(str(status), {
            "description": _STATUS_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": dict(refs[s.ErrorBody])}},
        })  # fmt: skip
    out: dict[str, Any] = {
        "summary": op.summary,
        "description": f"Who: {WHO[op.auth]}.",
        "parameters": params,
        "security": SECURITY[op.auth],
        "responses": responses,
    }
    if op.request is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": dict(refs[op.request])}},
        }
    return out


def _other(method: str, path: str) -> tuple[str, str]:
    if (method, path) in OTHER:
        return OTHER[(method, path)]
    if path.startswith(_UI_PREFIX + "/static"):
        return "application/octet-stream", "Static files of the review UI"
    if path.startswith(_UI_PREFIX):
        if path.endswith("/stream"):
            return "text/event-stream", "The dashboard's live figures (Server-Sent Events)"
        return "text/html", f"Review UI page ({method} {path})"
    raise LookupError(f"no description of {method} {path}: add it to moderation.api.openapi")


# --- handlers ----------------------------------------------------------------------------------


def _cached(request: Request) -> dict[str, Any]:
    doc: dict[str, Any] | None = getattr(request.app.state, "openapi", None)
    if doc is None:
        doc = document(request.app.routes)
        request.app.state.openapi = doc
    return doc


async def openapi_json(request: Request) -> Response:
    return JSON(_cached(request))


async def docs(request: Request) -> Response:
    return HTMLResponse(render_docs(_cached(request)), headers=_PAGE_HEADERS)


async def home(request: Request) -> Response:
    return HTMLResponse(_page("Comment moderation", _HOME), headers=_PAGE_HEADERS)


_PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "code,pre{font:14px ui-monospace,monospace}pre{background:#f4f4f4;padding:.5rem;"
    "overflow:auto}h3{margin-bottom:.2rem}.m{font-weight:bold;text-transform:uppercase}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .4rem;"
    "text-align:left}"
)
_HOME = (
    "<h1>Comment moderation</h1><p>A self-hosted moderation service for news sites: your site "
    "posts reader comments here; workers score them for toxicity and spam; your site gets "
    "an approve / hold decision and per-article counts; moderators review what was held.</p>"
    "<ul><li><a href='/docs'>API reference</a> (<a href='/openapi.json'>OpenAPI 3.1</a>)</li>"
    "<li><a href='/moderate'>Moderation</a>: the review queue (sign in with a key)</li>"
    "<li><a href='/moderate/dashboard'>Dashboard</a>: the queue and decisions live</li>"
    "<li><a href='/count.js'>count.js</a>: comment counts on your pages</li></ul>"
)


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><meta name='viewport' content='width=device-width'><style>{_STYLE}</style>"
        f"</head><body>{body}</body></html>"
    )


def render_docs(doc: dict[str, Any]) -> str:
    """The document as one HTML page: each route, who may call it, its parameters, body and
    answers, then the schemas."""
    e = html.escape
    parts = [f"<h1>{e(doc['info']['title'])}</h1><p>{e(doc['info']['description'])}</p>",
             "<p><a href='/openapi.json'>openapi.json</a> · <a href='/'>home</a></p>"]  # fmt: skip
    for path, item in doc["paths"].items():
        for method, op in item.items():
            parts.append(f"<h3><span class='m'>{e(method)}</span> <code>{e(path)}</code></h3>")
            parts.append(f"<p>{e(op['summary'])}. {e(op.get('description', ''))}</p>")
            query = [p for p in op["parameters"] if p["in"] != "path"]
            if query:
                rows = "".join(
                    f"<tr><td><code>{e(p['name'])}</code></td><td>{e(p['in'])}</td>"
                    f"<td>{e(p.get('description', ''))}</td></tr>"
                    for p in query
                )
                parts.append(f"<table>{rows}</table>")
            body = op.get("requestBody")
            if body:
                parts.append(f"<p>Body: {_ref(body['content']['application/json']['schema'])}</p>")
            answers = ", ".join(f"{e(code)} {_answer(r)}" for code, r in op["responses"].items())
            parts.append(f"<p>Answers: {answers}</p>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in doc["components"]["schemas"].items():
        text = json.dumps(schema, indent=2, ensure_ascii=False)
        parts.append(f"<h3 id='{e(name)}'>{e(name)}</h3><pre>{e(text)}</pre>")
    return _page(doc["info"]["title"], "".join(parts))


def _answer(response: dict[str, Any]) -> str:
    content: dict[str, Any] = response.get("content", {})
    for media, body in content.items():
        return _ref(body["schema"]) if "schema" in body else f"<code>{html.escape(media)}</code>"
    return ""


def _ref(schema: dict[str, Any]) -> str:
    names = [x["$ref"].rsplit("/", 1)[1] for x in schema.get("oneOf", [schema]) if "$ref" in x]
    if not names:
        return "<code>object</code>" if schema.get("type") == "object" else ""
    return " or ".join(f"<a href='#{html.escape(n)}'>{html.escape(n)}</a>" for n in names)
