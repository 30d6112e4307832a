"""``/v1/moderation/webhooks…``: webhook endpoints managed at run time, by admins.

List, create (the answer carries the new ``whsec_`` secret, shown this once), read, change
(URL, events, description), delete, rotate the secret (the new one shown once; the previous
one keeps signing beside it for ``MODERATION_WEBHOOK_ROTATION_GRACE_S``), list dead-lettered
messages and replay them. Every change is audited (target type ``webhook``). The environment's
endpoint (``env``) is listed and its failures replayable, but changed only through its settings
(409). The logic lives in ``moderation.store.webhooks``; these handlers parse and check.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from moderation.api import schemas_admin as a
from moderation.api.access import Principal, require_principal
from moderation.api.auth import ADMINS
from moderation.api.moderation import _body, review_of
from moderation.api.responses import JSON
from moderation.api.schemas import typed
from moderation.api.validation import query_int
from moderation.messages import iso
from moderation.store import audit
from moderation.store.webhooks import MAX_FAILURES_PAGE, Endpoint, Webhooks, now_ms

PREFIX = "/v1/moderation/webhooks"


class EndpointIn(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    events: list[str]
    description: str = ""
    #: The sites whose events it receives (omitted or empty: every site's).
    sites: list[str] = msgspec.field(default_factory=list)


class EndpointPatch(msgspec.Struct, forbid_unknown_fields=True):
    url: str | None = None
    events: list[str] | None = None
    description: str | None = None
    sites: list[str] | None = None


class ReplayIn(msgspec.Struct, forbid_unknown_fields=True):
    #: Failure ids (from the failures listing); omitted = every failure of the endpoint.
    failure_ids: list[str] | None = None


def _hooks(request: Request) -> Webhooks:
    state = request.app.state
    return Webhooks(state.redis, state.keys, state.settings)


async def _audit(
    request: Request, who: Principal, action: str, endpoint_id: str, after: dict[str, Any]
) -> None:
    entry = audit.new_entry(who.actor, action, "webhook", endpoint_id, after=after)
    await review_of(request).audit.append(entry)


async def _with_backlog(hooks: Webhooks, endpoints: list[Endpoint]) -> list[dict[str, Any]]:
    figures = await hooks.backlog([e.id for e in endpoints]) if endpoints else {}
    now = now_ms()
    return [
        {**e.view(now), "backlog": figures[e.id][0], "failures": figures[e.id][1]}
        for e in endpoints
    ]


async def list_endpoints(request: Request) -> Response:
    await require_principal(request, ADMINS)
    hooks = _hooks(request)
    listed = await _with_backlog(hooks, await hooks.endpoints())
    return JSON(typed(a.EndpointList, {"endpoints": listed}))


async def create_endpoint(request: Request) -> Response:
    who = await require_principal(request, ADMINS)
    body = await _body(request, EndpointIn)
    endpoint, secret = await _hooks(request).create(
        body.url, body.events, body.description, body.sites
    )
    after = {"url": endpoint.url, "events": endpoint.events, "sites": endpoint.sites}
    await _audit(request, who, "webhook.create", endpoint.id, after)
    view = endpoint.view(now_ms())
    answer = typed(a.Endpoint, {**view, "secret": secret})
    return JSON(answer, 201, {"Location": f"{PREFIX}/{endpoint.id}"})


async def get_endpoint(request: Request) -> Response:
    await require_principal(request, ADMINS)
    hooks = _hooks(request)
    endpoint = await hooks.get(request.path_params["endpoint_id"])
    return JSON(typed(a.Endpoint, (await _with_backlog(hooks, [endpoint]))[0]))


async def patch_endpoint(request: Request) -> Response:
    who = await require_principal(request, ADMINS)
    body = await _body(request, EndpointPatch)
    endpoint = await _hooks(request).update(
        request.path_params["endpoint_id"],
        url=body.url,
        events=body.events,
        description=body.description,
        sites=body.sites,
    )
    after = {"url": endpoint.url, "events": endpoint.events, "sites": endpoint.sites}
    await _audit(request, who, "webhook.update", endpoint.id, after)
    return JSON(typed(a.Endpoint, endpoint.view(now_ms())))


async def delete_endpoint(request: Request) -> Response:
    who = await require_principal(request, ADMINS)
    endpoint_id = request.path_params["endpoint_id"]
    await _hooks(request).remove(endpoint_id)
    await _audit(request, who, "webhook.delete", endpoint_id, {"deleted": True})
    return Response(status_code=204)


async def rotate_secret(request: Request) -> Response:
    who = await require_principal(request, ADMINS)
    endpoint, secret = await _hooks(request).rotate(request.path_params["endpoint_id"])
    await _audit(request, who, "webhook.rotate", endpoint.id, {"rotated": True})
    return JSON(typed(a.Endpoint, {**endpoint.view(now_ms()), "secret": secret}))


async def list_failures(request: Request) -> Response:
    await require_principal(request, ADMINS)
    limit = query_int(
        request.query_params.get("limit"), "limit", default=100, low=1, high=MAX_FAILURES_PAGE
    )
    rows = await _hooks(request).failures(request.path_params["endpoint_id"], limit)
    failures = [
        a.Failure(
            id=failure_id,
            message_id=message.id,
            type=message.type,
            attempts=message.attempts,
            error=message.error,
            first_attempt_at=iso(message.first),
            failed_at=iso(at),
            payload=msgspec.json.decode(message.body),
        )
        for failure_id, message, at in rows
    ]
    return JSON(a.FailureList(failures))


async def replay_failures(request: Request) -> Response:
    who = await require_principal(request, ADMINS)
    body = await _body(request, ReplayIn)
    endpoint_id = request.path_params["endpoint_id"]
    n = await _hooks(request).replay(endpoint_id, body.failure_ids)
    await _audit(request, who, "webhook.replay", endpoint_id, {"replayed": n})
    return JSON(a.Replayed(n))


def routes() -> list[BaseRoute]:
    p = PREFIX
    one = f"{p}/{{endpoint_id}}"
    return [
        Route(p, list_endpoints, methods=["GET"]),
        Route(p, create_endpoint, methods=["POST"]),
        Route(one, get_endpoint, methods=["GET"]),
        Route(one, patch_endpoint, methods=["PATCH"]),
        Route(one, delete_endpoint, methods=["DELETE"]),
        Route(f"{one}/rotate", rotate_secret, methods=["POST"]),
        Route(f"{one}/failures", list_failures, methods=["GET"]),
        Route(f"{one}/replay", replay_failures, methods=["POST"]),
    ]
