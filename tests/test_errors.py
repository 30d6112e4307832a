"""One error mapping (``moderation.errors.describe``) for the API, the web UI and the CLI."""

from __future__ import annotations

import re

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from moderation import errors
from moderation.cli import main
from moderation.errors import (
    REDIS_UNAVAILABLE,
    ModerationError,
    RateLimited,
    StoreUnavailable,
    describe,
    describe_status,
)
from moderation.settings import Settings
from moderation.store.sessions import COOKIE
from tests.conftest import free_port, running_api


def test_ours_as_raised() -> None:
    exc = RateLimited(
        "slow down", field="author.id", headers={"Retry-After": "3"}, extra={"limit": "author"}
    )
    info = describe(exc, retry_after_s=9)
    assert (info.status, info.code, info.message) == (429, "rate_limited", "slow down")
    assert info.headers == {"Retry-After": "3"}
    assert (
        info.body()
        == exc.body()
        == {
            "error": {
                "code": "rate_limited",
                "message": "slow down",
                "field": "author.id",
                "limit": "author",
            }
        }
    )
    assert not info.unexpected and not info.unavailable and info.exit_code == 2


@pytest.mark.parametrize(
    "exc", [RedisConnectionError("down"), RedisTimeoutError("slow"), ConnectionRefusedError()]
)
def test_redis_unreachable_is_503_store_unavailable(exc: Exception) -> None:
    assert isinstance(exc, REDIS_UNAVAILABLE)
    info = describe(exc, retry_after_s=2)
    assert (info.status, info.code) == (503, "store_unavailable")
    assert info.message == "the comment store is unreachable; retry shortly"
    assert info.headers == {"Retry-After": "2"}
    assert info.unavailable and info.title == "Store unavailable"
    assert describe(exc).headers == {}  # no Retry-After unless one is given


@pytest.mark.parametrize("exc", [ValueError("bug"), FileNotFoundError("no such file")])
def test_anything_else_is_500_internal_error(exc: Exception) -> None:
    info = describe(exc, retry_after_s=2)
    assert (info.status, info.code) == (500, "internal_error")
    assert info.message == "internal error; it has been logged"
    assert info.unexpected and info.exit_code == 1 and not info.headers


def test_framework_refusals_get_our_codes() -> None:
    assert describe_status(404, "no route").code == "not_found"
    assert describe_status(406, "no").code == "not_acceptable"
    assert describe_status(418, "teapot").code == "http_error"


def test_docstring_tree_matches_the_hierarchy() -> None:
    drawn = {
        m.group(1): (int(m.group(2)), m.group(3))
        for m in re.finditer(r"(\w+) \.+ (\d{3}) (\w+)", errors.__doc__ or "")
    }

    def walk(cls: type[ModerationError]) -> dict[str, tuple[int, str]]:
        found = {cls.__name__: (cls.status, cls.code)}
        for sub in cls.__subclasses__():
            if sub.__module__ == "moderation.errors":
                found.update(walk(sub))
        return found

    assert drawn == walk(ModerationError)


async def test_ui_shows_an_outage_as_an_html_page() -> None:
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", retry_after_s=4)
    async with running_api(settings, create_keys=False) as api:
        api.client.cookies.set(COOKIE, "s")  # a session to look up: the lookup needs Redis
        page = await api.client.get("/moderate/queue")
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["retry-after"] == "4"
        assert "Store unavailable" in page.text and "Reload in a moment" in page.text
        r = await api.client.get("/v1/counts", params={"article": "a"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable"


def test_cli_says_an_outage_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODERATION_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    assert main(["keys", "list"]) == 2
    err = capsys.readouterr().err
    assert err == "moderation: the comment store is unreachable; retry shortly\n"


def test_store_unavailable_raised_is_ours() -> None:
    info = describe(StoreUnavailable("gone"))
    assert (info.status, info.code, info.message, info.title) == (
        503,
        "store_unavailable",
        "gone",
        "Store unavailable",
    )
