"""Articles as first-class: the site upserts title and link (with a comment or by PUT), anyone
reads whether an article is open and its count, articles close after N days, and moderators see
titles and links instead of bare ids."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from redis.asyncio import Redis

from moderation.settings import Settings
from tests.conftest import Api, comment, running_api
from tests.moderation_support import hold, sign_in
from workers.scoring import ScoringWorker

SLASHED = "2026/11/budget"


@pytest.mark.parametrize("form", [SLASHED, quote(SLASHED, safe="")])
async def test_put_then_get_an_article(api: Api, form: str) -> None:
    body = {"title": "The budget, explained", "url": "https://news.example/2026/11/budget"}
    put = await api.client.put(f"/v1/articles/{form}", json=body, headers=api.auth())
    assert put.status_code == 200, put.text
    got = await api.client.get(f"/v1/articles/{form}", headers={"Origin": "https://x.example"})
    assert got.status_code == 200
    assert got.headers["access-control-allow-origin"] == "*"
    view = got.json()
    assert view["id"] == SLASHED and view["title"] == body["title"] and view["url"] == body["url"]
    assert view["open"] is True and view["closed_reason"] is None and view["count"] == 0


async def test_put_needs_a_site_key_and_valid_fields(api: Api) -> None:
    assert (await api.client.put("/v1/articles/a", json={"title": "t"})).status_code == 401
    moderator = await api.client.put("/v1/articles/a", json={}, headers=api.auth("moderator"))
    assert moderator.status_code == 403
    bad = await api.client.put(
        "/v1/articles/a", json={"url": "javascript:alert(1)"}, headers=api.auth()
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "url"
    unknown = await api.client.put("/v1/articles/a", json={"colour": "red"}, headers=api.auth())
    assert unknown.status_code == 422


async def test_article_with_a_comment(api: Api, worker: ScoringWorker) -> None:
    article = {"title": "Rates rise again", "url": "https://news.example/rates"}
    r = await api.post_comment({**comment(article="rates"), "article": article}, wait=5)
    assert r.status_code == 201
    view = (await api.client.get("/v1/articles/rates")).json()
    assert view["title"] == "Rates rise again" and view["count"] == 1
    clash = await api.post_comment({**comment(article="rates"), "article": {"id": "other"}})
    assert clash.status_code == 422 and clash.json()["error"]["field"] == "article.id"
    bad = await api.post_comment({**comment(article="rates"), "article": {"url": "ftp://x/y"}})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "article.url"


async def test_articles_close_after_n_days(settings: Settings) -> None:
    async with running_api(settings.with_overrides(close_after_days=2)) as api:
        old = {"published_at": time.time() - 3 * 86_400}
        await api.client.put("/v1/articles/old", json=old, headers=api.auth())
        await api.client.put(
            "/v1/articles/new", json={"published_at": time.time()}, headers=api.auth()
        )
        view = (await api.client.get("/v1/articles/old")).json()
        assert view["open"] is False and view["closed_reason"] == "expired"
        refused = await api.post_comment(comment(article="old"))
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "article_closed"
        fresh = (await api.client.get("/v1/articles/new")).json()
        assert fresh["open"] is True and fresh["closes_at"] is not None
        assert (await api.post_comment(comment(article="new"))).status_code == 202
        # Per article, a moderator's setting wins: 0 = never close.
        await api.client.patch(
            "/v1/moderation/articles/old/settings",
            json={"close_after_days": 0},
            headers=api.auth("moderator"),
        )
        assert (await api.client.get("/v1/articles/old")).json()["open"] is True
        assert (await api.post_comment(comment(article="old"))).status_code == 202
        # An article first seen with a comment starts counting then (still open).
        assert (await api.client.get("/v1/articles/unknown-yet")).json()["closes_at"] is None


async def test_moderators_see_titles_and_links(api: Api, rds: Redis) -> None:
    article = {"title": "Budget <b>explainer</b>", "url": "https://news.example/budget"}
    r = await api.post_comment({**comment(article=SLASHED), "article": article})
    cid = r.json()["id"]
    await hold(rds, cid)
    queue = await api.client.get("/v1/moderation/queue", headers=api.auth("moderator"))
    item = queue.json()["comments"][0]
    assert item["article"] == {"id": SLASHED, **article}
    await sign_in(api.client, api.moderator_key)
    page = (await api.client.get("/moderate/queue")).text
    assert "Budget &lt;b&gt;explainer&lt;/b&gt;" in page  # escaped
    assert 'href="https://news.example/budget"' in page
    one = (await api.client.get(f"/moderate/comments/{cid}")).text
    assert "Budget &lt;b&gt;explainer&lt;/b&gt;" in one and "https://news.example/budget" in one
