"""Bad input gets a clear 4xx naming the problem; never a 500, never a stored comment."""

from __future__ import annotations

import json
from typing import Any

import pytest
from redis.asyncio import Redis

from moderation.keys import Keys
from tests.conftest import Api, comment

A = {"id": "u1", "name": "Reader"}


def body(**overrides: Any) -> dict[str, Any]:
    b: dict[str, Any] = {"article_id": "a1", "text": "hello there", "author": dict(A)}
    b.update(overrides)
    return b


CASES: list[tuple[str, Any, int, str, str]] = [
    # (case, JSON body, status, error code, field)
    ("missing text", {"article_id": "a1", "author": A}, 422, "validation_failed", "text"),
    ("missing article", {"text": "x", "author": A}, 422, "validation_failed", "article_id"),
    ("missing author", {"article_id": "a1", "text": "x"}, 422, "validation_failed", "author"),
    ("missing author.id", body(author={"name": "n"}), 422, "validation_failed", "author.id"),
    ("text not a string", body(text=42), 422, "validation_failed", "text"),
    (
        "author.id wrong type",
        body(author={"id": 7, "name": "n"}),
        422,
        "validation_failed",
        "author.id",
    ),
    ("author not an object", body(author="me"), 422, "validation_failed", "author"),
    ("empty text", body(text=""), 422, "validation_failed", "text"),
    ("whitespace text", body(text="   \n\t "), 422, "validation_failed", "text"),
    ("over-long text", body(text="x" * 10_001), 422, "validation_failed", "text"),
    ("article id too long", body(article_id="a" * 201), 422, "validation_failed", "article_id"),
    ("empty article id", body(article_id=""), 422, "validation_failed", "article_id"),
    ("control char in id", body(article_id="a\nb"), 422, "validation_failed", "article_id"),
    (
        "author id too long",
        body(author={"id": "u" * 201, "name": "n"}),
        422,
        "validation_failed",
        "author.id",
    ),
    (
        "empty author name",
        body(author={"id": "u", "name": " "}),
        422,
        "validation_failed",
        "author.name",
    ),
    ("parent id too long", body(parent_id="p" * 201), 422, "validation_failed", "parent_id"),
    ("unknown top field", body(score=1), 422, "validation_failed", "score"),
    (
        "unknown author field",
        body(author={"id": "u", "name": "n", "age": 3}),
        422,
        "validation_failed",
        "author.age",
    ),
    (
        "unknown context field",
        body(context={"cookie": "x"}),
        422,
        "validation_failed",
        "context.cookie",
    ),
    ("bad ip", body(context={"ip": "999.1.1.1"}), 422, "validation_failed", "context.ip"),
    (
        "bad page_loaded_at",
        body(context={"page_loaded_at": "yesterday"}),
        422,
        "validation_failed",
        "context.page_loaded_at",
    ),
    (
        "naive timestamp",
        body(context={"page_loaded_at": "2026-01-01T10:00:00"}),
        422,
        "validation_failed",
        "context.page_loaded_at",
    ),
    (
        "bad email",
        body(author={"id": "u", "name": "n", "email": "nope"}),
        422,
        "validation_failed",
        "author.email",
    ),
    ("array body", [1, 2], 422, "validation_failed", "body"),
    ("null body", None, 422, "validation_failed", "body"),
]


@pytest.mark.parametrize(
    ("case", "payload", "status", "code", "field"), CASES, ids=[c[0] for c in CASES]
)
async def test_validation_table(
    api: Api, rds: Redis, case: str, payload: Any, status: int, code: str, field: str
) -> None:
    r = await api.client.post("/v1/comments", content=json.dumps(payload), headers=api.auth())
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code
    assert err["field"] == field
    assert err["message"]
    assert await rds.xlen(Keys().stream) == 0  # nothing stored


RAW_CASES: list[tuple[str, bytes, dict[str, str], int, str, str]] = [
    ("bad json", b'{"article_id": "a1", "text": ', {}, 400, "invalid_json", "body"),
    ("empty body", b"", {}, 400, "invalid_json", "body"),
    (
        "bad utf-8",
        b'{"article_id": "a1", "text": "\xff\xfe", "author": {"id": "u", "name": "n"}}',
        {},
        400,
        "invalid_json",
        "body",
    ),
    (
        "lone surrogate",
        b'{"article_id": "a1", "text": "\\ud800", "author": {"id": "u", "name": "n"}}',
        {},
        400,
        "invalid_json",
        "body",
    ),
    (
        "wrong content type",
        b"article_id=a1",
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
        "Content-Type",
    ),
    (
        "body over 64 KiB",
        b'{"text": "' + b"x" * (64 * 1024) + b'"}',
        {},
        413,
        "payload_too_large",
        "body",
    ),
]


@pytest.mark.parametrize(
    ("case", "raw", "headers", "status", "code", "field"), RAW_CASES, ids=[c[0] for c in RAW_CASES]
)
async def test_raw_body_table(
    api: Api,
    rds: Redis,
    case: str,
    raw: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
    field: str,
) -> None:
    h = {"Content-Type": "application/json", **api.auth(), **headers}
    r = await api.client.post("/v1/comments", content=raw, headers=h)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert (err["code"], err["field"]) == (code, field)
    assert await rds.xlen(Keys().stream) == 0


async def test_chunked_body_over_limit_is_refused_without_content_length(api: Api) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(80):
            yield b"x" * 1024

    r = await api.client.post("/v1/comments", content=chunks(), headers=api.auth())
    assert r.status_code == 413


async def test_text_limit_is_configurable(settings: Any) -> None:
    from tests.conftest import running_api

    async with running_api(settings.with_overrides(max_text_chars=20)) as small:
        assert (await small.post_comment(comment(text="x" * 20))).status_code == 202
        r = await small.post_comment(comment(text="x" * 21))
        assert r.status_code == 422
        assert "limit is 20" in r.json()["error"]["message"]


async def test_text_stored_verbatim(api: Api) -> None:
    text = "  Café\u200b ｆｕｌｌ  <b>bold</b> \U0001f600 \r\n line two\u0000 "
    r = await api.post_comment(comment(text=text))
    got = await api.client.get(f"/v1/comments/{r.json()['id']}", headers=api.auth())
    assert got.json()["text"] == text


AUTH_CASES = [
    ("no key", {}, 401, "unauthorized"),
    ("not bearer", {"Authorization": "Basic abc"}, 401, "unauthorized"),
    ("unknown key", {"Authorization": "Bearer mk_site_nope"}, 401, "unauthorized"),
]


@pytest.mark.parametrize(
    ("case", "headers", "status", "code"), AUTH_CASES, ids=[c[0] for c in AUTH_CASES]
)
async def test_post_needs_a_site_key(
    api: Api, case: str, headers: dict[str, str], status: int, code: str
) -> None:
    r = await api.client.post("/v1/comments", json=comment(), headers=headers)
    assert r.status_code == status
    assert r.json()["error"]["code"] == code
    assert "www-authenticate" in r.headers


async def test_moderator_key_cannot_post_comments(api: Api) -> None:
    r = await api.post_comment(comment(), role="moderator")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"


async def test_admin_key_can_post(api: Api) -> None:
    assert (await api.post_comment(comment(), role="admin")).status_code == 202


@pytest.mark.parametrize("wait", ["0", "-1", "10.5", "abc", "nan"])
async def test_wait_out_of_range(api: Api, wait: str) -> None:
    r = await api.client.post(
        "/v1/comments", params={"wait": wait}, json=comment(), headers=api.auth()
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "wait"


async def test_unknown_route_and_method_use_the_error_shape(api: Api) -> None:
    r = await api.client.get("/v1/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await api.client.delete("/v1/comments", headers=api.auth())
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


async def test_get_unknown_comment(api: Api) -> None:
    r = await api.client.get("/v1/comments/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=api.auth())
    assert r.status_code == 404
    r = await api.client.get("/v1/comments/not-an-id", headers=api.auth())
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "comment_id"


async def test_get_comment_needs_a_key(api: Api) -> None:
    posted = await api.post_comment(comment())
    r = await api.client.get(f"/v1/comments/{posted.json()['id']}")
    assert r.status_code == 401
