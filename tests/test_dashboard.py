"""The operations dashboard: the page, its live feed, and what Chromium shows."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from moderation.scoring.linear import LinearScorer
from moderation.settings import Settings
from tests.conftest import Api, worker_subprocess
from tests.live_server import LiveServer
from tests.test_moderation_browser import CHROMIUM, Site, browser, page, sign_in

__all__ = ["browser", "page"]  # fixtures used below


async def _sign_in(api: Api) -> None:
    r = await api.client.post("/moderate/login", data={"key": api.moderator_key})
    assert r.status_code == 303


async def _first_event(client: httpx.AsyncClient, path: str) -> tuple[str, dict[str, Any]]:
    async with client.stream("GET", path) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        event = ""
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: ") and event:
                return event, json.loads(line[len("data: ") :])
    raise AssertionError("the stream ended without an event")


async def test_dashboard_needs_a_moderator_session(api: Api) -> None:
    r = await api.client.get("/moderate/dashboard")
    assert r.status_code == 303 and r.headers["location"].startswith("/moderate/login")
    stream = await api.client.get("/moderate/dashboard/stream")
    assert stream.status_code == 401
    await _sign_in(api)
    page_ = await api.client.get("/moderate/dashboard")
    assert page_.status_code == 200
    for chart in ("throughput", "mix", "holdrate", "depth", "age", "latency-auto", "latency-human"):
        assert f'id="chart-{chart}"' in page_.text
    assert 'href="/moderate/dashboard" aria-current="page"' in page_.text
    assert "No workers have reported" in page_.text


async def test_feed_reports_a_stuck_queue(settings: Settings) -> None:
    # A real server: the feed never ends, and only real HTTP streams it.
    server = LiveServer(settings.with_overrides(stuck_queue_s=0.3), with_worker=False).start()
    try:
        site = Site(server)
        site.post("nobody decides me")
        await asyncio.sleep(0.4)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            r = await client.post("/moderate/login", data={"key": site.keys["moderator"]})
            assert r.status_code == 303
            event, doc = await _first_event(client, "/moderate/dashboard/stream")
        site.http.close()
    finally:
        server.stop()
    assert event == "stats"
    codes = {a["code"] for a in doc["alerts"]}
    assert {"queue_stuck", "no_workers"} <= codes
    assert doc["queue"]["undecided"] == 1
    history = doc["history"]
    # The one comment is in the current minute's bucket, or the previous one's when the
    # feed was read just after a minute turned.
    assert len(history["accepted"]) == 60 and sum(history["accepted"][-2:]) == 1
    assert history["step"] == 60


# --- in Chromium -------------------------------------------------------------------------------

browser_only = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent")


def _site(server: LiveServer) -> Iterator[Site]:
    server.start()
    try:
        s = Site(server)
        yield s
        s.http.close()
    finally:
        server.stop()


@pytest.fixture
def quiet_site(settings: Settings) -> Iterator[Site]:
    """The service with no worker, and a queue called stuck after one second."""
    fast = settings.with_overrides(stuck_queue_s=1.0, dashboard_interval_s=0.5)
    yield from _site(LiveServer(fast, with_worker=False))


@pytest.fixture
def busy_site(settings: Settings) -> Iterator[Site]:
    yield from _site(LiveServer(settings.with_overrides(dashboard_interval_s=0.5)))


@pytest.mark.browser
@browser_only
def test_banner_appears_when_the_queue_is_stuck(page: Any, quiet_site: Site) -> None:
    sign_in(page, quiet_site, path="/moderate/dashboard")
    banner = page.locator("#dash-alerts")
    assert banner.get_attribute("hidden") is None  # no worker at all: already alarming
    assert "No scoring worker" in banner.inner_text()
    quiet_site.post("stuck in the queue")
    page.locator('#dash-alerts li[data-code="queue_stuck"]').wait_for(timeout=15_000)
    assert "Queue stuck" in banner.inner_text()
    assert page.locator("#dash-live").get_attribute("data-state") == "on"
    assert page.locator("#tile-undecided [data-value]").inner_text() == "1"


@pytest.mark.browser
@browser_only
def test_charts_draw_with_axes_units_and_live_data(page: Any, busy_site: Site) -> None:
    for i in range(6):
        busy_site.post("shut the fuck up you idiot" if i % 3 == 0 else f"Good point {i}")
    sign_in(page, busy_site, path="/moderate/dashboard")
    # Decisions arrive: the throughput chart has lines, the mix chart has bars.
    # (state="attached": a flat line has no height, which Playwright calls hidden)
    page.locator("#chart-throughput path.series").first.wait_for(state="attached")
    page.wait_for_function(
        "document.querySelectorAll('#chart-mix rect.bar').length >= 2", timeout=15_000
    )
    throughput = page.locator("#chart-throughput")
    labels = throughput.locator("text.axis-label").all_text_contents()
    assert labels == ["time", "comments / minute"]
    assert "accepted" in throughput.locator("text.legend-label").all_text_contents()
    assert throughput.locator("text.tick").count() >= 8
    held = page.locator("#chart-mix rect.bar[data-series='held']")
    assert held.count() >= 1
    # Live series need a few updates; then the depth and latency charts draw lines too.
    page.locator("#chart-depth path.series").first.wait_for(state="attached", timeout=15_000)
    page.locator("#chart-latency-auto path.series").first.wait_for(state="attached", timeout=15_000)
    assert "%" in "".join(page.locator("#chart-holdrate text.tick").all_text_contents())
    rows = page.locator("#workers-table tbody tr")
    assert rows.count() == 1 and "live-worker" in rows.first.inner_text()
    assert page.locator("#dash-alerts").get_attribute("hidden") is not None
    page.wait_for_function(
        "document.querySelector('#tile-held [data-value]').textContent === '2'", timeout=15_000
    )


@pytest.fixture
def degraded_site(settings: Settings) -> Iterator[Site]:
    """The service whose only live worker scores with the fallback model."""
    fast = settings.with_overrides(dashboard_interval_s=0.5)
    yield from _site(LiveServer(fast, scorer=LinearScorer(degraded=True)))


@pytest.mark.browser
@browser_only
def test_banner_names_a_degraded_scorer_and_a_dead_worker(
    page: Any, degraded_site: Site, settings: Settings
) -> None:
    import signal
    import time

    import redis as sync_redis

    from moderation.keys import Keys

    # A second worker process that dies without unregistering.
    proc = worker_subprocess(settings, worker_name="crashed")
    try:
        r = sync_redis.Redis.from_url(settings.resolved_redis_url())
        deadline = time.monotonic() + 30
        while not r.exists(Keys().worker("crashed")):
            assert time.monotonic() < deadline, "the worker never reported"
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    sign_in(page, degraded_site, path="/moderate/dashboard")
    banner = page.locator("#dash-alerts")
    page.locator('#dash-alerts li[data-code="scorer_degraded"]').wait_for(timeout=15_000)
    assert "fallback model linear" in banner.inner_text()
    page.locator('#dash-alerts li[data-code="worker_stale"]').wait_for(timeout=15_000)
    assert "crashed" in banner.inner_text()
    assert page.locator('#dash-alerts li[data-code="no_workers"]').count() == 0
