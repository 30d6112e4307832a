"""Schemathesis against ``/openapi.json``: requests generated from the document itself, valid
ones and invalid ones, with the right credentials, sent over real HTTP to a real uvicorn on
127.0.0.1. Nothing may answer 5xx, and every answer must match what the document says of it
(its status, its media type and its schema).

Bounded: a fixed number of examples per operation (derandomised, so a failure reproduces),
a timeout on every request, and nothing leaves 127.0.0.1. ``-s`` prints the tally.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from moderation.keys import Keys
from moderation.messages import Role
from moderation.settings import Settings
from moderation.store.apikeys import create_key
from tests.conftest import served_api, worker_subprocess

#: Examples per operation and mode; with ~28 JSON operations and both modes this is well over
#: the 1,000 requests the test asserts (simple operations exhaust their space sooner).
EXAMPLES = {GenerationMode.POSITIVE: 40, GenerationMode.NEGATIVE: 25}
#: Routes that hold the connection open (Server-Sent Events): not fuzzable request/response.
STREAMING = ("/v1/moderation/events", "/stream")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


async def _keys(settings: Settings) -> dict[Role, str]:
    from redis.asyncio import Redis

    client = Redis.from_url(settings.resolved_redis_url())
    try:
        k = Keys(settings.key_prefix)
        return {
            role: await create_key(client, k, f"{role.value}-{os.urandom(3).hex()}", role)
            for role in (Role.SITE, Role.MODERATOR, Role.ADMIN)
        }
    finally:
        await client.aclose()


def _role_for(operation: Any) -> Role | None:
    """The key an operation needs: its document says who may call it (``Who: ...``)."""
    who = operation.definition.raw.get("description", "")
    if not operation.definition.raw.get("security"):
        return None
    if "a site key" in who and "moderator" not in who:
        return Role.SITE
    return Role.ADMIN  # admin keys pass every moderator and reader route


def _fuzz(
    op: Any,
    mode: GenerationMode,
    examples: int,
    base: str,
    session: requests.Session,
    headers: dict[str, str],
    sent: Counter[int],
) -> None:
    @hsettings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=base, session=session, headers=headers, timeout=10)
        sent[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


def _wait_ready(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while requests.get(base + "/readyz", timeout=2).status_code != 200:
        if time.monotonic() > deadline:
            raise AssertionError("the worker never became ready")
        time.sleep(0.2)


def _operations(base: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    return [
        op
        for op in (r.ok() for r in schema.get_all_operations())
        if not any(op.path.endswith(s) for s in STREAMING)
        and "application/json" in str(op.definition.raw.get("responses", {}))
    ]


@pytest.mark.slow
def test_generated_requests_from_the_openapi_document_get_no_5xx_and_match_it(
    settings: Settings,
) -> None:
    relaxed = settings.with_overrides(auth_failures_max=1_000_000)
    keys = asyncio.run(_keys(relaxed))
    sent: Counter[int] = Counter()
    failures: list[str] = []
    # A worker, so /readyz is ready (its 503 while no worker lives is right, not a bug).
    worker = worker_subprocess(relaxed)
    try:
        with served_api(relaxed) as base, requests.Session() as session:
            _wait_ready(base)
            operations = _operations(base)
            for op in operations:
                role = _role_for(op)
                headers = {"Authorization": f"Bearer {keys[role]}"} if role is not None else {}
                for mode, examples in EXAMPLES.items():
                    try:
                        _fuzz(op, mode, examples, base, session, headers, sent)
                    except Unsatisfiable:
                        pass  # nothing to make invalid (no parameters, no body)
                    except (Exception, BaseExceptionGroup) as exc:  # every operation that broke
                        failures.append(f"{op.method.upper()} {op.path} ({mode.value}): {exc}")
    finally:
        worker.terminate()
        worker.wait(timeout=15)
    total = sum(sent.values())
    print(f"schemathesis: {len(operations)} operations, {total} requests, "
          f"statuses {dict(sorted(sent.items()))}")  # fmt: skip
    assert not failures, "\n\n".join(failures)
    assert total >= 1000
    assert not [s for s in sent if s >= 500]
