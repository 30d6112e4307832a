"""The review UI in a real Chromium (Playwright), against a real uvicorn and a real worker.

Sign in, approve, reject with a reason, bulk approve, keyboard shortcuts, live arrival (SSE),
an XSS table proving nothing injected runs, CSRF refusal, and phone / laptop layouts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from moderation.keys import Keys
from moderation.messages import Role
from moderation.settings import Settings
from moderation.store.apikeys import create_key
from tests.conftest import comment
from tests.live_server import LiveServer

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium)",
    ),
]

sync_api = pytest.importorskip("playwright.sync_api")


class Site:
    """The running service plus keys and shortcuts to drive it over HTTP."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.url = server.url
        self.http = httpx.Client(base_url=server.url, timeout=10)
        # Playwright's sync API runs an event loop in this thread: use another one.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            self.keys = pool.submit(asyncio.run, self._keys(server.settings)).result()

    @staticmethod
    async def _keys(settings: Settings) -> dict[str, str]:
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.resolved_redis_url())
        try:
            return {
                role.value: await create_key(redis, Keys(), f"{role.value}-ui", role)
                for role in (Role.SITE, Role.MODERATOR, Role.ADMIN)
            }
        finally:
            await redis.aclose()

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def hold_everything(self) -> None:
        r = self.http.patch(
            "/v1/moderation/policy", json={"premoderate": True}, headers=self.auth("admin")
        )
        assert r.status_code == 200, r.text

    def post(self, text: str, **kw: Any) -> str:
        body = comment(text=text, article=kw.get("article", "a1"), author=kw.get("author", "u1"))
        if "name" in kw:
            body["author"]["name"] = kw["name"]
        r = self.http.post("/v1/comments", json=body, headers=self.auth("site"))
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    def comment(self, cid: str) -> dict[str, Any]:
        r = self.http.get(f"/v1/moderation/comments/{cid}", headers=self.auth("moderator"))
        return r.json()  # type: ignore[no-any-return]

    def wait_status(self, cid: str, status: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            data = self.comment(cid)
            if data["status"] == status:
                return data
            if time.monotonic() > deadline:
                raise AssertionError(f"{cid} is {data['status']}, not {status}")
            time.sleep(0.05)

    def held(self, n: int, **kw: Any) -> list[str]:
        self.hold_everything()
        text = kw.pop("text", None)
        ids = [self.post(text or f"Comment number {i}", **kw) for i in range(n)]
        for cid in ids:
            self.wait_status(cid, "held")
        return ids


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    server = LiveServer(settings).start()
    try:
        s = Site(server)
        yield s
        s.http.close()
    finally:
        server.stop()


XSS_HOOK = """
window.__xss = 0;
window.alert = window.confirm = window.prompt = () => { window.__xss = 'dialog'; };
"""


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    pg.add_init_script(XSS_HOOK)
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.js_errors = errors
    yield pg
    context.close()
    assert not errors, errors


def sign_in(page: Any, site: Site, role: str = "moderator", path: str = "/moderate/queue") -> None:
    page.goto(site.url + path)
    assert "/moderate/login" in page.url
    # Keys sign in under "Sign in with an API key instead" (accounts use the form above it).
    page.locator("details.key-sign-in summary").click()
    page.get_by_label("Moderator or admin API key").fill(site.keys[role])
    page.get_by_role("button", name="Sign in with the key").click()
    page.wait_for_url(f"**{path}*")


def item(page: Any, cid: str) -> Any:
    return page.locator(f"#c-{cid}")


def test_sign_in_approve_reject_and_sign_out(page: Any, site: Site) -> None:
    a, b = site.held(2)
    sign_in(page, site)
    assert page.title().startswith("Review queue")
    sync_api.expect(page.locator("#queue-list .item")).to_have_count(2)

    item(page, a).get_by_role("button", name="Approve").click()
    sync_api.expect(item(page, a)).to_have_count(0)
    sync_api.expect(page.locator("#flash")).to_contain_text("Approved the comment by Reader u1")
    assert site.comment(a)["status"] == "approved"

    item(page, b).get_by_label("Reason").select_option("personal_information")
    item(page, b).get_by_label("Note for the comment").fill("posted a phone number")
    item(page, b).get_by_role("button", name="Reject").click()
    sync_api.expect(item(page, b)).to_have_count(0)
    data = site.comment(b)
    assert data["status"] == "rejected"
    assert data["reasons"][0]["code"] == "personal_information"
    assert data["note"] == "posted a phone number"
    sync_api.expect(page.locator("#queue-empty")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/moderate/login?signed_out=1")
    sync_api.expect(page.locator("main").get_by_role("status")).to_contain_text("signed out")
    page.goto(site.url + "/moderate/queue")
    assert "/moderate/login" in page.url


def test_bulk_approve(page: Any, site: Site) -> None:
    ids = site.held(4)
    sign_in(page, site)
    sync_api.expect(page.locator("#queue-list .item")).to_have_count(4)
    item(page, ids[3]).get_by_role("checkbox").check()
    sync_api.expect(page.locator("#selected-count")).to_have_text("1 selected")
    page.get_by_label("Select all shown").check()
    sync_api.expect(page.locator("#selected-count")).to_have_text("4 selected")
    page.get_by_role("button", name="Approve selected").click()
    page.get_by_role("button", name="Confirm").click()
    sync_api.expect(page.locator("#queue-list .item")).to_have_count(0)
    sync_api.expect(page.locator("#flash")).to_contain_text("Approved 4 comments")
    for cid in ids:
        assert site.comment(cid)["status"] == "approved"
    sync_api.expect(page.locator("#queue-empty")).to_be_visible()


def test_keyboard_shortcuts(page: Any, site: Site) -> None:
    ids = site.held(4)
    sign_in(page, site)
    sync_api.expect(page.locator("#queue-list .item")).to_have_count(4)
    sync_api.expect(item(page, ids[0])).to_have_class("item current")
    page.keyboard.press("j")
    sync_api.expect(item(page, ids[1])).to_be_focused()
    page.keyboard.press("a")  # approve the second
    sync_api.expect(item(page, ids[1])).to_have_count(0)
    sync_api.expect(item(page, ids[2])).to_be_focused()  # the next one takes its place
    page.keyboard.press("2")  # reason 2: toxic
    page.keyboard.press("r")
    sync_api.expect(item(page, ids[2])).to_have_count(0)
    sync_api.expect(item(page, ids[3])).to_be_focused()
    page.keyboard.press("k")
    sync_api.expect(item(page, ids[0])).to_be_focused()
    page.keyboard.press("x")
    sync_api.expect(page.locator("#selected-count")).to_have_text("1 selected")
    # Typing in a field is not a shortcut.
    item(page, ids[0]).get_by_label("Note for the comment").fill("ja ra")
    sync_api.expect(page.locator("#queue-list .item")).to_have_count(2)
    item(page, ids[0]).get_by_label("Note for the comment").press("Escape")
    page.keyboard.press("o")
    page.wait_for_url(f"**/moderate/comments/{ids[0]}")
    assert site.comment(ids[1])["status"] == "approved"
    rejected = site.comment(ids[2])
    assert (rejected["status"], rejected["reasons"][0]["code"]) == ("rejected", "toxic")
    assert site.comment(ids[3])["status"] == "held"


def test_new_held_comments_arrive_live(page: Any, site: Site) -> None:
    sign_in(page, site)
    sync_api.expect(page.locator("#queue-empty")).to_be_visible()
    sync_api.expect(page.locator("#live")).to_have_text("Live")
    cid = site.post("you are a fucking idiot", author="angry", article="live-story")
    site.wait_status(cid, "held")
    sync_api.expect(item(page, cid)).to_be_visible()
    sync_api.expect(item(page, cid).locator(".text")).to_have_text("you are a fucking idiot")
    sync_api.expect(page.locator("#queue-empty")).to_be_hidden()
    sync_api.expect(page.locator("#held-count")).to_have_text("1")
    # Decided elsewhere (another moderator, over the API): it leaves the page by itself.
    site.http.post(
        f"/v1/moderation/comments/{cid}/decision",
        json={"action": "approve"},
        headers=site.auth("admin"),
    )
    sync_api.expect(item(page, cid)).to_have_count(0)
    sync_api.expect(page.locator("#held-count")).to_have_text("0")


XSS = [
    "<script>window.__xss='script'</script>",
    "<img src=x onerror=\"window.__xss='img'\">",
    "<a href=\"javascript:window.__xss='link'\">click</a> javascript:window.__xss='bare'",
    "<svg><script>window.__xss='svg-script'</script></svg>",
    "<svg onload=\"window.__xss='svg'\"></svg>",
    '"><img src=x onerror=alert(1)>',
    "'><script>alert(1)</script>",
]


def test_xss_payloads_never_execute(page: Any, site: Site) -> None:
    site.hold_everything()
    sign_in(page, site, role="admin")
    sync_api.expect(page.locator("#live")).to_have_text("Live")
    # Half arrive live (rendered into the open page), half are loaded with the page.
    live_ids = [
        site.post(p, name=p, article=f"story-{p}", author=f"x{i}") for i, p in enumerate(XSS)
    ]
    for cid in live_ids:
        site.wait_status(cid, "held")
        sync_api.expect(item(page, cid)).to_be_visible()
    for cid, payload in zip(live_ids, XSS, strict=True):
        sync_api.expect(item(page, cid).locator(".text")).to_have_text(payload)
        sync_api.expect(item(page, cid).locator(".author")).to_have_text(payload)
        sync_api.expect(item(page, cid).locator("a.article")).to_have_text(f"story-{payload}")
    # Click the rendered javascript: text: it is not a link.
    item(page, live_ids[2]).locator("mark.hl-link").first.click()
    assert page.evaluate("window.__xss") == 0

    pages = [
        "/moderate/queue",
        "/moderate/queue?order=riskiest",
        *(f"/moderate/comments/{cid}" for cid in live_ids),
        "/moderate/authors/x1",
        "/moderate/articles",
        "/moderate/audit",
    ]
    for cid in live_ids[:3]:
        site.http.post(
            f"/v1/moderation/comments/{cid}/decision",
            json={"action": "reject", "reason": "other", "note": XSS[0]},
            headers=site.auth("moderator"),
        )
    from urllib.parse import quote

    pages.append(f"/moderate/articles/{quote('story-' + XSS[1], safe='')}")
    for path in pages:
        page.goto(site.url + path)
        page.wait_for_load_state("domcontentloaded")
        assert page.evaluate("window.__xss") == 0, path
        assert page.locator("img[onerror], svg[onload], script:not([src])").count() == 0, path
        assert page.locator('a[href^="javascript:"]').count() == 0, path
    page.goto(site.url + f"/moderate/comments/{live_ids[0]}")
    sync_api.expect(page.locator("blockquote.text")).to_have_text(XSS[0])
    assert page.dialogs == []


def test_a_post_without_the_csrf_token_is_refused(page: Any, site: Site) -> None:
    (cid,) = site.held(1)
    sign_in(page, site)
    attempts = page.evaluate(
        """async (id) => {
            const url = `/v1/moderation/comments/${id}/decision`;
            const body = JSON.stringify({action: "approve"});
            const plain = await fetch(url, {method: "POST", body,
                headers: {"Content-Type": "application/json"}});
            const forged = await fetch(url, {method: "POST", body,
                headers: {"Content-Type": "application/json", "X-CSRF-Token": "guess"}});
            return [plain.status, (await plain.json()).error.code, forged.status];
        }""",
        cid,
    )
    assert attempts == [403, "csrf_failed", 403]
    assert site.comment(cid)["status"] == "held"
    # The page's own requests carry the token and work.
    item(page, cid).get_by_role("button", name="Approve").click()
    sync_api.expect(item(page, cid)).to_have_count(0)
    assert site.comment(cid)["status"] == "approved"


@pytest.mark.parametrize("size", [(1366, 768), (390, 844)])
def test_layout_fits_laptop_and_phone(browser: Any, site: Site, size: tuple[int, int]) -> None:
    (cid,) = site.held(1, text="A long comment " * 60 + "https://example.com/" + "x" * 300)
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    pg = context.new_page()
    try:
        sign_in(pg, site)
        for path in ("/moderate/queue", f"/moderate/comments/{cid}", "/moderate/articles/a1"):
            pg.goto(site.url + path)
            overflow = pg.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (path, size, overflow)
        pg.goto(site.url + "/moderate/queue")
        approve = item(pg, cid).get_by_role("button", name="Approve")
        box = approve.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= size[0]
        approve.click()
        sync_api.expect(item(pg, cid)).to_have_count(0)
    finally:
        context.close()


def test_clearing_a_long_queue_with_the_keyboard_loads_the_next_pages(
    page: Any, settings: Settings
) -> None:
    server = LiveServer(settings.with_overrides(queue_page_size=3)).start()
    try:
        site = Site(server)
        ids = site.held(8)
        sign_in(page, site)
        sync_api.expect(page.locator("#queue-list .item")).to_have_count(3)
        sync_api.expect(page.locator("#load-more")).to_be_visible()
        for n in range(8):
            current = page.locator("#queue-list .item.current")
            sync_api.expect(current).to_have_count(1)
            pressed = current.get_attribute("id")
            page.keyboard.press("a")
            # The page takes the item out once the server confirmed it (a key pressed while
            # it is still in flight is ignored, so wait for that before the next press).
            sync_api.expect(page.locator(f"#{pressed}")).to_have_count(0)
            deadline = time.monotonic() + 10
            while sum(site.comment(c)["status"] == "approved" for c in ids) < n + 1:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        sync_api.expect(page.locator("#queue-empty")).to_be_visible()
        sync_api.expect(page.locator("#load-more")).to_be_hidden()
        assert all(site.comment(cid)["status"] == "approved" for cid in ids)
        site.http.close()
    finally:
        server.stop()
