"""The example news site (``examples/news-site``) in real Chromium, against a real API and
worker (uvicorn): the front page's counts come from count.js, an article shows its threads,
and a reader posts a comment that is published, and one that awaits moderation."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import uvicorn
from redis.asyncio import Redis as AsyncRedis

from moderation.client import ModerationClient
from moderation.keys import Keys
from moderation.messages import Role
from moderation.settings import Settings
from moderation.store.apikeys import create_key
from tests.conftest import free_port
from tests.live_server import LiveServer

CHROMIUM = "/usr/bin/chromium"
SITE_DIR = Path(__file__).resolve().parent.parent / "examples" / "news-site"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent"),
]
sync_api = pytest.importorskip("playwright.sync_api")


def _news_site_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("news_site", SITE_DIR / "news_site.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["news_site"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _site_key(settings: Settings) -> str:
    async def make() -> str:
        redis = AsyncRedis.from_url(settings.resolved_redis_url())
        try:
            return await create_key(redis, Keys(settings.key_prefix), "news-site", Role.SITE)
        finally:
            await redis.aclose()

    # In a thread of its own: the test may already run inside an event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, make()).result()


@pytest.fixture
def news_site(settings: Settings) -> Iterator[dict[str, str]]:
    """The API and a worker on 127.0.0.1, the news site on ``localhost`` (another origin, so
    count.js runs cross-origin as on a real site)."""
    # Counts uncached, so the front page shows the new count at once when visited again.
    api = LiveServer(settings.with_overrides(counts_max_age_s=0)).start()
    key = _site_key(settings)
    port = free_port()
    app = _news_site_module().create_app(api.url, key, site_url=f"http://localhost:{port}")
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "news site did not start"
        time.sleep(0.02)
    try:
        yield {"site": f"http://localhost:{port}", "api": api.url, "key": key}
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        api.stop()


@pytest.fixture
def page() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        yield browser.new_page()
        browser.close()


def test_front_page_and_posting(page: Any, news_site: dict[str, str]) -> None:
    # One comment already there, through the same client library the site uses.
    with ModerationClient(news_site["api"], news_site["key"]) as mod:
        first = mod.submit(
            "2026/11/budget", "Good to see the buses funded.", {"id": "r1", "name": "Ada"}, wait=5
        )
        assert first.approved
    counts: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: counts.append(r.url) if "/v1/counts" in r.url else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(news_site["site"] + "/")
    budget = page.locator('[data-comment-count="2026/11/budget"]')
    budget.filter(has_text="1 comment").wait_for()
    page.locator('[data-comment-count="2026/11/library-hours"]').filter(
        has_text="0 comments"
    ).wait_for()
    assert len(counts) == 1 and counts[0].count("article=") == 3  # one batched request

    page.click("text=Council passes a budget")
    assert page.locator("h1").inner_text().startswith("Council passes a budget")
    assert "By Ana Ruiz" in page.locator(".byline").inner_text()
    assert page.locator(".thread .text").all_inner_texts() == ["Good to see the buses funded."]

    # A civil comment is published at once.
    form = page.locator("#comment-form")
    form.locator("input[name=name]").fill("Sam Reader")
    form.locator("textarea[name=text]").fill("Clear explainer, thank you.")
    form.locator("button").click()
    page.locator(".notice.published").wait_for()
    assert "Clear explainer, thank you." in page.locator(".comments").inner_text()
    assert page.locator(".comments h2").inner_text() == "2 comments"

    # A rude one is held: the reader is told it awaits moderation, and it is not shown.
    form = page.locator("#comment-form")
    form.locator("input[name=name]").fill("Angry Reader")
    form.locator("textarea[name=text]").fill("you are a fucking idiot, shut the fuck up")
    form.locator("button").click()
    page.locator(".notice.held").wait_for()
    assert "awaiting moderation" in page.locator(".notice").inner_text()
    assert "idiot" not in page.locator(".comments").inner_text()

    # A reply lands in its thread.
    page.locator(".thread details.reply summary").first.click()
    reply = page.locator(".thread details.reply form").first
    reply.locator("input[name=name]").fill("Ada")
    reply.locator("textarea[name=text]").fill("Agreed, the eastern routes are overdue.")
    reply.locator("button").click()
    page.locator(".notice.published").wait_for()
    assert page.locator(".replies .text").all_inner_texts() == [
        "Agreed, the eastern routes are overdue."
    ]

    page.goto(news_site["site"] + "/")
    budget.filter(has_text="3 comments").wait_for()
    assert errors == []
