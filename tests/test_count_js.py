"""count.js in real Chromium against a real uvicorn: one batched request, the right texts,
elements added later, a failing endpoint (nothing changes, nothing throws)."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from moderation.keys import Keys
from moderation.settings import Settings
from tests.conftest import served_api

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent"),
]
sync_api = pytest.importorskip("playwright.sync_api")


def _front_page(api: str, extra: str = "") -> str:
    return f"""<!doctype html><html lang="en"><body>
<a id="a" data-comment-count="2026/11/budget">Comments</a>
<a id="b" data-comment-count="one-comment">Comments</a>
<a id="c" data-comment-count="nothing-yet">Comments</a>
<a id="d" data-comment-count="2026/11/budget">Comments</a>
<script src="{api}/count.js" {extra}></script></body></html>"""


@pytest.fixture
def service(settings: Settings) -> Iterator[str]:
    # Counts are the size of each article's approved set: give three articles 12, 1 and 0.
    r = redis.Redis.from_url(settings.resolved_redis_url())
    keys = Keys(settings.key_prefix)
    r.zadd(
        keys.approved("2026/11/budget"), {f"01KAXD6Y8V3N9TQ2J5ZB7W4H{i:02d}": 0 for i in range(12)}
    )
    r.zadd(keys.approved("one-comment"), {"01KAXD6Y8V3N9TQ2J5ZB7W4H1C": 0})
    r.zadd(
        keys.approved("later"), {"01KAXD6Y8V3N9TQ2J5ZB7W4H2C": 0, "01KAXD6Y8V3N9TQ2J5ZB7W4H3C": 0}
    )
    with served_api(settings) as base:
        yield base


@pytest.fixture
def page(service: str) -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        pg = b.new_page()
        yield pg
        b.close()


@pytest.fixture
def site() -> Iterator[dict[str, Any]]:
    """The news site: a real HTTP server on ``localhost`` (another origin than the API on
    127.0.0.1, so CORS applies; both loopback, as Chromium's Local Network Access wants)."""
    state: dict[str, Any] = {"body": ""}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = state["body"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://localhost:{server.server_address[1]}/"
    yield state
    server.shutdown()
    server.server_close()


def _serve(
    page: Any, site: dict[str, Any], body: str, requests: list[str], errors: list[str]
) -> str:
    site["body"] = body
    page.on("request", lambda req: requests.append(req.url) if "/v1/counts" in req.url else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return str(site["url"])


def test_script_is_small(service: str) -> None:
    r = httpx.get(service + "/count.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert len(r.content) < 3 * 1024


def test_one_request_fills_every_element(page: Any, service: str, site: dict[str, Any]) -> None:
    requests: list[str] = []
    errors: list[str] = []
    page.goto(_serve(page, site, _front_page(service), requests, errors))
    page.wait_for_function("document.querySelector('#c').textContent !== 'Comments'")
    texts = {i: page.text_content(f"#{i}") for i in "abcd"}
    assert texts == {"a": "12 comments", "b": "1 comment", "c": "0 comments", "d": "12 comments"}
    assert len(requests) == 1 and requests[0].count("article=") == 3
    # Elements added later: rescan() counts them (and only them) with one more request.
    page.evaluate(
        "() => { const a = document.createElement('a'); a.id = 'e';"
        " a.setAttribute('data-comment-count', 'later'); document.body.append(a);"
        " CommentCount.rescan(); }"
    )
    page.wait_for_function("document.querySelector('#e').textContent === '2 comments'")
    assert len(requests) == 2 and requests[1].count("article=") == 1
    assert errors == []


def test_templates_and_language_are_configurable(
    page: Any, service: str, site: dict[str, Any]
) -> None:
    extra = (
        'data-lang="de" data-one="{n} Kommentar" data-other="{n} Kommentare" data-zero="Noch keine"'
    )
    page.goto(_serve(page, site, _front_page(service, extra), [], []))
    page.wait_for_function("document.querySelector('#c').textContent !== 'Comments'")
    assert page.text_content("#a") == "12 Kommentare"
    assert page.text_content("#b") == "1 Kommentar"
    assert page.text_content("#c") == "Noch keine"


def test_a_failing_endpoint_changes_nothing(page: Any, service: str, site: dict[str, Any]) -> None:
    requests: list[str] = []
    errors: list[str] = []
    url = _serve(page, site, _front_page(service), requests, errors)
    page.route("**/v1/counts?*", lambda route: route.fulfill(status=503, body="{}"))
    page.goto(url)
    page.wait_for_timeout(300)
    assert len(requests) == 1
    assert [page.text_content(f"#{i}") for i in "abcd"] == ["Comments"] * 4
    page.unroute("**/v1/counts?*")
    page.route("**/v1/counts?*", lambda route: route.abort())
    page.evaluate("CommentCount.rescan()")  # a network failure: still nothing, no throw
    page.wait_for_timeout(300)
    assert [page.text_content(f"#{i}") for i in "abcd"] == ["Comments"] * 4
    assert errors == []


def test_data_site_names_the_site(
    settings: Settings, page: Any, service: str, site: dict[str, Any]
) -> None:
    """With several sites, ``data-site`` picks one: its counts, not another site's."""
    r = redis.Redis.from_url(settings.resolved_redis_url())
    keys = Keys(settings.key_prefix)
    r.sadd(keys.sites, "default", "gazette")
    r.zadd(keys.for_site("gazette").approved("2026/11/budget"), {"01KAXD6Y8V3N9TQ2J5ZB7W4H9C": 0})
    requests: list[str] = []
    errors: list[str] = []
    page.goto(_serve(page, site, _front_page(service, 'data-site="gazette"'), requests, errors))
    page.wait_for_function("document.querySelector('#c').textContent !== 'Comments'")
    assert page.text_content("#a") == "1 comment" and page.text_content("#b") == "0 comments"
    assert "site=gazette" in requests[0] and errors == []
