# ruff: noqa: F811  (the fixtures imported below are parameters of the tests)
"""Every moderator page at phone width (375 px) in a real Chromium: nothing is wider than the
viewport, the queue's filters fold away behind one summary, and each filter's label sits
beside its control. (Fixtures from tests/test_moderation_browser.py.)"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.test_moderation_browser import (  # noqa: F401 (fixtures)
    CHROMIUM,
    Site,
    browser,
    sign_in,
    site,
    sync_api,
)
from tests.test_review_browser import shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent"),
]

WIDTH = 375

# Every element whose box reaches past the viewport's right edge (or starts left of zero),
# skipping what sits inside a scrolling box (a wide table scrolls inside its .table-wrap, which
# itself fits) and what is not rendered.
TOO_WIDE = """(width) => {
  const out = [];
  const scrolls = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (["auto", "scroll", "hidden"].includes(s.overflowX) && p !== document.body
          && p !== document.documentElement) return true;
    }
    return false;
  };
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > width + 0.5 || r.left < -0.5) {
      if (scrolls(el)) continue;
      if (el.classList.contains("sr-only") || el.classList.contains("skip")) continue;
      out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} ` +
               `${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  // A chart's text (legend, tick labels) is cut where it leaves its svg.
  for (const t of document.querySelectorAll("svg text")) {
    const r = t.getBoundingClientRect(), box = t.ownerSVGElement.getBoundingClientRect();
    if (r.width && (r.right > box.right + 0.5 || r.left < box.left - 0.5))
      out.push(`svg text "${t.textContent}" ${Math.round(r.right)} > ${Math.round(box.right)}`);
  }
  out.push(...(document.documentElement.scrollWidth > width
    ? [`document ${document.documentElement.scrollWidth}`] : []));
  return out;
}"""


def test_every_page_fits_a_phone(browser: Any, site: Site) -> None:
    long_text = "A long comment " * 40 + "https://example.com/" + "x" * 200
    (cid,) = site.held(1, text=long_text, article="story-with-a-rather-long-identifier-" + "z" * 40)
    context = browser.new_context(viewport={"width": WIDTH, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    try:
        sign_in(pg, site, "admin")
        pages = {
            "queue": "/moderate/queue",
            "comment": f"/moderate/comments/{cid}",
            "author": "/moderate/authors/u1",
            "articles": "/moderate/articles",
            "article": "/moderate/articles/a1",
            "audit": "/moderate/audit",
            "policy": "/moderate/policy",
            "words": "/moderate/words",
            "dashboard": "/moderate/dashboard",
        }
        found = {}
        for name, path in pages.items():
            pg.goto(site.url + path)
            pg.wait_for_load_state("load")
            pg.wait_for_timeout(300)  # the dashboard draws its charts after load
            shot(pg, f"phone-{name}")
            wide = pg.evaluate(TOO_WIDE, WIDTH)
            if wide:
                found[name] = wide[:8]
        assert found == {}
        # The dashboard (the last page visited): no "– s", and no chart repeats a time label
        # or lets two overlap.
        assert "–" not in pg.locator("#tile-oldest").inner_text()
        sync_api.expect(pg.locator("#tile-oldest")).to_contain_text("none waiting")
        ticks = pg.evaluate(
            """() => [...document.querySelectorAll('svg.chart')].map((svg) => {
                 const labels = [...svg.querySelectorAll('text.tick')]
                   .filter((t) => /:/.test(t.textContent));
                 const boxes = labels.map((t) => t.getBoundingClientRect());
                 const overlap = boxes.some((b, i) => i && b.left < boxes[i - 1].right);
                 const texts = labels.map((t) => t.textContent);
                 return [svg.id, texts.length === new Set(texts).size, overlap];
               })"""
        )
        assert ticks and all(unique and not overlap for _, unique, overlap in ticks), ticks
    finally:
        context.close()


def test_queue_filters_fold_on_a_phone_with_labels_beside_controls(
    browser: Any, site: Site
) -> None:
    site.held(2)
    context = browser.new_context(viewport={"width": WIDTH, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    try:
        sign_in(pg, site)
        form = pg.locator("details.filter-box")
        # Folded: the first screen shows the queue, not the form.
        sync_api.expect(form).not_to_have_attribute("open", "")
        sync_api.expect(pg.locator("#f-reason")).to_be_hidden()
        first = pg.locator("#queue-list .item").first
        box = first.bounding_box()
        assert box is not None and box["y"] < 800, box
        shot(pg, "phone-queue-folded")
        form.locator("summary").click()
        sync_api.expect(pg.locator("#f-reason")).to_be_visible()
        # Every filter's label on the same line as its control, and right before it.
        pairs = pg.evaluate(
            """() => [...document.querySelectorAll('.filters label')].map((l) => {
                 const c = document.getElementById(l.htmlFor).getBoundingClientRect();
                 const r = l.getBoundingClientRect();
                 return [l.htmlFor, Math.abs((r.top + r.bottom) / 2 - (c.top + c.bottom) / 2),
                         c.left - r.right];
               })"""
        )
        for control, dy, gap in pairs:
            assert dy < 8 and 0 <= gap < 24, (control, dy, gap)
        # On each card too: the "Reason" label next to its select.
        card_pairs = pg.evaluate(
            """() => [...document.querySelectorAll('.item .actions label.field-inline')]
               .map((l) => {
                 const c = document.getElementById(l.htmlFor).getBoundingClientRect();
                 const r = l.getBoundingClientRect();
                 return [Math.abs((r.top + r.bottom) / 2 - (c.top + c.bottom) / 2),
                         c.left - r.right];
               })"""
        )
        assert card_pairs
        for dy, gap in card_pairs:
            assert dy < 8 and 0 <= gap < 24, (dy, gap)
        shot(pg, "phone-queue-filters-open")
        pg.locator("#f-order").select_option("newest")
        pg.get_by_role("button", name="Apply").click()
        pg.wait_for_url("**/moderate/queue?*order=newest*")
        sync_api.expect(pg.locator("#queue-list .item")).to_have_count(2)
    finally:
        context.close()
