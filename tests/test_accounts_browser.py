# ruff: noqa: F811  (the fixtures imported below are parameters of the tests)
"""Accounts in a real Chromium: an admin signs in with a password, creates a moderator with a
one-time link on the accounts page, the moderator uses the link (choosing a password), the
admin sees the session and revokes it, and the moderator's next page is the sign-in page."""

from __future__ import annotations

from typing import Any

from tests.test_moderation_browser import (  # noqa: F401 (fixtures)
    CHROMIUM,
    Site,
    browser,
    page,
    pytestmark,
    sign_in,
    site,
)

PASSWORD = "admin password 123"


def password_sign_in(pg: Any, site: Site, name: str, password: str, path: str) -> None:
    pg.goto(site.url + path)
    assert "/moderate/login" in pg.url
    pg.get_by_label("Account name").fill(name)
    pg.get_by_label("Password").fill(password)
    pg.get_by_role("button", name="Sign in", exact=True).click()
    pg.wait_for_url(f"**{path}*")


def test_admin_creates_a_moderator_who_signs_in_by_link_and_is_revoked(
    browser: Any, page: Any, site: Site
) -> None:
    r = site.http.post(
        "/v1/moderation/accounts",
        json={"name": "root", "role": "admin", "password": PASSWORD},
        headers=site.auth("admin"),
    )
    assert r.status_code == 201, r.text
    password_sign_in(page, site, "root", PASSWORD, "/moderate/accounts")
    assert page.locator(".who .me").inner_text().startswith("root")

    page.get_by_label("Name").fill("mia")
    page.get_by_role("button", name="Create account").click()
    link = page.locator("#link-result [data-link-url]")
    link.wait_for()
    url = link.input_value()
    assert "/moderate/login/link?token=" in url

    other = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        mod = other.new_page()
        mod.set_default_timeout(10_000)
        mod.goto(url)
        assert mod.locator("#link-account").inner_text() == "mia"
        mod.get_by_label("Choose a password").fill("mia's own password")
        mod.get_by_role("button", name="Sign in as mia").click()
        mod.wait_for_url("**/moderate/queue*")
        assert mod.locator(".who .me").inner_text().startswith("mia")

        # The admin sees mia's session and revokes it.
        page.reload()
        row = page.locator('tr[data-account="mia"]')
        revoke = row.locator("[data-revoke-session]")
        assert revoke.count() == 1
        revoke.click()
        page.wait_for_load_state("load")
        row.locator(".muted", has_text="none").wait_for()

        mod.goto(site.url + "/moderate/queue")
        assert "/moderate/login" in mod.url
        # Her password (chosen on the link's page) signs her in again...
        password_sign_in(mod, site, "mia", "mia's own password", "/moderate/queue")
        # ...until the admin disables the account: the next request is refused.
        page.reload()
        page.locator('tr[data-account="mia"] [data-toggle-account]').click()
        page.locator('tr[data-account="mia"] .account-state', has_text="disabled").wait_for()
        mod.goto(site.url + "/moderate/queue")
        assert "/moderate/login" in mod.url
        # Nothing on the phone-width sign-in page is wider than the viewport.
        wide = mod.evaluate(
            "() => Array.from(document.querySelectorAll('body *'))"
            ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).length"
        )
        assert wide == 0
    finally:
        other.close()

    # The audit names the account, not a shared key.
    audit = site.http.get(
        "/v1/moderation/audit",
        params={"target_type": "account", "target": "mia"},
        headers=site.auth("admin"),
    ).json()["entries"]
    by = {e["action"]: e["actor"] for e in audit}
    assert by["account.create"] == by["account.link"] == by["account.disable"] == "root"
    assert by["account.password"] == "mia"  # chosen by herself on the link's page


def test_accounts_page_at_phone_width(browser: Any, site: Site) -> None:
    for name in ("nadia", "a-much-longer-account-name@newsroom.example"):
        r = site.http.post(
            "/v1/moderation/accounts", json={"name": name, "link": True}, headers=site.auth("admin")
        )
        assert r.status_code == 201, r.text
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        pg = context.new_page()
        pg.set_default_timeout(10_000)
        sign_in(pg, site, role="admin", path="/moderate/accounts")
        wide = pg.evaluate(
            "() => Array.from(document.querySelectorAll('body *'))"
            ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
            ".map(e => e.tagName + '.' + e.className)"
        )
        assert wide == []
        # Each account is a card: its name on a line of its own, never broken mid-word.
        name = pg.locator('tr[data-account="nadia"] td.account-name')
        assert name.bounding_box()["height"] < 30
        # Labels sit right above their fields.
        for label, field in (("Name", "#acc-name"), ("Role", "#acc-role")):
            lab = pg.locator(f'label[for="{field[1:]}"]').bounding_box()
            box = pg.locator(field).bounding_box()
            assert 0 <= box["y"] - (lab["y"] + lab["height"]) < 12, label
    finally:
        context.close()


def test_an_open_dashboard_stops_when_its_session_is_revoked(browser: Any, settings: Any) -> None:
    from tests.live_server import LiveServer

    server = LiveServer(settings.with_overrides(dashboard_interval_s=0.3), with_worker=False)
    server.start()
    try:
        s = Site(server)
        r = s.http.post(
            "/v1/moderation/accounts",
            json={"name": "pia", "password": PASSWORD},
            headers=s.auth("admin"),
        )
        assert r.status_code == 201
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        try:
            pg = context.new_page()
            pg.set_default_timeout(10_000)
            password_sign_in(pg, s, "pia", PASSWORD, "/moderate/dashboard")
            live = pg.locator("#dash-live")
            pg.locator("#dash-live[data-state='on']").wait_for()
            sessions = s.http.get("/v1/moderation/accounts", headers=s.auth("admin")).json()
            pia = next(a for a in sessions["accounts"] if a["name"] == "pia")
            session_id = pia["sessions"][0]["id"]
            gone = s.http.delete(
                f"/v1/moderation/accounts/pia/sessions/{session_id}", headers=s.auth("admin")
            )
            assert gone.status_code == 204
            pg.locator("#dash-live", has_text="Signed out").wait_for()
            assert live.get_attribute("data-state") == "off"
        finally:
            context.close()
        s.http.close()
    finally:
        server.stop()
