# ruff: noqa: F811  (the fixtures imported below are parameters of the tests)
"""What a moderator sees on their first day, in a real Chromium against a real uvicorn and a
real worker: spam reasons in words, the live "Held per article" sidebar, the degraded-scoring
notice, the audit page's filter and wording, the policy page's unused thresholds, the phone
layout. (The shared fixtures — the browser, the site, a signed-in page — are those of
tests/test_moderation_browser.py.)"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from moderation.scoring.linear import LinearScorer
from moderation.settings import Settings
from tests.conftest import comment
from tests.live_server import LiveServer
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


def post_bot(site: Site, text: str, article: str, author: str) -> str:
    """A comment as a bot sends it: the hidden honeypot field filled, one second after the
    page loaded."""
    now = time.time()
    body = comment(
        text=text,
        article=article,
        author=author,
        context={"honeypot": "http://spam.example", "page_loaded_at": now - 1},
    )
    r = site.http.post("/v1/comments", json=body, headers=site.auth("site"))
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def test_spam_reasons_in_words_on_the_card_and_a_table_on_the_comment_page(
    page: Any,
    site: Site,
) -> None:
    text = "Unbelievable deal, buy now, limited time offer for our readers"
    ids = [post_bot(site, text, f"story-{n % 3}", f"bot{n}") for n in range(4)]
    for cid in ids:
        site.wait_status(cid, "held")
    sign_in(page, site)
    # The four copies are one card (a near-duplicate group), at the oldest copy.
    card = item(page, ids[0])
    sync_api.expect(card.locator(".group-chip")).to_have_text("4 copies on 3 articles")
    why = card.locator(".spam-why")
    sync_api.expect(why).to_contain_text("honeypot field filled")
    sync_api.expect(why).to_contain_text("posted 1 s after the page loaded")
    shot(page, "queue-spam-card")

    # The newest copy's page: it was scored knowing the three before it.
    page.goto(site.url + f"/moderate/comments/{ids[-1]}")
    table = page.locator("#spam-signals")
    sync_api.expect(table).to_contain_text("same text posted 4×")
    sync_api.expect(table).to_contain_text("raises a lot")
    sync_api.expect(table).to_contain_text("starting point: most comments are not spam")
    body = page.locator("#comment").inner_text()
    for python in ("{'", "True", "False", "None", "[]", "contributions"):
        assert python not in body, python
    shot(page, "comment-spam-table")


def test_held_per_article_sidebar_follows_live_events(page: Any, site: Site) -> None:
    story = site.held(3, article="story-a", author="ua")
    other = site.held(2, article="story-b", author="ub")
    sign_in(page, site)
    side = page.locator("#per-article-list")
    sync_api.expect(side.locator("li")).to_have_count(2)
    sync_api.expect(side.locator("li", has_text="story-a").locator(".badge")).to_have_text("3")

    # A bulk reject of story-a's three: the sidebar drops the article, as the header drops 3.
    for cid in story:
        item(page, cid).get_by_role("checkbox").check()
    page.get_by_role("button", name="Reject selected").click()
    page.get_by_role("button", name="Confirm").click()
    sync_api.expect(page.locator("#queue-list .item")).to_have_count(2)
    sync_api.expect(side.locator("li")).to_have_count(1)
    sync_api.expect(side.locator("li", has_text="story-b").locator(".badge")).to_have_text("2")
    sync_api.expect(page.locator("#queue-total")).to_have_text("2 held")

    # Held elsewhere, while the page is open: a new article appears in the sidebar.
    cid = site.post("Another view on the budget", article="story-c", author="uc")
    site.wait_status(cid, "held")
    sync_api.expect(side.locator("li", has_text="story-c").locator(".badge")).to_have_text("1")
    sync_api.expect(page.locator("#queue-total")).to_have_text("3 held")
    # Decided over the API by someone else: its count goes down too.
    r = site.http.post(
        f"/v1/moderation/comments/{other[0]}/decision",
        json={"action": "approve"},
        headers=site.auth("admin"),
    )
    assert r.status_code == 200, r.text
    sync_api.expect(side.locator("li", has_text="story-b").locator(".badge")).to_have_text("1")
    sync_api.expect(page.locator("#queue-total")).to_have_text("2 held")
    shot(page, "queue-sidebar-live")
    assert not page.locator("#queue-health .notice").count()  # the linear model on purpose


def _serve(settings: Settings, **kw: Any) -> Iterator[Site]:
    server = LiveServer(settings, **kw).start()
    try:
        s = Site(server)
        yield s
        s.http.close()
    finally:
        server.stop()


@pytest.fixture
def degraded_site(settings: Settings) -> Iterator[Site]:
    yield from _serve(settings, scorer=LinearScorer(degraded=True))


@pytest.fixture
def idle_site(settings: Settings) -> Iterator[Site]:
    yield from _serve(settings, with_worker=False)


def test_queue_says_when_scoring_is_degraded(page: Any, degraded_site: Site) -> None:
    site = degraded_site
    cid = site.post("you are a fucking idiot", author="angry")
    site.wait_status(cid, "held")
    # The worker's heartbeat says which model it runs: wait until stats know it.
    deadline = time.monotonic() + 10
    while not site.http.get("/v1/stats", headers=site.auth("admin")).json()["degraded"]:
        assert time.monotonic() < deadline, "the worker never reported its model"
        time.sleep(0.1)
    sign_in(page, site)
    notice = page.locator("#queue-health .notice")
    sync_api.expect(notice).to_have_count(1)
    sync_api.expect(notice).to_contain_text("Scoring is degraded.")
    sync_api.expect(notice).to_contain_text("fallback model linear")
    shot(page, "queue-degraded")


def test_queue_says_when_no_worker_runs(page: Any, idle_site: Site) -> None:
    site = idle_site
    for n in range(2):
        site.post(f"Waiting comment {n}")
    sign_in(page, site)
    notice = page.locator("#queue-health .notice")
    sync_api.expect(notice).to_contain_text("No scoring worker is running.")
    sync_api.expect(notice).to_contain_text("2 comments wait for scoring.")
    sync_api.expect(page.locator("#queue-pending")).to_have_text("· 2 awaiting scoring")
    shot(page, "queue-no-worker")


def test_audit_filter_by_type_alone_and_entries_in_words(browser: Any, site: Site) -> None:
    (cid,) = site.held(1, text="Councillors should publish the full budget papers today")
    r = site.http.post(
        f"/v1/moderation/comments/{cid}/decision",
        json={"action": "approve"},
        headers=site.auth("moderator"),
    )
    assert r.status_code == 200, r.text
    r = site.http.patch(
        "/v1/moderation/articles/story-9/settings",
        json={"closed": True},
        headers=site.auth("admin"),
    )
    assert r.status_code == 200, r.text
    # A phone: the action column keeps its words whole.
    context = browser.new_context(viewport={"width": 375, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    try:
        sign_in(pg, site, "admin", "/moderate/audit")
        pg.get_by_label("Target type").select_option("article")
        pg.get_by_role("button", name="Apply").click()
        pg.wait_for_url("**/moderate/audit?*target_type=article*")
        sync_api.expect(pg.get_by_label("Target type")).to_have_value("article")
        rows = pg.locator("table.audit tbody tr")
        sync_api.expect(rows).to_have_count(1)
        sync_api.expect(rows.first).to_contain_text("article settings")
        sync_api.expect(rows.first).to_contain_text("closed: no → yes")
        assert "True" not in rows.first.inner_text()
        shot(pg, "audit-articles-phone")

        pg.get_by_label("Target type").select_option("comment")
        pg.get_by_role("button", name="Apply").click()
        pg.wait_for_url("**/moderate/audit?*target_type=comment*")
        sync_api.expect(rows).to_have_count(1)
        sync_api.expect(rows.first.locator(".target-excerpt")).to_have_text(
            "“Councillors should publish the full budget papers today”"
        )
        sync_api.expect(rows.first).to_contain_text("by Reader u1 on a1")
        sync_api.expect(rows.first).to_contain_text("approved (held → approved)")
        broken = pg.evaluate(
            """() => {
              const out = [];
              for (const cell of document.querySelectorAll("td.action")) {
                const node = cell.firstChild;
                let start = 0;
                for (const word of node.textContent.split(" ")) {
                  const range = document.createRange();
                  range.setStart(node, start);
                  range.setEnd(node, start + word.length);
                  if (range.getClientRects().length > 1) out.push(word);
                  start += word.length + 1;
                }
              }
              return out;
            }"""
        )
        assert broken == []
        shot(pg, "audit-comments-phone")
    finally:
        context.close()


def test_an_automatic_decision_is_the_history_of_a_comment(page: Any, site: Site) -> None:
    cid = site.post("you are a fucking idiot", author="angry")
    site.wait_status(cid, "held")
    sign_in(page, site, path=f"/moderate/comments/{cid}")
    history = page.locator("#trail + .table-wrap table.audit tbody tr")
    sync_api.expect(history).to_have_count(1)
    sync_api.expect(history.first).to_contain_text("automatic check")
    sync_api.expect(history.first).to_contain_text("held automatically")
    sync_api.expect(history.first).to_contain_text("toxicity")
    page.get_by_role("button", name="Approve").click()
    sync_api.expect(page.locator("#comment-status")).to_have_text("approved")
    page.reload()
    sync_api.expect(history).to_have_count(2)
    sync_api.expect(history.first).to_contain_text("approved (held → approved)")
    sync_api.expect(history.last).to_contain_text("held automatically")
    shot(page, "comment-history")


def test_policy_page_marks_thresholds_the_model_does_not_score(page: Any, site: Site) -> None:
    deadline = time.monotonic() + 10
    while not site.http.get("/v1/stats", headers=site.auth("admin")).json()["workers"]:
        assert time.monotonic() < deadline, "the worker never sent a heartbeat"
        time.sleep(0.1)
    sign_in(page, site, "admin", "/moderate/policy")
    notice = page.locator("#site-policy-unused")
    sync_api.expect(notice).to_contain_text("The running model (linear) does not score")
    sync_api.expect(notice).to_contain_text("insult")
    sync_api.expect(page.locator("label.unused")).to_have_count(6)
    sync_api.expect(page.locator("label[for='site-policy-t-toxicity']")).not_to_have_class("unused")
    sync_api.expect(page.locator("label[for='site-policy-t-threat']")).to_contain_text(
        "does nothing"
    )
    shot(page, "policy-unused-labels")


def test_a_banned_word_with_a_star_is_refused_in_words(page: Any, site: Site) -> None:
    sign_in(page, site, "admin", "/moderate/words")
    page.get_by_label("Add (one per line)").first.fill("f*cking")
    page.get_by_role("button", name="Add to banned list").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("write the word in full")
    shot(page, "words-star-refused")
    r = site.http.get("/v1/moderation/words", headers=site.auth("admin"))
    assert r.json()["banned"] == [], r.json()
