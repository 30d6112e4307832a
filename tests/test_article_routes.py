"""Every route that takes an article id accepts the ids the POST accepts (raw slashes, or one
percent-encoded segment), and public errors carry the CORS headers."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.conftest import Api, RedisServer, comment, make_settings, running_api
from workers.scoring import ScoringWorker

SLASHED = "2026/11/budget"
ENCODED = quote(SLASHED, safe="")
ORIGIN = {"Origin": "https://news.example"}


@pytest.mark.parametrize("form", [SLASHED, ENCODED])
async def test_public_list_takes_slashed_ids(api: Api, worker: ScoringWorker, form: str) -> None:
    posted = await api.post_comment(comment(article=SLASHED), wait=5)
    assert posted.status_code == 201 and posted.json()["status"] == "approved"
    r = await api.client.get(f"/v1/articles/{form}/comments", headers=ORIGIN)
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()["comments"]] == [posted.json()["id"]]
    assert r.headers["access-control-allow-origin"] == "*"


async def test_an_encoded_id_is_never_split(api: Api, worker: ScoringWorker) -> None:
    # An id that ends like a route suffix is still one id when encoded.
    tricky = "x/comments"
    posted = await api.post_comment(comment(article=tricky), wait=5)
    assert posted.json()["status"] == "approved"
    r = await api.client.get(f"/v1/articles/{quote(tricky, safe='')}/comments")
    assert [c["article_id"] for c in r.json()["comments"]] == [tricky]
    # Mixed forms (raw slashes beside an encoded one) are refused rather than guessed.
    mixed = await api.client.get("/v1/articles/2026/11%2Fbudget/comments")
    assert mixed.status_code == 404


@pytest.mark.parametrize("form", [SLASHED, ENCODED])
async def test_moderation_article_routes_take_slashed_ids(api: Api, form: str) -> None:
    h = api.auth("moderator")
    patched = await api.client.patch(
        f"/v1/moderation/articles/{form}/settings", json={"premoderate": True}, headers=h
    )
    assert patched.status_code == 200, patched.text
    got = await api.client.get(f"/v1/moderation/articles/{form}", headers=h)
    assert got.status_code == 200
    assert got.json()["article_id"] == SLASHED
    assert got.json()["settings"]["premoderate"] is True


async def test_settings_of_an_id_ending_in_settings(api: Api) -> None:
    h = api.auth("moderator")
    odd = quote("a/settings", safe="")
    r = await api.client.patch(
        f"/v1/moderation/articles/{odd}/settings", json={"closed": True}, headers=h
    )
    assert r.status_code == 200
    assert (await api.client.get(f"/v1/moderation/articles/{odd}", headers=h)).json()[
        "article_id"
    ] == "a/settings"
    closed = await api.post_comment(comment(article="a/settings"))
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "article_closed"


async def test_public_errors_carry_cors_headers(api: Api) -> None:
    for path, status in [
        ("/v1/articles/x/comments?limit=0", 422),
        ("/v1/articles/x/comments?cursor=nonsense", 400),
        ("/v1/counts", 422),
        ("/v1/counts/nothing-here", 404),
        ("/v1/articles/" + "x" * 300, 422),
    ]:
        r = await api.client.get(path, headers=ORIGIN)
        assert r.status_code == status, (path, r.text)
        assert r.headers.get("access-control-allow-origin") == "*", path
        assert r.json()["error"]["code"]
    wrong_method = await api.client.post("/v1/articles/x", headers=ORIGIN)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["access-control-allow-origin"] == "*"


async def test_store_outage_on_a_public_route_carries_cors_headers(
    own_redis: RedisServer,
) -> None:
    async with running_api(make_settings(own_redis.url)) as api:
        own_redis.stop()
        r = await api.client.get("/v1/counts", params={"article": "a"}, headers=ORIGIN)
        assert r.status_code == 503
        assert r.headers["retry-after"]
        assert r.headers["access-control-allow-origin"] == "*"
