"""Moderators' accounts over HTTP: created by an admin, signing in by password or one-time link,
sessions that name the account in the audit, listed and revoked by admins, disabled accounts
signed out on their next request, failed sign-ins rate limited, key sign-in switchable."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest
from redis.asyncio import Redis

from moderation.errors import Conflict
from moderation.keys import Keys
from moderation.messages import Role
from moderation.settings import Settings
from moderation.store import accounts
from tests.conftest import Api, running_api
from tests.moderation_support import held

A = "/v1/moderation/accounts"
PASSWORD = "correct horse battery"
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def _client(api: Api) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=api.client._transport, base_url="http://testserver")


async def _password_sign_in(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    return await client.post(
        "/moderate/login", data={"name": name, "password": password, "next": "/moderate/queue"}
    )


async def _csrf(client: httpx.AsyncClient) -> str:
    page = await client.get("/moderate/queue")
    assert page.status_code == 200, page.text
    match = _CSRF.search(page.text)
    assert match
    return match.group(1)


async def test_password_sign_in_and_the_audit_names_the_account(api: Api, rds: Redis) -> None:
    r = await api.client.post(
        A, json={"name": "alice", "role": "moderator", "password": PASSWORD},
        headers=api.auth("admin"),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["has_password"] is True and "password" not in r.json()
    # The stored form is a salted scrypt hash, never the password.
    stored = await rds.hget(Keys().account("alice"), "password")
    assert stored is not None and stored.startswith(b"scrypt$15$8$1$")
    assert PASSWORD.encode() not in stored

    cid = await held(api, rds)
    async with _client(api) as browser:
        wrong = await _password_sign_in(browser, "alice", "not the password")
        assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
        assert "mod_session" not in browser.cookies
        ok = await _password_sign_in(browser, "alice", PASSWORD)
        assert ok.status_code == 303 and ok.headers["location"] == "/moderate/queue"
        csrf = await _csrf(browser)
        d = await browser.post(
            f"/v1/moderation/comments/{cid}/decision",
            json={"action": "approve", "expected_status": "held"},
            headers={"X-CSRF-Token": csrf},
        )
        assert d.status_code == 200, d.text
        # Admin-only pages stay closed to a moderator account.
        assert (await browser.get("/moderate/accounts")).status_code == 403
    trail = await api.client.get(
        "/v1/moderation/audit",
        params={"target_type": "comment", "target": cid},
        headers=api.auth("admin"),
    )
    entry = trail.json()["entries"][0]
    assert entry["actor"] == "alice" and entry["role"] == "moderator"
    assert entry["via"] == "session"


async def test_an_account_name_is_unique_and_checked(api: Api) -> None:
    admin = api.auth("admin")
    made = await api.client.post(A, json={"name": "bob", "link": True}, headers=admin)
    assert made.status_code == 201
    again = await api.client.post(A, json={"name": "bob"}, headers=admin)
    assert again.status_code == 409 and "already exists" in again.text
    bad = await api.client.post(A, json={"name": "no spaces please"}, headers=admin)
    assert bad.status_code == 422 or bad.status_code == 400
    assert bad.json()["error"]["field"] == "name"
    short = await api.client.post(A, json={"name": "carol", "password": "short"}, headers=admin)
    assert short.status_code in (400, 422) and short.json()["error"]["field"] == "password"
    # A key and an account never share a name (the audit names both by name).
    from moderation.store.apikeys import create_key

    taken = await api.client.post(A, json={"name": "key-holder"}, headers=admin)
    assert taken.status_code == 201
    rds = api.client._transport.app.state.redis  # type: ignore[attr-defined]
    with pytest.raises(Conflict):
        await create_key(rds, Keys(), "key-holder", Role.MODERATOR)
    site = await api.client.post(A, json={"name": "dave", "role": "site"}, headers=admin)
    assert site.status_code in (400, 422)
    moderator = await api.client.post(A, json={"name": "eve"}, headers=api.auth("moderator"))
    assert moderator.status_code == 403


async def test_a_one_time_link_signs_in_once_and_can_set_a_password(api: Api) -> None:
    made = await api.client.post(
        A, json={"name": "frank", "role": "admin", "link": True}, headers=api.auth("admin")
    )
    url = made.json()["link"]["url"]
    path = urlsplit(url).path + "?" + urlsplit(url).query
    async with _client(api) as browser:
        shown = await browser.get(path)
        assert shown.status_code == 200 and "frank" in shown.text
        assert "mod_session" not in browser.cookies  # showing the page does not spend it
        token = path.split("token=")[1]
        used = await browser.post(
            "/moderate/login/link", data={"token": token, "password": PASSWORD}
        )
        assert used.status_code == 303, used.text
        assert (await browser.get("/moderate/accounts")).status_code == 200
    async with _client(api) as other:
        again = await other.post("/moderate/login/link", data={"token": token})
        assert again.status_code == 404 and "not valid" in again.text
        assert (await other.get(path)).status_code == 404
        # The password chosen on the link's page works from now on.
        assert (await _password_sign_in(other, "frank", PASSWORD)).status_code == 303


async def test_admins_list_and_revoke_sessions_and_disable_accounts(api: Api) -> None:
    admin = api.auth("admin")
    await api.client.post(A, json={"name": "gina", "password": PASSWORD}, headers=admin)
    async with _client(api) as one, _client(api) as two:
        assert (await _password_sign_in(one, "gina", PASSWORD)).status_code == 303
        assert (await _password_sign_in(two, "gina", PASSWORD)).status_code == 303
        listed = await api.client.get(A, headers=admin)
        gina = next(a for a in listed.json()["accounts"] if a["name"] == "gina")
        assert len(gina["sessions"]) == 2
        first = gina["sessions"][1]["id"]  # the older one: `one`'s
        r = await api.client.delete(f"{A}/gina/sessions/{first}", headers=admin)
        assert r.status_code == 204
        assert (await one.get("/moderate/queue")).status_code == 303  # back to sign-in
        assert (await two.get("/moderate/queue")).status_code == 200
        missing = await api.client.delete(f"{A}/gina/sessions/{first}", headers=admin)
        assert missing.status_code == 404

        off = await api.client.patch(f"{A}/gina", json={"disabled": True}, headers=admin)
        assert off.status_code == 200 and off.json()["disabled"] is True
        assert (await two.get("/moderate/queue")).status_code == 303
        refused = await _password_sign_in(two, "gina", PASSWORD)
        assert refused.status_code == 401
        link = await api.client.post(f"{A}/gina/link", headers=admin)
        assert link.status_code == 409

        on = await api.client.patch(f"{A}/gina", json={"disabled": False}, headers=admin)
        assert on.status_code == 200
        assert on.json()["disabled"] is False
        assert (await _password_sign_in(two, "gina", PASSWORD)).status_code == 303
    names = []
    for target_type in ("account", "session"):
        trail = await api.client.get(
            "/v1/moderation/audit",
            params={"target_type": target_type, "target": "gina"},
            headers=admin,
        )
        names += [e["action"] for e in trail.json()["entries"]]
    for action in ("account.create", "session.revoke", "account.disable", "account.enable"):
        assert action in names


async def test_a_disabled_account_is_refused_on_its_next_request_even_with_a_stale_index(
    api: Api, rds: Redis
) -> None:
    """The session checks the account on every use: the flag alone signs it out."""
    await api.client.post(A, json={"name": "hana", "password": PASSWORD}, headers=api.auth("admin"))
    async with _client(api) as browser:
        await _password_sign_in(browser, "hana", PASSWORD)
        assert (await browser.get("/moderate/queue")).status_code == 200
        await rds.hset(Keys().account("hana"), "disabled", 1)  # no session deleted
        assert (await browser.get("/moderate/queue")).status_code == 303
        assert (await browser.get("/v1/moderation/queue")).status_code == 401


async def test_failed_password_sign_ins_are_rate_limited(settings: Settings) -> None:
    strict = settings.with_overrides(auth_failures_max=3, auth_failures_window_s=60)
    async with running_api(strict) as api:
        await api.client.post(
            A, json={"name": "ivan", "password": PASSWORD}, headers=api.auth("admin")
        )
        async with _client(api) as browser:
            for _ in range(3):
                assert (await _password_sign_in(browser, "ivan", "wrong guess!")).status_code == 401
            limited = await _password_sign_in(browser, "ivan", PASSWORD)
            assert limited.status_code == 429
            assert 1 <= int(limited.headers["retry-after"]) <= 60
            assert "mod_session" not in browser.cookies


async def test_key_sign_in_can_be_switched_off_for_the_ui_only(settings: Settings) -> None:
    async with running_api(settings.with_overrides(ui_key_sign_in=False)) as api:
        page = await api.client.get("/moderate/login")
        assert 'name="password"' in page.text and 'name="key"' not in page.text
        r = await api.client.post("/moderate/login", data={"key": api.moderator_key})
        assert r.status_code == 400 and "mod_session" not in api.client.cookies
        # The API still takes the key.
        q = await api.client.get("/v1/moderation/queue", headers=api.auth("moderator"))
        assert q.status_code == 200


async def test_authenticate_refuses_wrong_passwords_unknown_and_malformed_names(rds: Redis) -> None:
    keys = Keys()
    await accounts.create_account(
        rds, keys, "judy", Role.MODERATOR, created_by="t", password=PASSWORD
    )
    assert await accounts.authenticate(rds, keys, "judy", PASSWORD) is not None
    assert await accounts.authenticate(rds, keys, "judy", "wrong password") is None
    assert await accounts.authenticate(rds, keys, "nobody", PASSWORD) is None
    assert await accounts.authenticate(rds, keys, "bad name!", PASSWORD) is None
    assert not accounts.verify_password("garbage", PASSWORD)
    assert accounts.verify_password(accounts.hash_password(PASSWORD), PASSWORD)


async def test_an_admin_cannot_disable_the_account_they_are_signed_in_with(api: Api) -> None:
    await api.client.post(
        A, json={"name": "kai", "role": "admin", "password": PASSWORD}, headers=api.auth("admin")
    )
    async with _client(api) as browser:
        await _password_sign_in(browser, "kai", PASSWORD)
        csrf = await _csrf(browser)
        r = await browser.patch(f"{A}/kai", json={"disabled": True}, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 409 and "signed in with" in r.text
        no_csrf = await browser.post(f"{A}/kai/link")
        assert no_csrf.status_code == 403  # a session's writes need its CSRF token
        assert (await browser.get("/moderate/accounts")).status_code == 200


async def test_guesses_from_many_addresses_stop_at_the_account(settings: Settings) -> None:
    strict = settings.with_overrides(auth_failures_max=3, auth_failures_window_s=60)
    async with running_api(strict) as api:
        await api.client.post(
            A, json={"name": "lena", "password": PASSWORD}, headers=api.auth("admin")
        )
        app = api.client._transport.app  # type: ignore[attr-defined]
        for i in range(3):  # three addresses, one wrong guess each
            transport = httpx.ASGITransport(app=app, client=(f"198.51.100.{i}", 4000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as guesser:
                assert (
                    await _password_sign_in(guesser, "lena", "a wrong guess")
                ).status_code == 401
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as fresh:
            # A new address, the right password: the account waits out the window.
            limited = await _password_sign_in(fresh, "lena", PASSWORD)
            assert limited.status_code == 429 and "retry-after" in limited.headers
            # Other accounts are not held back from that address.
            await api.client.post(
                A, json={"name": "omar", "password": PASSWORD}, headers=api.auth("admin")
            )
            assert (await _password_sign_in(fresh, "omar", PASSWORD)).status_code == 303
