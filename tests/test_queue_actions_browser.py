# ruff: noqa: F811  (the fixtures imported below are parameters of the tests)
"""The queue's bulk actions as a moderator uses them, in a real Chromium: a bulk action asks
for confirmation in the page, an Undo puts the comments back (audited), and a filtered queue
says how many match. (Fixtures from tests/test_moderation_browser.py.)"""

from __future__ import annotations

import os
from typing import Any

import pytest

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
from tests.test_review_browser import shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent"),
]


def test_bulk_reject_asks_first_and_can_be_undone(page: Any, site: Site) -> None:
    ids = site.held(3, article="story-a")
    sign_in(page, site)
    items = page.locator("#queue-list .item")
    sync_api.expect(items).to_have_count(3)
    page.get_by_label("Select all shown").check()
    page.get_by_label("Reason for selected").select_option("spam")
    page.get_by_role("button", name="Reject selected").click()
    confirm = page.locator("#bulk-confirm")
    sync_api.expect(confirm).to_be_visible()
    sync_api.expect(confirm).to_contain_text("Reject 3 comments as “Spam”?")
    shot(page, "queue-bulk-confirm")
    # Cancel: nothing happens.
    page.get_by_role("button", name="Cancel").click()
    sync_api.expect(confirm).to_be_hidden()
    assert all(site.comment(c)["status"] == "held" for c in ids)

    page.get_by_role("button", name="Reject selected").click()
    page.get_by_role("button", name="Confirm").click()
    sync_api.expect(items).to_have_count(0)
    assert all(site.comment(c)["status"] == "rejected" for c in ids)
    undo = page.locator("#undo-bar")
    sync_api.expect(undo).to_contain_text("Rejected 3 comments.")
    shot(page, "queue-bulk-undo-offered")
    undo.get_by_role("button", name="Undo").click()
    sync_api.expect(items).to_have_count(3)
    sync_api.expect(page.locator("#flash")).to_contain_text("Undone: 3 comments back in the queue.")
    sync_api.expect(page.locator("#queue-total")).to_have_text("3 held")
    sync_api.expect(undo).to_be_hidden()
    assert all(site.comment(c)["status"] == "held" for c in ids)
    shot(page, "queue-bulk-undone")

    page.goto(site.url + "/moderate/audit?target_type=comment")
    rows = page.locator("table.audit tbody tr")
    sync_api.expect(rows.filter(has_text="undone: back to the queue")).to_have_count(3)
    sync_api.expect(rows.filter(has_text="rejected (held → rejected)")).to_have_count(3)


def test_a_filtered_queue_shows_the_matching_count(page: Any, site: Site) -> None:
    a = site.held(3, article="story-a")
    site.held(2, article="story-b")
    sign_in(page, site, path="/moderate/queue?article=story-a")
    sync_api.expect(page.locator("#queue-matching")).to_have_text("3 match")
    sync_api.expect(page.locator("#queue-total")).to_have_text("5 held")
    sync_api.expect(page.locator("#filter-box summary")).to_contain_text("article story-a")
    shot(page, "queue-filtered-count")
    item(page, a[0]).get_by_role("button", name="Approve").click()
    sync_api.expect(page.locator("#queue-matching")).to_have_text("2 match")
    sync_api.expect(page.locator("#queue-total")).to_have_text("4 held")
    # A comment held on another article changes the total, not the matching count.
    cid = site.post("Another one", article="story-b")
    site.wait_status(cid, "held")
    sync_api.expect(page.locator("#queue-total")).to_have_text("5 held")
    sync_api.expect(page.locator("#queue-matching")).to_have_text("2 match")


def test_a_note_on_an_author_is_there_for_the_next_moderator(page: Any, site: Site) -> None:
    site.held(1, author="troll", text="You people know nothing")
    sign_in(page, site, path="/moderate/authors/troll")
    sync_api.expect(page.locator("#author-notes-empty")).to_be_visible()
    page.get_by_label("Add a note").fill("Warned by e-mail on Monday <b>not bold</b>")
    page.get_by_role("button", name="Add note").click()
    notes = page.locator("#author-notes li")
    sync_api.expect(notes).to_have_count(1)
    sync_api.expect(notes.first.locator(".text")).to_have_text(
        "Warned by e-mail on Monday <b>not bold</b>"
    )
    sync_api.expect(notes.first).to_contain_text("moderator-ui")
    sync_api.expect(page.locator("#flash")).to_contain_text("Note added.")
    sync_api.expect(page.locator("table.audit")).to_contain_text("note on author")
    shot(page, "author-note")
