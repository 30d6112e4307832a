# ruff: noqa: F811  (the fixtures imported below are parameters of the tests)
"""The Reported and Appeals pages as a moderator uses them, in a real Chromium against a real
uvicorn and worker (fixtures from tests/test_moderation_browser.py)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.test_moderation_browser import (  # noqa: F401 (fixtures)
    CHROMIUM,
    Site,
    browser,
    page,
    sign_in,
    site,
    sync_api,
)
from tests.test_phone_layout import TOO_WIDE, WIDTH
from tests.test_review_browser import shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent"),
]


def _published(site: Site, n: int, **kw: Any) -> list[str]:
    ids = site.held(n, **kw)
    for cid in ids:
        r = site.http.post(
            f"/v1/moderation/comments/{cid}/decision",
            json={"action": "approve"},
            headers=site.auth("moderator"),
        )
        assert r.status_code == 200, r.text
    return ids


def _report(site: Site, cid: str, reader: str, reason: str = "offensive") -> None:
    r = site.http.post(f"/v1/comments/{cid}/reports", json={"reason": reason, "reader_id": reader})
    assert r.status_code == 201, r.text


def test_the_reported_page_keeps_and_removes(page: Any, site: Site) -> None:
    few, many = _published(site, 2, article="story-r")
    _report(site, few, "reader-1", "spam")
    for reader, reason in (("reader-2", "offensive"), ("reader-3", "harassment")):
        _report(site, many, reader, reason)
    sign_in(page, site, path="/moderate/reported")
    nav = page.get_by_role("navigation", name="Main")
    sync_api.expect(nav.get_by_role("link", name="Reported")).to_have_attribute(
        "aria-current", "page"
    )
    items = page.locator("#reported-list .item")
    sync_api.expect(items).to_have_count(2)
    # Most reported first, with the reports grouped by reason.
    sync_api.expect(items.nth(0)).to_have_attribute("data-id", many)
    sync_api.expect(items.nth(0).locator(".report-count")).to_have_text("2 reports")
    sync_api.expect(items.nth(0).locator(".reasons")).to_contain_text("harassment × 1")
    sync_api.expect(page.locator("#reported-total")).to_have_text("2 reported")
    shot(page, "reported-page")

    items.nth(0).get_by_role("button", name="Keep").click()
    sync_api.expect(page.locator(f"#r-{many}")).to_have_count(0)
    sync_api.expect(page.locator("#flash")).to_contain_text("Kept the comment; 2 reporters told.")
    assert site.comment(many)["status"] == "approved"

    item = page.locator(f"#r-{few}")
    item.get_by_label("Removal reason").select_option("spam")
    item.get_by_role("button", name="Remove").click()
    sync_api.expect(item).to_have_count(0)
    sync_api.expect(page.locator("#flash")).to_contain_text("Removed the comment; 1 reporter told.")
    sync_api.expect(page.locator("#reported-empty")).to_be_visible()
    data = site.comment(few)
    assert data["status"] == "rejected" and data["reasons"][0]["code"] == "spam"


def test_an_appeal_is_decided_by_another_moderator_in_the_page(page: Any, site: Site) -> None:
    (cid,) = site.held(1, article="story-a", text="Not an insult <b>at all</b>")
    r = site.http.post(
        f"/v1/moderation/comments/{cid}/decision",
        json={"action": "reject", "reason": "toxic"},
        headers=site.auth("moderator"),
    )
    assert r.status_code == 200, r.text
    r = site.http.post(
        f"/v1/comments/{cid}/appeals",
        json={"text": "I quoted the <i>article</i>."},
        headers=site.auth("site"),
    )
    assert r.status_code == 201, r.text
    appeal_id = r.json()["id"]

    # The moderator who rejected it sees the appeal but cannot decide it.
    sign_in(page, site, path="/moderate/appeals")
    item = page.locator(f"#a-{appeal_id}")
    sync_api.expect(item.locator(".appeal-text")).to_have_text("I quoted the <i>article</i>.")
    sync_api.expect(item.locator("dl.statement")).to_contain_text("removed")
    sync_api.expect(item.locator(".mine")).to_contain_text("another moderator must decide")
    sync_api.expect(item.get_by_role("button", name="Uphold")).to_have_count(0)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/moderate/login?signed_out=1")

    sign_in(page, site, role="admin", path="/moderate/appeals")
    item = page.locator(f"#a-{appeal_id}")
    sync_api.expect(item.locator(".decision")).to_contain_text("rejected by moderator:moderator-ui")
    shot(page, "appeals-page")
    item.get_by_role("button", name="Reverse (publish)").click()
    sync_api.expect(page.locator("#alert")).to_contain_text("Write your answer")
    assert site.comment(cid)["status"] == "rejected"
    item.get_by_label("Answer to the author").fill("You quoted the article: no insult.")
    item.get_by_role("button", name="Reverse (publish)").click()
    sync_api.expect(item).to_have_count(0)
    sync_api.expect(page.locator("#flash")).to_contain_text("Decision reversed")
    sync_api.expect(page.locator("#appeals-empty")).to_be_visible()
    assert site.comment(cid)["status"] == "approved"

    page.get_by_role("link", name="Decided").click()
    decided = page.locator(f"#a-{appeal_id}")
    sync_api.expect(decided.locator(".outcome")).to_contain_text("reversed by admin:admin-ui")
    sync_api.expect(decided.locator(".outcome")).to_contain_text("You quoted the article")
    page.goto(f"{site.url}/moderate/audit?target_type=comment&target={cid}")
    row = page.locator("table.audit tbody tr").first
    sync_api.expect(row).to_contain_text("appeal: decision reversed")
    sync_api.expect(row).to_contain_text("published again (rejected → approved)")


def test_both_pages_fit_a_phone(browser: Any, site: Site) -> None:
    long_text = "A long comment " * 30 + "https://example.com/" + "x" * 200
    reported, appealed = _published(site, 2, text=long_text, article="story-" + "z" * 60)
    r = site.http.post(
        f"/v1/comments/{reported}/reports",
        json={
            "reason": "illegal",
            "explanation": "It names a private person " * 10 + "y" * 150,
            "url": "https://news.example/" + "p" * 150,
            "name": "Erika Mustermann",
            "email": "erika@example.org",
            "good_faith": True,
        },
    )
    assert r.status_code == 201, r.text
    r = site.http.post(
        f"/v1/moderation/comments/{appealed}/decision",
        json={"action": "reject", "reason": "toxic", "expected_status": "approved"},
        headers=site.auth("moderator"),
    )
    assert r.status_code == 200, r.text
    r = site.http.post(
        f"/v1/comments/{appealed}/appeals", json={"text": "w" * 300}, headers=site.auth("site")
    )
    assert r.status_code == 201, r.text
    context = browser.new_context(viewport={"width": WIDTH, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    try:
        sign_in(pg, site, "admin", path="/moderate/reported")
        found = {}
        for name in ("reported", "appeals"):
            pg.goto(f"{site.url}/moderate/{name}")
            pg.wait_for_load_state("load")
            pg.locator("details").evaluate_all("(ds) => ds.forEach((d) => { d.open = true; })")
            shot(pg, f"phone-{name}")
            wide = pg.evaluate(TOO_WIDE, WIDTH)
            if wide:
                found[name] = wide[:8]
        assert found == {}
    finally:
        context.close()
