# ruff: noqa: F811  (the fixtures imported below are parameters of the tests)
"""The dashboard's history and new figures: gauge samples in a capped Redis stream (one sampler
for all API processes), loaded with the page so the charts start full; tiles for dead letters,
webhook failures, rate-limit refusals, API errors and the oldest held comment; reasons in
words; and in Chromium: the accepted line over decided, time labels never repeated, legends
whole at phone width, the two time-to-decision charts apart."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from redis.asyncio import Redis

from moderation.keys import Counter, Keys
from moderation.ops.metrics import HTTP_REQUESTS, Recorder
from moderation.ops.samples import Sampler, api_errors, read_samples
from moderation.settings import Settings
from moderation.ui.dashboard import duration, reason_words
from tests.conftest import Api, running_api
from tests.live_server import LiveServer
from tests.test_moderation_browser import (  # noqa: F401 (fixtures)
    CHROMIUM,
    Site,
    browser,
    page,
    sign_in,
)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("toxicity:toxicity", "Toxicity"),
        ("toxicity:severe_toxicity", "Severe toxicity"),
        ("toxicity:sexual_explicit", "Sexually explicit"),
        ("toxicity:new_label", "New label"),
        ("spam", "Spam score"),
        ("too_many_links", "Too many links"),
        ("dead_letter", "Scoring failed (dead-lettered)"),
        ("banned_author", "Banned author"),
        ("something_new", "Something new"),
    ],
)
def test_reasons_read_as_words(code: str, words: str) -> None:
    assert reason_words(code) == words


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (None, "none waiting"),
        (0.4, "0.4 s"),
        (42.2, "42 s"),
        (185, "3 min 5 s"),
        (120, "2 min"),
        (7860, "2 h 11 min"),
    ],
)
def test_ages_read_as_words(seconds: float | None, words: str) -> None:
    assert duration(seconds) == words


def test_api_errors_count_only_5xx_request_counters() -> None:
    sep = "\x1f"
    recorded = {
        sep.join((HTTP_REQUESTS.name, "/v1/comments", "POST", "503")): "4",
        sep.join((HTTP_REQUESTS.name, "/v1/comments", "POST", "500")): "1",
        sep.join((HTTP_REQUESTS.name, "/v1/comments", "POST", "202")): "90",
        sep.join((HTTP_REQUESTS.name, "/v1/comments", "POST", "429")): "7",
        sep.join(("moderation_http_request_duration_seconds", "/x", "GET", "le=0.5")): "3",
    }
    assert api_errors(recorded) == 5


async def test_one_sample_per_interval_for_all_processes_capped(
    settings: Settings, rds: Redis
) -> None:
    # Two processes, one interval (long enough that a loaded machine cannot outlast it).
    slow = settings.with_overrides(dashboard_sample_s=30.0)
    keys = Keys(slow.key_prefix)
    a, b = Sampler(rds, keys, slow), Sampler(rds, keys, slow)
    assert await a.sample_once() is True
    assert await b.sample_once() is False  # the other process sampled this interval
    await rds.delete(keys.stats_sample_lock)
    # Samples every 0.2 s, one second kept.
    fast = settings.with_overrides(dashboard_sample_s=0.2, dashboard_history_s=1)
    b = Sampler(rds, keys, fast)
    for _ in range(7):
        await asyncio.sleep(0.21)
        assert await b.sample_once() is True
    samples = await read_samples(rds, keys, 0)
    assert len(samples) == b.cap == 5  # one second of samples every 0.2 s
    assert [s["t"] for s in samples] == sorted(s["t"] for s in samples)
    assert samples[-1]["undecided"] == 0 and samples[-1]["oldest_undecided_s"] is None


async def test_the_page_carries_the_history_and_the_new_figures(settings: Settings) -> None:
    fast = settings.with_overrides(
        dashboard_sample_s=0.2, flood_author_burst=1, flood_author_interval_s=60.0
    )
    async with running_api(fast) as api:
        for i in range(3):  # the author's second and third comments are refused
            await api.client.post(
                "/v1/comments",
                json={"article_id": "a1", "text": f"hi {i}", "author": {"id": "u1", "name": "n"}},
                headers=api.auth("site"),
            )
        recorder: Recorder = api.client._transport.app.state.recorder  # type: ignore[attr-defined]
        rds: Redis = api.client._transport.app.state.redis  # type: ignore[attr-defined]
        await _samples_at_least(rds, 2)  # samples before the errors...
        recorder.inc(HTTP_REQUESTS, ("/v1/comments", "POST", "503"), 2)
        await recorder.flush()
        await rds.hincrby(Keys().counters, Counter.reason("toxicity:insult"), 3)
        await _samples_at_least(rds, 3)  # ...and after them
        doc = await _initial(api)
    assert len(doc["samples"]) >= 3
    assert doc["samples"][-1]["undecided"] == 1
    assert doc["api_errors"] == {"total": 2, "window": 2, "window_s": fast.dashboard_history_s}
    assert doc["rate_limited"]["total"] == 2
    assert {"code": "toxicity:insult", "text": "Insult", "count": 3} in doc["reasons"]


async def _samples_at_least(rds: Redis, n: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while len(await read_samples(rds, Keys(), 0)) < n:
        assert time.monotonic() < deadline, f"fewer than {n} samples"
        await asyncio.sleep(0.05)


async def _initial(api: Api) -> dict[str, Any]:
    r = await api.client.post("/moderate/login", data={"key": api.moderator_key})
    assert r.status_code == 303
    page_ = await api.client.get("/moderate/dashboard")
    assert page_.status_code == 200
    marker = 'data-initial="'
    start = page_.text.index(marker) + len(marker)
    doc: dict[str, Any] = json.loads(unescape(page_.text[start : page_.text.index('"', start)]))
    for tile in ("oldest-held", "dead-comments", "webhook-failures", "rate-limited", "api-errors"):
        assert f'id="tile-{tile}"' in page_.text
    assert "Insult" in page_.text and ">toxicity:insult<" not in page_.text
    return doc


# --- in Chromium -------------------------------------------------------------------------------

browser_only = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent")


@pytest.fixture
def sampled_site(settings: Settings) -> Iterator[Site]:
    fast = settings.with_overrides(dashboard_sample_s=0.25, dashboard_interval_s=5.0)
    server = LiveServer(fast).start()
    try:
        s = Site(server)
        yield s
        s.http.close()
    finally:
        server.stop()


def _wait_for_samples(site: Site, n: int, timeout: float = 15) -> None:
    import redis as sync_redis

    r = sync_redis.Redis.from_url(site.server.settings.resolved_redis_url())
    try:
        deadline = time.monotonic() + timeout
        while r.xlen(Keys().stats_samples) < n:
            assert time.monotonic() < deadline, f"fewer than {n} samples"
            time.sleep(0.05)
    finally:
        r.close()


def _points(page: Any, selector: str) -> int:
    d = page.locator(selector).first.get_attribute("d") or ""
    return d.count("M") + d.count("L")


@pytest.mark.browser
@browser_only
def test_charts_start_with_the_servers_history(page: Any, sampled_site: Site) -> None:
    for i in range(4):
        sampled_site.post(f"A perfectly fine comment {i}")
    _wait_for_samples(sampled_site, 4)
    sign_in(page, sampled_site, path="/moderate/dashboard")
    initial = json.loads(page.locator("#dashboard").get_attribute("data-initial"))
    assert len(initial["samples"]) >= 4
    # One push at most has come (every 5 s): the lines are the samples.
    assert _points(page, "#chart-depth path.series") >= len(initial["samples"])
    assert _points(page, "#chart-age path.series") >= len(initial["samples"])
    # Automatic time to decision has its own chart, in milliseconds; moderators' apart.
    page.locator("#chart-latency-auto path.series").first.wait_for(state="attached")
    auto_labels = page.locator("#chart-latency-auto text.axis-label").all_text_contents()
    assert "milliseconds" in auto_labels
    human_labels = page.locator("#chart-latency-human text.axis-label").all_text_contents()
    assert "minutes" in human_labels
    # The accepted line is drawn last and dashed, so it shows over "decided".
    page.locator("#chart-throughput path.series").first.wait_for(state="attached")
    paths = page.locator("#chart-throughput path.series")
    last = paths.nth(paths.count() - 1)
    assert last.get_attribute("data-series") == "accepted"
    assert last.get_attribute("stroke-dasharray")
    oldest = page.locator("#tile-oldest [data-value]").inner_text()
    assert "–" not in oldest and oldest == "none waiting"


@pytest.mark.browser
@browser_only
@pytest.mark.parametrize("width", [390, 1366])
def test_no_repeated_time_labels_and_whole_legends(
    browser: Any, sampled_site: Site, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        pg = context.new_page()
        pg.set_default_timeout(10_000)
        sampled_site.post("one comment so every chart has data")
        _wait_for_samples(sampled_site, 2)
        sign_in(pg, sampled_site, path="/moderate/dashboard")
        pg.locator("#chart-depth path.series").first.wait_for(state="attached")
        charts = pg.locator("svg.chart")
        for i in range(charts.count()):
            chart = charts.nth(i)
            name = chart.get_attribute("id")
            labels = chart.locator("text.tick-x").all_text_contents()
            assert labels, name
            assert len(labels) == len(set(labels)), (name, labels)
            # Every legend name lies inside its chart.
            cut = chart.evaluate(
                """svg => {
                  const box = svg.getBoundingClientRect();
                  return Array.from(svg.querySelectorAll('text.legend-label'))
                    .filter(t => t.getBoundingClientRect().right > box.right + 0.5
                              || t.getBoundingClientRect().left < box.left - 0.5)
                    .map(t => t.textContent);
                }"""
            )
            assert cut == [], (name, width, cut)
        wide = pg.evaluate(
            "() => Array.from(document.querySelectorAll('main *'))"
            ".filter(e => !e.closest('.table-wrap'))"
            ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
            ".map(e => e.tagName + '#' + e.id)"
        )
        assert wide == []
    finally:
        context.close()
