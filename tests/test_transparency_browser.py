# ruff: noqa: F811  (the fixtures imported below are parameters of the tests)
"""The transparency report's admin page in a real Chromium against a real uvicorn: the figures
of a scripted history for the chosen period, and a period chosen through the form."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from moderation.messages import Source, Status
from moderation.record import Archive, open_record
from moderation.settings import Settings
from moderation.store.reports import ReportReason
from tests.live_server import LiveServer
from tests.test_moderation_browser import (  # noqa: F401 (fixtures)
    CHROMIUM,
    Site,
    browser,
    page,
    sign_in,
    sync_api,
)
from tests.test_transparency import T0, H, _appeal, _event, _report_row

SHOTS = os.environ.get("MODERATION_SCREENSHOTS")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent"),
]


async def _history(settings: Settings) -> None:
    record = await open_record(settings)
    try:
        await Archive(record).write(
            [
                _event(1, T0 + H, Status.REJECTED, "auto", "toxicity",
                       source=Source.OWN_INITIATIVE, ground=None),
                _event(2, T0 + 2 * H, Status.REJECTED, "moderator:ann", "moderator:spam",
                       source=Source.OWN_INITIATIVE, ground=None),
                _event(3, T0 + 3 * H, Status.HELD, "reports", "reported",
                       source=Source.NOTICE, ground=None),
            ],
            [],
            [
                *_report_row("r1", ReportReason.OFFENSIVE, T0 + H, outcome="removed",
                             decided=T0 + 3 * H),
                *_report_row("r2", ReportReason.SPAM, T0 + 2 * H),
            ],
            [*_appeal(1, T0 + 2 * H, "reversed", T0 + 4 * H), *_appeal(2, T0 + 5 * H)],
        )  # fmt: skip
    finally:
        await record.close()


@pytest.fixture
def site(settings: Settings, tmp_path: Path) -> Iterator[Site]:
    s = settings.with_overrides(database_url=f"sqlite:///{tmp_path / 'record.sqlite3'}")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _history(s)).result()
    server = LiveServer(s, with_worker=False).start()
    try:
        yield Site(server)
    finally:
        server.stop()


def test_the_admin_page_shows_the_figures_of_the_chosen_period(page: Any, site: Site) -> None:
    sign_in(page, site, "admin", "/moderate/transparency?from=2026-01-01&to=2026-01-02")
    assert page.title().startswith("Transparency report")
    expect = sync_api.expect
    expect(page.locator("#notices-received")).to_have_text("2")
    expect(page.locator("#notices-decided")).to_have_text("1")
    expect(page.locator("#notices-open")).to_have_text("1")
    expect(page.locator("#notices-median")).to_contain_text("2.0 h")
    expect(page.locator("#notices-by-reason td[data-key='offensive']")).to_have_text("1")
    expect(page.locator("#actions-total")).to_have_text("3")
    expect(page.locator("#actions-by-ground td[data-key='rules:civility']")).to_have_text("2")
    expect(page.locator("#actions-by-ground td[data-key='rules:spam']")).to_have_text("1")
    expect(page.locator("#actions-by-restriction td[data-key='removed']")).to_have_text("2")
    expect(page.locator("#own-automatic")).to_have_text("1")
    expect(page.locator("#own-human")).to_have_text("1")
    expect(page.locator("#appeals-received")).to_have_text("2")
    expect(page.locator("#appeals-open")).to_have_text("1")
    expect(page.locator("#appeals-decided")).to_have_text("1")
    expect(page.locator("#appeals-by-outcome td[data-key='reversed']")).to_have_text("1")
    expect(page.locator("#appeals-median")).to_contain_text("2.0 h")
    expect(page.locator("#gaps")).to_contain_text("basis of the appeals")
    expect(page.get_by_role("link", name="Transparency")).to_have_attribute("aria-current", "page")
    if SHOTS:  # to look at by eye
        page.screenshot(path=os.path.join(SHOTS, "transparency.png"), full_page=True)
    # Another period through the form: the day before holds nothing.
    page.get_by_label("From").fill("2025-12-01")
    page.get_by_label("To (excluded)").fill("2026-01-01")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/moderate/transparency?from=2025-12-01&to=2026-01-01")
    expect(page.locator("#notices-received")).to_have_text("0")
    expect(page.locator("#actions-total")).to_have_text("0")
    # A period out of order is refused in words.
    page.goto(site.url + "/moderate/transparency?from=2026-02-01&to=2026-01-01")
    expect(page.locator("main")).to_contain_text("to must be after from")
