"""Sites as tenants: two sites with the same article and author ids share nothing, a site's key
never reaches another site's comment, and public routes name their site."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from redis.asyncio import Redis

from moderation.client import AsyncModerationClient
from moderation.keys import DEFAULT_SITE, Keys
from moderation.messages import Role
from moderation.settings import Settings
from moderation.store.apikeys import create_key
from tests.conftest import Api, comment, running_api, running_worker, wait_for
from tests.test_webhooks import receiver, sender

A, B = "alpha-news", "beta:news"  # a site id with a ':' is encoded like any other id


@dataclass
class Two:
    api: Api
    keys: dict[str, str]  # site -> its key's secret

    def auth(self, site: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[site]}"}

    async def post(self, site: str, **body: Any) -> str:
        r = await self.api.client.post(
            "/v1/comments", json=comment(**body), headers=self.auth(site)
        )
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    async def status(self, comment_id: str) -> str:
        r = await self.api.client.get(f"/v1/comments/{comment_id}", headers=self.api.auth("admin"))
        return str(r.json()["status"])

    async def decided(self, comment_id: str) -> str:
        async def done() -> str | None:
            s = await self.status(comment_id)
            return s if s != "pending" else None

        return str(await wait_for(done))


@pytest.fixture
async def two(settings: Settings, rds: Redis) -> AsyncIterator[Two]:
    async with running_api(settings) as api, running_worker(settings):
        k = Keys(settings.key_prefix)
        secrets = {
            A: await create_key(rds, k, "alpha", Role.SITE, site=A),
            B: await create_key(rds, k, "beta", Role.SITE, site=B),
        }
        yield Two(api, secrets)


async def test_same_article_and_author_ids_share_no_counts(two: Two, rds: Redis) -> None:
    first = await two.post(A, article="story-1", author="u1")
    await two.post(A, article="story-1", author="u1", text="Another thoughtful reply here.")
    other = await two.post(B, article="story-1", author="u1")
    for cid in (first, other):
        assert await two.decided(cid) == "approved"
    await wait_for(lambda: _count(two.api.client, A, "story-1", 2))
    assert await _count(two.api.client, B, "story-1", 1)
    # The author's record is each site's own.
    assert await rds.zcard(Keys().for_site(A).author_comments("u1")) == 2
    assert await rds.zcard(Keys().for_site(B).author_comments("u1")) == 1
    page = await two.api.client.get("/v1/articles/story-1/comments", params={"site": B})
    assert [c["id"] for c in page.json()["comments"]] == [other]
    article = await two.api.client.get("/v1/articles/story-1", params={"site": A})
    assert article.json()["count"] == 2


async def _count(client: httpx.AsyncClient, site: str, article: str, want: int) -> bool:
    r = await client.get("/v1/counts", params={"article": article, "site": site})
    assert r.status_code == 200, r.text
    return bool(r.json()["counts"][article] == want)


async def test_a_ban_and_a_policy_are_one_sites(two: Two) -> None:
    mod = two.api.auth("moderator")
    banned = await two.api.client.post(
        "/v1/moderation/authors/u1/state", params={"site": A}, json={"state": "banned"},
        headers=mod,
    )  # fmt: skip
    assert banned.status_code == 200, banned.text
    strict = await two.api.client.patch(
        "/v1/moderation/policy", params={"site": B}, json={"premoderate": True},
        headers=two.api.auth("admin"),
    )  # fmt: skip
    assert strict.status_code == 200, strict.text
    from_a = await two.post(A, author="u1")
    from_a_other = await two.post(A, author="u2")
    from_b = await two.post(B, author="u1")
    assert await two.decided(from_a) == "rejected"  # banned on A
    assert await two.decided(from_a_other) == "approved"  # A's policy is the default one
    assert await two.decided(from_b) == "held"  # B pre-moderates; u1 is not banned there
    a_author = await two.api.client.get(
        "/v1/moderation/authors/u1", params={"site": A}, headers=mod
    )
    b_author = await two.api.client.get(
        "/v1/moderation/authors/u1", params={"site": B}, headers=mod
    )
    assert a_author.json()["author"]["standing"]["state"] == "banned"
    assert b_author.json()["author"]["standing"]["state"] != "banned"
    assert [c["id"] for c in a_author.json()["comments"]] == [from_a]
    policy_a = await two.api.client.get("/v1/moderation/policy", params={"site": A}, headers=mod)
    assert "premoderate" not in policy_a.json()["overrides"]


async def test_a_closed_article_is_one_sites(two: Two) -> None:
    closed = await two.api.client.patch(
        "/v1/moderation/articles/story-9/settings", params={"site": A}, json={"closed": True},
        headers=two.api.auth("moderator"),
    )  # fmt: skip
    assert closed.status_code == 200, closed.text
    refused = await two.api.client.post(
        "/v1/comments", json=comment(article="story-9"), headers=two.auth(A)
    )
    assert refused.status_code == 409
    await two.post(B, article="story-9")


async def test_another_sites_key_gets_404_on_a_comment(two: Two) -> None:
    cid = await two.post(A, text="Mine, with my e-mail.", author="u7")
    mine = await two.api.client.get(f"/v1/comments/{cid}", headers=two.auth(A))
    assert mine.status_code == 200 and mine.json()["site"] == A
    theirs = two.auth(B)
    client = two.api.client
    for r in (
        await client.get(f"/v1/comments/{cid}", headers=theirs),
        await client.get(f"/v1/comments/{cid}/statement", headers=theirs),
        await client.patch(f"/v1/comments/{cid}", json={"text": "taken over"}, headers=theirs),
        await client.delete(f"/v1/comments/{cid}", headers=theirs),
    ):
        assert r.status_code == 404, r.text
        # The same answer as for an id that does not exist: nothing to probe.
        assert r.json()["error"]["field"] == "comment_id"
        assert "e-mail" not in r.text
    # A reply to another site's comment is refused as if the parent did not exist.
    reply = await client.post("/v1/comments", json=comment(parent_id=cid), headers=theirs)
    assert reply.status_code == 422 and reply.json()["error"]["field"] == "parent_id"
    assert (await client.get(f"/v1/comments/{cid}", headers=two.auth(A))).json()["text"] == (
        "Mine, with my e-mail."
    )
    # Moderators are central: they read every site's comments.
    assert (await client.get(f"/v1/comments/{cid}", headers=two.api.auth("moderator"))).is_success


async def test_public_routes_need_the_site_once_there_are_several(two: Two) -> None:
    client = two.api.client
    for path in ("/v1/counts?article=a1", "/v1/articles/a1", "/v1/articles/a1/comments"):
        r = await client.get(path)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"]["field"] == "site"
        sep = "&" if "?" in path else "?"
        unknown = await client.get(f"{path}{sep}site=nobody")
        assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "site"
        named = await client.get(f"{path}{sep}site={quote(B)}")
        assert named.status_code == 200, (path, named.text)
    bad = await client.get("/v1/counts", params={"article": "a1", "site": "x\u200by"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "site"
    # A report names the comment's site; another site's name finds no such comment.
    cid = await two.post(A)
    assert await two.decided(cid) == "approved"
    report = {"reason": "spam"}
    wrong = await client.post(f"/v1/comments/{cid}/reports", params={"site": B}, json=report)
    assert wrong.status_code == 404
    right = await client.post(f"/v1/comments/{cid}/reports", params={"site": A}, json=report)
    assert right.status_code == 201, right.text


async def test_one_site_needs_no_site_parameter(api: Api, worker: object) -> None:
    """A single-site installation (keys created without --site) never names its site."""
    r = await api.post_comment(comment(article="solo"))
    assert r.status_code == 202
    cid = r.json()["id"]
    stored = await api.client.get(f"/v1/comments/{cid}", headers=api.auth())
    assert stored.json()["site"] == DEFAULT_SITE

    async def counted() -> bool:
        c = await api.client.get("/v1/counts", params={"article": "solo"})
        return bool(c.json()["counts"]["solo"] == 1)

    await wait_for(counted)
    named = await api.client.get("/v1/counts", params={"article": "solo", "site": DEFAULT_SITE})
    assert named.json()["counts"]["solo"] == 1
    assert (await api.client.get("/v1/articles/solo/comments")).json()["comments"][0]["id"] == cid


async def test_moderators_see_every_sites_queue_and_narrow_by_site(two: Two) -> None:
    admin = two.api.auth("admin")
    for site in (A, B):
        r = await two.api.client.patch(
            "/v1/moderation/policy", params={"site": site}, json={"premoderate": True},
            headers=admin,
        )  # fmt: skip
        assert r.status_code == 200, r.text
    held = {site: await two.post(site, article="story-1") for site in (A, B)}
    for cid in held.values():
        assert await two.decided(cid) == "held"
    client = two.api.client
    everyone = (await client.get("/v1/moderation/queue/counts", headers=admin)).json()
    assert everyone["held"] == 2
    assert sorted((a["site"], a["held"]) for a in everyone["articles"]) == [(A, 1), (B, 1)]
    only_a = await client.get("/v1/moderation/queue/counts", params={"site": A}, headers=admin)
    assert [(a["site"], a["article_id"]) for a in only_a.json()["articles"]] == [(A, "story-1")]
    queue = await client.get("/v1/moderation/queue", headers=admin)
    assert {c["id"] for c in queue.json()["comments"]} == set(held.values())
    narrowed = await client.get(
        "/v1/moderation/queue", params={"article": "story-1", "site": B}, headers=admin
    )
    assert [c["id"] for c in narrowed.json()["comments"]] == [held[B]]
    unnamed = await client.get("/v1/moderation/queue", params={"article": "story-1"}, headers=admin)
    assert unnamed.status_code == 400 and unnamed.json()["error"]["field"] == "site"


async def test_the_client_library_names_its_site(two: Two) -> None:
    cid = await two.post(B, article="story-3")
    assert await two.decided(cid) == "approved"
    assert two.api.transport is not None
    async with AsyncModerationClient(
        "http://testserver", transport=two.api.transport, site=B
    ) as reader:
        assert await reader.counts(["story-3"]) == {"story-3": 1}
    async with AsyncModerationClient(
        "http://testserver", transport=two.api.transport, site=A
    ) as reader:
        assert await reader.counts(["story-3"]) == {"story-3": 0}


async def test_a_webhook_endpoint_can_take_one_sites_events(two: Two, settings: Settings) -> None:
    async with receiver() as rec:
        r = await two.api.client.post(
            "/v1/moderation/webhooks",
            json={"url": rec.url, "events": ["comment.decided"], "sites": [A]},
            headers=two.api.auth("admin"),
        )
        assert r.status_code == 201 and r.json()["sites"] == [A], r.text
        rec.secrets = [r.json()["secret"]]
        async with sender(settings):
            other = await two.post(B)
            assert await two.decided(other) == "approved"
            mine = await two.post(A)

            async def delivered() -> bool:
                return any(e["data"]["comment_id"] == mine for e in rec.received)

            await wait_for(delivered)
    # Events go out in stream order: B's came first and was not sent.
    assert {e["data"]["comment_id"] for e in rec.received} == {mine}
    assert rec.received[0]["data"]["site"] == A


async def test_an_authors_audit_trail_is_one_sites(two: Two) -> None:
    mod = two.api.auth("moderator")
    for site, state in ((A, "banned"), (B, "trusted")):
        r = await two.api.client.post(
            "/v1/moderation/authors/u5/state", params={"site": site}, json={"state": state},
            headers=mod,
        )  # fmt: skip
        assert r.status_code == 200, r.text
    for site, state in ((A, "banned"), (B, "trusted")):
        page = await two.api.client.get(
            "/v1/moderation/audit", params={"target_type": "author", "target": "u5", "site": site},
            headers=mod,
        )  # fmt: skip
        assert [e["after"]["state"] for e in page.json()["entries"]] == [state]
        author = await two.api.client.get(
            "/v1/moderation/authors/u5", params={"site": site}, headers=mod
        )
        assert [e["after"]["state"] for e in author.json()["audit"]] == [state]


async def test_report_and_appeal_events_name_their_site(two: Two, rds: Redis) -> None:
    """Webhook endpoints limited to some sites filter on an event's site: every reader- and
    author-facing event (reports filed and decided, appeals filed and decided) names it."""
    mod = two.api.auth("moderator")
    client = two.api.client
    m = "/v1/moderation"
    reported = await two.post(A, article="story-r")
    appealed = await two.post(B, article="story-p", author="u-appeal")
    for cid in (reported, appealed):
        assert await two.decided(cid) == "approved"
    r = await client.post(f"/v1/comments/{reported}/reports", params={"site": A},
                          json={"reason": "spam"})  # fmt: skip
    assert r.status_code == 201, r.text
    r = await client.post(f"{m}/reported/{reported}/decision", json={"action": "keep"},
                          headers=mod)  # fmt: skip
    assert r.status_code == 200, r.text
    reject = {"action": "reject", "reason": "toxic", "expected_status": "approved"}
    r = await client.post(f"{m}/comments/{appealed}/decision", json=reject, headers=mod)
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/comments/{appealed}/appeals", json={"text": "Please look again."},
                          headers=two.auth(B))  # fmt: skip
    assert r.status_code == 201, r.text
    answer = {"outcome": "uphold", "answer": "It stands."}
    admin = two.api.auth("admin")  # not the moderator who decided: they may not judge it
    r = await client.post(f"{m}/appeals/{r.json()['id']}/decision", json=answer, headers=admin)
    assert r.status_code == 200, r.text
    sites: dict[str, set[str]] = {}
    for _, fields in await rds.xrange(Keys().events):
        kind = fields.get(b"type", b"").decode()
        if kind.startswith(("report.", "appeal.")):
            sites.setdefault(kind, set()).add(fields.get(b"site", b"").decode())
    assert sites == {"report.filed": {A}, "report.decided": {A}, "appeal.filed": {B},
                     "appeal.decided": {B}}  # fmt: skip
