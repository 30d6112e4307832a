# ruff: noqa: F811  (the fixtures imported below are parameters of the tests)
"""What a moderator sees on their first day, in a real Chromium against a real uvicorn and a
real worker: spam reasons in words, the live "Held per article" sidebar, the degraded-scoring
notice, the audit page's filter and wording, the policy page's unused thresholds, the phone
layout. (The shared fixtures — the browser, the site, a signed-in page — are those of
tests/test_moderation_browser.py.)"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from tests.conftest import comment
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
    card = item(page, ids[-1])
    why = card.locator(".spam-why")
    sync_api.expect(why).to_contain_text("honeypot field filled")
    sync_api.expect(why).to_contain_text("posted 1 s after the page loaded")
    shot(page, "queue-spam-card")

    card.get_by_role("link", name="Details").click()
    page.wait_for_url(f"**/moderate/comments/{ids[-1]}")
    table = page.locator("#spam-signals")
    sync_api.expect(table).to_contain_text("same text posted 4×")
    sync_api.expect(table).to_contain_text("raises a lot")
    sync_api.expect(table).to_contain_text("starting point: most comments are not spam")
    body = page.locator("#comment").inner_text()
    for python in ("{'", "True", "False", "None", "[]", "contributions"):
        assert python not in body, python
    shot(page, "comment-spam-table")
