# ruff: noqa: F811  (the fixtures imported below are parameters of the tests)
"""The moderators' tools in a real Chromium against a real uvicorn and a real worker: an
article's published list (search, one-click removal), the search page over the record,
near-duplicate groups decided from one card, escalation and the admins' Escalated view, the
spam domain lists. (Shared fixtures from tests/test_moderation_browser.py.)"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from moderation.record import open_record
from moderation.settings import Settings
from tests.live_server import LiveServer
from tests.record_support import archive_all
from tests.test_moderation_browser import (  # noqa: F401 (fixtures)
    CHROMIUM,
    Site,
    browser,
    item,
    page,
    sign_in,
    site,
    sync_api,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent"),
]

SHOTS = os.environ.get("MODERATION_SCREENSHOTS")


def shot(pg: Any, name: str) -> None:
    """Save a screenshot when MODERATION_SCREENSHOTS names a folder (to look at by eye)."""
    if SHOTS:
        pg.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


TEXTS = (
    ("ana", "The harbour redevelopment plan ignores the fishing cooperative entirely."),
    ("ben", "Bus timetables changed again without any notice to riders."),
    ("cleo", "A calm and thoughtful piece about the new library opening hours."),
)


def _approved(site: Site, article: str = "a1") -> list[str]:
    ids = [site.post(text, author=author, article=article) for author, text in TEXTS]
    for cid in ids:
        site.wait_status(cid, "approved")
    return ids


def _no_overflow(pg: Any) -> list[str]:
    """Elements past the viewport's right edge (a phone must not scroll sideways); wide
    tables scroll inside their own ``.table-wrap`` and are left out."""
    return list(
        pg.evaluate(
            """() => Array.from(document.querySelectorAll('body *'))
                 .filter((el) => !el.closest('.table-wrap'))
                 .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
                 .map((el) => el.tagName + '.' + el.className)
                 .concat(document.documentElement.scrollWidth > window.innerWidth
                         ? ['the page scrolls sideways'] : [])"""
        )
    )


def test_published_list_search_and_one_click_removal(page: Any, site: Site) -> None:
    ids = _approved(site)
    sign_in(page, site, path="/moderate/articles/a1")
    page.get_by_role("link", name="3 published").click()
    page.wait_for_url("**/moderate/published?article=a1")
    rows = page.locator("#results .result")
    sync_api.expect(rows).to_have_count(3)
    assert [rows.nth(n).get_attribute("data-id") for n in range(3)] == ids[::-1]

    page.get_by_label("Text").fill("harbour")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**q=harbour*")
    sync_api.expect(rows).to_have_count(1)
    sync_api.expect(rows.first).to_contain_text("fishing cooperative")
    page.get_by_role("link", name="Clear").click()
    sync_api.expect(rows).to_have_count(3)

    row = page.locator(f"#r-{ids[1]}")
    row.get_by_label("Reason").select_option("off-topic")
    row.get_by_role("button", name="Remove").click()
    sync_api.expect(row).to_contain_text("Removed.")
    sync_api.expect(page.locator("#published-count")).to_have_text("2")
    shot(page, "published-removed")
    sync_api.expect(page.locator("#flash")).to_contain_text("Removed the comment by Reader ben")
    assert site.comment(ids[1])["status"] == "rejected"
    counts = site.http.get("/v1/counts", params={"article": "a1"}).json()
    assert "2" in str(counts)
    audit = site.http.get(
        "/v1/moderation/audit",
        params={"target_type": "comment", "target": ids[1]},
        headers=site.auth("moderator"),
    ).json()["entries"]
    assert audit[0]["action"] == "comment.reject" and audit[0]["reason"] == "off-topic"
    page.reload()
    sync_api.expect(rows).to_have_count(2)
    page.set_viewport_size({"width": 375, "height": 800})
    assert _no_overflow(page) == []


@pytest.fixture
def record_site(settings: Settings, tmp_path: Path) -> Iterator[Site]:
    """A live site with a record (SQLite) the test archives into."""
    s = settings.with_overrides(
        database_url=f"sqlite:///{tmp_path / 'record.sqlite3'}", data_dir=tmp_path
    )

    async def migrate() -> None:
        await (await open_record(s)).close()

    _in_thread(migrate())
    server = LiveServer(s).start()
    try:
        yield Site(server)
    finally:
        server.stop()


def _archive(settings: Settings) -> None:
    async def run() -> None:
        record = await open_record(settings, migrate=False)
        try:
            await archive_all(settings, record)
        finally:
            await record.close()

    _in_thread(run())


def _in_thread(coro: Coroutine[Any, Any, None]) -> None:
    # Playwright's sync API runs an event loop in this thread: use another one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


def test_search_page_finds_published_and_rejected(browser: Any, record_site: Site) -> None:
    site = record_site
    ids = _approved(site)
    other = site.post("The harbour master answered readers' questions.", article="a2")
    site.wait_status(other, "approved")
    r = site.http.post(
        f"/v1/moderation/comments/{ids[0]}/decision",
        json={"action": "reject", "reason": "other", "expected_status": "approved"},
        headers=site.auth("moderator"),
    )
    assert r.status_code == 200, r.text
    _archive(site.server.settings)

    context = browser.new_context(viewport={"width": 375, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    try:
        sign_in(pg, site, path="/moderate/search")
        pg.get_by_label("Text").fill("harbour")
        pg.get_by_role("button", name="Search").click()
        pg.wait_for_url("**/moderate/search?*q=harbour*")
        rows = pg.locator("#results .result")
        sync_api.expect(rows).to_have_count(2)  # one published on a2, one rejected on a1
        sync_api.expect(pg.locator("#record-missing")).to_have_count(0)
        assert _no_overflow(pg) == []
        shot(pg, "search-phone")

        pg.get_by_label("Status").select_option("rejected")
        pg.get_by_role("button", name="Search").click()
        pg.wait_for_url("**status=rejected*")
        sync_api.expect(rows).to_have_count(1)
        sync_api.expect(rows.first).to_contain_text("rejected")
        assert rows.first.get_attribute("data-id") == ids[0]

        pg.get_by_label("Status").select_option("approved")
        pg.get_by_label("Article id").fill("a2")
        pg.get_by_role("button", name="Search").click()
        pg.wait_for_url("**article=a2*")
        sync_api.expect(rows).to_have_count(1)
        assert rows.first.get_attribute("data-id") == other

        pg.get_by_label("From").fill("2001-01-01")
        pg.get_by_label("Before").fill("2002-01-01")
        pg.get_by_role("button", name="Search").click()
        pg.wait_for_url("**from=2001-01-01*")
        sync_api.expect(pg.locator("p.empty")).to_have_text("No comment matches.")
    finally:
        context.close()


SPAM = "Make $500 a day from home with this one trick, visit quick-cash.example today!!"


def test_near_duplicates_are_one_card_and_one_decision(page: Any, site: Site) -> None:
    site.hold_everything()
    copies = [
        site.post(SPAM + suffix, article=article, author=author)
        for suffix, article, author in (
            ("", "a1", "bot1"),
            (" ", "a2", "bot2"),
            (" Now!", "a3", "bot3"),
            ("", "a3", "bot4"),
        )
    ]
    lone = site.post("A measured reply about the council's new cycling lanes.", author="dora")
    for cid in (*copies, lone):
        site.wait_status(cid, "held")
    sign_in(page, site)
    cards = page.locator("#queue-list .item")
    sync_api.expect(cards).to_have_count(2)  # the group once, and the lone comment
    group = page.locator(".item[data-group]")
    sync_api.expect(group.locator(".group-chip")).to_have_text("4 copies on 3 articles")
    shot(page, "queue-group")
    group.get_by_label("Reason").select_option("spam")
    group.get_by_role("button", name="Reject").click()
    sync_api.expect(page.locator("#flash")).to_contain_text("Rejected 4 copies")
    sync_api.expect(cards).to_have_count(1)
    for cid in copies:
        assert site.comment(cid)["status"] == "rejected"
    assert site.comment(lone)["status"] == "held"

    # Undo puts every copy back; selecting the group's card selects every copy.
    page.get_by_role("button", name="Undo").click()
    for cid in copies:
        site.wait_status(cid, "held")
    page.reload()
    sync_api.expect(cards).to_have_count(2)
    group.get_by_role("checkbox").check()
    page.get_by_role("button", name="Approve selected").click()
    sync_api.expect(page.locator("#bulk-confirm-text")).to_have_text(
        "Approve and publish 4 comments?"
    )
    page.get_by_role("button", name="Confirm").click()
    sync_api.expect(page.locator("#flash")).to_contain_text("Approved 4 comments")
    for cid in copies:
        assert site.comment(cid)["status"] == "approved"


def test_escalate_to_the_admins_escalated_view(browser: Any, site: Site) -> None:
    (cid,) = site.held(1, text="I know where the editor lives and will visit tonight")
    contexts = [browser.new_context(viewport={"width": 1366, "height": 768}) for _ in range(2)]
    mod, admin = (c.new_page() for c in contexts)
    try:
        for pg in (mod, admin):
            pg.set_default_timeout(10_000)
        sign_in(mod, site)
        card = item(mod, cid)
        sync_api.expect(card.locator(".escalated-chip")).to_be_hidden()
        card.get_by_role("button", name="Escalate").click()
        sync_api.expect(mod.locator("#alert")).to_contain_text("Write a note for the admins")
        card.get_by_label("Note for the comment").fill("Reads like a threat: legal?")
        card.get_by_role("button", name="Escalate").click()
        sync_api.expect(mod.locator("#flash")).to_contain_text("Sent the comment by Reader u1")
        sync_api.expect(card.locator(".escalated-chip")).to_be_visible()
        assert site.comment(cid)["status"] == "held"
        mod.reload()  # the mark stays on the card
        sync_api.expect(item(mod, cid).locator(".escalated-chip")).to_be_visible()

        sign_in(admin, site, "admin", "/moderate/escalated")
        row = admin.locator(f"#r-{cid}")
        sync_api.expect(row.locator(".escalation-note")).to_have_text("Reads like a threat: legal?")
        sync_api.expect(row).to_contain_text("moderator:moderator-ui")
        shot(admin, "escalated")
        admin.set_viewport_size({"width": 375, "height": 800})
        assert _no_overflow(admin) == []
        row.get_by_label("Reason").select_option("harassment")
        row.get_by_role("button", name="Reject").click()
        sync_api.expect(row).to_have_count(0)
        assert site.comment(cid)["status"] == "rejected"
        admin.goto(site.url + f"/moderate/comments/{cid}")
        history = admin.locator("table.audit tbody")
        sync_api.expect(history).to_contain_text("escalate to admins")
        sync_api.expect(history).to_contain_text("Reads like a threat: legal?")
        admin.goto(site.url + "/moderate/escalated")
        sync_api.expect(admin.locator("#escalated-empty")).to_be_visible()

        # From a comment's own page too.
        (other,) = site.held(1, text="The mayor's phone number is on my website, call him")
        mod.goto(site.url + f"/moderate/comments/{other}")
        mod.get_by_label("Note").fill("Personal data? Not sure it is public")
        mod.get_by_role("button", name="Escalate").click()
        sync_api.expect(mod.locator("#flash")).to_contain_text("Sent to the admins")
        admin.reload()
        sync_api.expect(admin.locator(f"#r-{other} .escalation-note")).to_have_text(
            "Personal data? Not sure it is public"
        )
    finally:
        for c in contexts:
            c.close()


def test_spam_domains_are_edited_from_the_ui(page: Any, site: Site) -> None:
    sign_in(page, site, "admin", "/moderate/spam-domains")
    page.get_by_label("Add (one per line)").nth(1).fill("https://Spam-Shop.example/deals")
    page.get_by_role("button", name="Add to the deny list").click()
    sync_api.expect(page.locator("#flash")).to_contain_text("Added 1 domain to the deny list")
    sync_api.expect(page.get_by_role("list", name="deny domains")).to_contain_text(
        "spam-shop.example"
    )
    sync_api.expect(page.locator("table.audit tbody tr").first).to_contain_text(
        "added spam-shop.example"
    )
    assert site.http.get("/v1/moderation/spam-domains", headers=site.auth("admin")).json()[
        "deny"
    ] == ["spam-shop.example"]

    shot(page, "spam-domains")
    page.set_viewport_size({"width": 375, "height": 800})
    assert _no_overflow(page) == []
    page.get_by_label("Add (one per line)").first.fill("not a domain")
    page.get_by_role("button", name="Add to the allow list").click()
    sync_api.expect(page.locator("#alert")).to_contain_text("is not a domain name")

    page.get_by_role("button", name="Remove spam-shop.example from the deny list").click()
    sync_api.expect(page.locator("#flash")).to_contain_text("Removed spam-shop.example")
    sync_api.expect(page.get_by_role("list", name="deny domains")).to_have_count(0)
