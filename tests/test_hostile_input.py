"""Hostile input: property tests (hypothesis) for validation, through real HTTP semantics into
the ASGI app, and for normalisation; and the fuzzer (``bench/fuzz.py``) across every route.

Nothing a client sends may produce a 5xx, and every refusal has the error shape.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bench.fuzz import fuzz, routes_of
from moderation.app import create_app
from moderation.normalize import _INVISIBLE, normalize
from moderation.settings import Settings
from tests.conftest import Api, running_api

T = TypeVar("T")

#: Statuses POST /v1/comments may answer; anything else (a 5xx above all) is a bug.
ACCEPTABLE = {202, 400, 409, 413, 415, 422, 429}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
ids = st.text(min_size=0, max_size=250)
near_valid = st.fixed_dictionaries(
    {
        "article_id": ids | json_values,
        "text": st.text(max_size=300) | json_values,
        "author": st.fixed_dictionaries({"id": ids, "name": st.text(max_size=50)}) | json_values,
    },
    optional={
        "parent_id": ids | st.none(),
        "context": st.fixed_dictionaries(
            {},
            optional={
                "ip": st.text(max_size=50) | st.ip_addresses().map(str),
                "page_loaded_at": st.text(max_size=30)
                | st.floats(allow_nan=False, allow_infinity=False)
                | st.integers(),
                "honeypot": st.text(max_size=20),
                "user_agent": st.text(max_size=50),
            },
        ),
        "unknown": json_values,
    },
)


def _check(r: httpx.Response) -> None:
    assert r.status_code in ACCEPTABLE, (r.status_code, r.text[:300])
    if r.status_code >= 400:
        error = r.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)


async def _drive(
    api: Api, property_test: Callable[[Callable[[Coroutine[Any, Any, T]], T]], None]
) -> None:
    """Run a hypothesis test in a thread; its requests run on this loop, where the app lives."""
    loop = asyncio.get_running_loop()

    def call(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)

    await asyncio.to_thread(property_test, call)


async def test_any_json_body_gets_a_4xx_or_202_never_a_5xx(api: Api) -> None:
    def run(call: Callable[[Coroutine[Any, Any, httpx.Response]], httpx.Response]) -> None:
        @hsettings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
        @given(body=near_valid | json_values)
        def prop(body: Any) -> None:
            _check(call(api.client.post("/v1/comments", json=body, headers=api.auth())))

        prop()

    await _drive(api, run)


async def test_any_bytes_body_gets_a_4xx_never_a_5xx(api: Api) -> None:
    def run(call: Callable[[Coroutine[Any, Any, httpx.Response]], httpx.Response]) -> None:
        @hsettings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            body=st.binary(max_size=400),
            media=st.sampled_from(
                ["application/json", "text/plain", "application/ld+json; charset=latin-1", ""]
            ),
        )
        def prop(body: bytes, media: str) -> None:
            headers = {**api.auth(), "Content-Type": media} if media else api.auth()
            r = call(api.client.post("/v1/comments", content=body, headers=headers))
            _check(r)
            if r.status_code == 202:  # it happened to be a valid comment
                json.loads(body)

        prop()

    await _drive(api, run)


async def test_any_moderation_edit_gets_a_4xx_or_success_never_a_5xx(api: Api) -> None:
    def run(call: Callable[[Coroutine[Any, Any, httpx.Response]], httpx.Response]) -> None:
        @hsettings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            route=st.sampled_from(
                [
                    ("POST", "/v1/moderation/authors/u1/state"),
                    ("PATCH", "/v1/moderation/articles/a1/settings"),
                    ("PATCH", "/v1/moderation/policy"),
                    ("PATCH", "/v1/moderation/words/suspect"),
                    ("POST", "/v1/moderation/decisions"),
                ]
            ),
            body=json_values,
        )
        def prop(route: tuple[str, str], body: Any) -> None:
            method, path = route
            r = call(api.client.request(method, path, json=body, headers=api.auth("admin")))
            assert r.status_code < 500, (r.status_code, r.text[:300])
            if r.status_code >= 400:
                assert isinstance(r.json()["error"]["code"], str)

        prop()

    await _drive(api, run)


# --- normalisation ----------------------------------------------------------------------------


@hsettings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_normalize_is_idempotent_and_leaves_nothing_invisible(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert _INVISIBLE.search(once) is None
    assert len(once) <= max(len(text) * 4, 4)  # NFKC may expand a little, never explode


@hsettings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=200))
def test_normalize_keeps_plain_ascii_words(text: str) -> None:
    out = normalize(text)
    assert out.isascii()


# --- the fuzzer -------------------------------------------------------------------------------


async def test_a_thousand_fuzzed_requests_across_every_route_get_no_5xx(
    settings: Settings,
) -> None:
    relaxed = settings.with_overrides(auth_failures_max=1_000_000)
    async with running_api(relaxed) as api:
        creds = [{}, api.auth("site"), api.auth("moderator"), api.auth("admin"),
                 {"Authorization": "Bearer mk_unknown"}]  # fmt: skip
        report = await fuzz(api.client, routes_of(create_app(relaxed)), creds, 1000, seed=10)
    print(f"fuzz: {report.sent} requests, statuses {dict(sorted(report.statuses.items()))}")
    assert report.sent == 1000
    assert report.server_errors == []
    assert report.bad_shape == []
