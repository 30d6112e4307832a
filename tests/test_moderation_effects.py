"""What moderators set up changes what happens to new comments, through the real worker:
author bans / trust / pre-moderation, article pre-moderation / closing / thresholds, site
policy, word lists."""

from __future__ import annotations

import itertools
from typing import Any

from redis.asyncio import Redis

from tests.conftest import Api, comment
from tests.moderation_support import held, post, status_of
from workers.scoring import ScoringWorker

M = "/v1/moderation"


_readers = itertools.count()


async def _decided(api: Api, **kw: Any) -> dict[str, Any]:
    # A fresh author for each comment unless the test names one: the same person posting
    # the same text again and again is exactly what the spam checks hold.
    kw.setdefault("author", f"reader-{next(_readers)}")
    body = comment(**{k: v for k, v in kw.items() if k in ("article", "text", "author")})
    if "context" in kw:
        body["context"] = kw["context"]
    r = await api.post_comment(body, wait=5)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _author_state(api: Api, author: str, state: str, **extra: Any) -> dict[str, Any]:
    r = await api.client.post(
        f"{M}/authors/{author}/state", json={"state": state, **extra}, headers=api.auth("moderator")
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _article(api: Api, article: str, role: str = "moderator", **edit: Any) -> Any:
    return await api.client.patch(
        f"{M}/articles/{article}/settings", json=edit, headers=api.auth(role)
    )


async def test_banned_author_is_rejected_and_can_be_swept(
    api: Api, rds: Redis, worker: ScoringWorker
) -> None:
    waiting_held = await held(api, rds, author="troll")
    assert (await _decided(api, author="troll", text="first, harmless"))["status"] == "approved"
    other = await held(api, rds, author="someone-else")

    result = await _author_state(api, "troll", "banned", reject_pending=True, note="spam wave")
    assert result == {
        "author_id": "troll",
        "previous_state": "normal",
        "state": "banned",
        "rejected": 1,
    }
    assert await status_of(rds, waiting_held) == "rejected"
    assert await status_of(rds, other) == "held"

    data = await _decided(api, author="troll", text="A perfectly polite comment.")
    assert data["status"] == "rejected"
    assert data["reasons"][0]["code"] == "banned_author"

    author = (await api.client.get(f"{M}/authors/troll", headers=api.auth("moderator"))).json()
    assert author["author"]["standing"]["state"] == "banned"
    assert author["author"]["standing"]["rejected"] == 2
    assert author["author"]["standing"]["approved"] == 1
    assert [c["status"] for c in author["comments"]] == ["rejected", "approved", "rejected"]
    assert [e["action"] for e in author["audit"]] == ["author.state"]
    assert author["audit"][0]["note"] == "spam wave"

    # Unban: back to the policy.
    assert (await _author_state(api, "troll", "normal"))["previous_state"] == "banned"
    assert (await _decided(api, author="troll", text="Back again, politely."))[
        "status"
    ] == "approved"


async def test_ban_sweep_rejects_pending_comments_before_the_worker_sees_them(
    api: Api, rds: Redis, settings: Any
) -> None:
    from tests.conftest import running_worker

    pending = [await post(api, author="flooder", text=f"flood {i}") for i in range(3)]
    result = await _author_state(api, "flooder", "banned", reject_pending=True)
    assert result["rejected"] == 3
    async with running_worker(settings) as w:
        # Stream order: once a later comment is decided, the worker has seen the swept ones.
        later = await api.post_comment(comment(author="bystander"), wait=5)
        assert later.json()["status"] == "approved"
    # Read once the worker stopped: a decision is visible (and answers ?wait) a moment before
    # its batch is acknowledged and counted.
    assert w.processed == 1  # the swept comments were acknowledged, not decided again
    for cid in pending:
        assert await status_of(rds, cid) == "rejected"
    audit = (
        await api.client.get(
            f"{M}/audit",
            params={"target_type": "comment", "target": pending[0]},
            headers=api.auth("moderator"),
        )
    ).json()["entries"]
    assert audit[0]["reason"] == "banned_author"
    assert audit[0]["before"] == {"status": "pending"}


async def test_trusted_and_premoderated_authors(api: Api, worker: ScoringWorker) -> None:
    trap = {"honeypot": "http://spam.example"}
    assert (await _decided(api, author="bot", context=trap))["status"] == "held"
    await _author_state(api, "bot", "trusted")
    assert (await _decided(api, author="bot", context=trap))["status"] == "approved"

    await _author_state(api, "newbie", "premoderated")
    data = await _decided(api, author="newbie", text="Hello all, first post.")
    assert data["status"] == "held"
    assert [r["code"] for r in data["reasons"]] == ["premoderated_author"]


async def test_article_premoderation_closing_and_thresholds(
    api: Api, worker: ScoringWorker
) -> None:
    r = await _article(api, "story-1", premoderate=True, note="sensitive topic")
    assert r.status_code == 200, r.text
    assert r.json()["settings"] == {"premoderate": True}
    assert r.json()["effective"]["premoderate"] is True
    data = await _decided(api, article="story-1", text="Nice article.")
    assert data["status"] == "held"
    assert [r["code"] for r in data["reasons"]] == ["premoderated_article"]
    # A trusted author skips article pre-moderation.
    await _author_state(api, "veteran", "trusted")
    assert (await _decided(api, article="story-1", author="veteran"))["status"] == "approved"

    # Closed: the site gets a clear 409 and nothing is stored.
    r = await _article(api, "story-1", closed=True)
    assert r.status_code == 200
    refused = await api.post_comment(comment(article="story-1"))
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "article_closed"
    assert error["field"] == "article_id"
    assert error["article_id"] == "story-1"
    assert (await api.post_comment(comment(article="story-2"))).status_code == 202
    await _article(api, "story-1", closed=False, premoderate=False)
    reopened = await _decided(
        api, article="story-1", author="returning", text="Glad the comments are open again."
    )
    assert reopened["status"] == "approved", reopened["reasons"]

    # Per-article thresholds: a strict article holds what another approves.
    r = await _article(api, "strict", thresholds={"toxicity": 0.0}, max_links=1)
    assert r.json()["settings"] == {"thresholds": {"toxicity": 0.0}, "max_links": 1}
    assert r.json()["effective"]["sources"] == {
        "threshold:toxicity": "article",
        "max_links": "article",
    }
    data = await _decided(api, article="strict", text="I agree with the council.")
    assert data["status"] == "held"
    assert data["thresholds"]["toxicity"] == 0.0
    assert (await _decided(api, article="lenient", text="I agree with the council."))[
        "status"
    ] == "approved"
    # null removes an override: the value from the level above applies again.
    r = await _article(api, "strict", thresholds={"toxicity": None}, max_links=None)
    assert r.json()["settings"] == {}
    assert (await _decided(api, article="strict", text="I agree."))["status"] == "approved"

    listed = (await api.client.get(f"{M}/articles", headers=api.auth("moderator"))).json()
    assert {a["article_id"] for a in listed["articles"]} >= {"story-1"}
    entries = (await api.client.get(f"{M}/articles/story-1", headers=api.auth("moderator"))).json()[
        "audit"
    ]
    assert entries[-1]["note"] == "sensitive topic"
    assert entries[-1]["before"] == {} and entries[-1]["after"] == {"premoderate": True}


async def test_article_settings_validation(api: Api) -> None:
    for edit, field in (
        ({"thresholds": {"toxicity": 1.5}}, "thresholds.toxicity"),
        ({"thresholds": {"sarcasm": 0.5}}, "thresholds.sarcasm"),
        ({"spam_threshold": -0.1}, "spam_threshold"),
        ({"max_links": -1}, "max_links"),
        ({"premoderate": "yes"}, "premoderate"),
        ({"bogus": 1}, "bogus"),
        ({}, "body"),
    ):
        r = await _article(api, "a1", **edit)
        assert r.status_code == 422, (edit, r.text)
        assert r.json()["error"]["field"] == field, (edit, r.text)


async def test_site_policy_applies_everywhere_and_articles_override_it(
    api: Api, worker: ScoringWorker
) -> None:
    r = await api.client.patch(
        f"{M}/policy", json={"thresholds": {"toxicity": 0.0}}, headers=api.auth("admin")
    )
    assert r.status_code == 200, r.text
    assert r.json()["overrides"] == {"thresholds": {"toxicity": 0.0}}
    assert r.json()["effective"]["thresholds"]["toxicity"] == 0.0
    assert (await _decided(api, article="any", text="Agreed."))["status"] == "held"
    await _article(api, "relaxed", thresholds={"toxicity": 0.99})
    assert (await _decided(api, article="relaxed", text="Agreed."))["status"] == "approved"
    policy = (await api.client.get(f"{M}/policy", headers=api.auth("moderator"))).json()
    assert policy["defaults"]["thresholds"]["toxicity"] == 0.8


async def test_word_lists_reject_and_hold_on_normalised_whole_words(
    api: Api, worker: ScoringWorker
) -> None:
    admin = api.auth("admin")
    r = await api.client.patch(
        f"{M}/words/banned", json={"add": ["Scamcoin", "red herring"]}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["added"] == ["scamcoin", "red herring"]
    r = await api.client.patch(f"{M}/words/suspect", json={"add": ["durian"]}, headers=admin)
    assert r.json()["lists"] == {"banned": ["red herring", "scamcoin"], "suspect": ["durian"]}

    data = await _decided(api, text="Invest in SCAMCOIN today")
    assert data["status"] == "rejected"
    assert data["reasons"][0]["code"] == "banned_words"
    assert data["reasons"][0]["words"] == ["scamcoin"]
    assert (await _decided(api, text="That is a Red   Herring!"))["status"] == "rejected"

    for evasive in ("I love ＤＵＲＩＡＮ", "so much d\u200burian", "DuRiAn season", "d.u.r.i.a.n"):
        data = await _decided(api, text=evasive)
        assert data["status"] == "held", evasive
        assert data["reasons"][-1]["code"] == "suspect_words"
        assert data["reasons"][-1]["words"] == ["durian"]
    # Whole words only, and only the words in sequence.
    for innocent in ("I like durians", "herring is red", "the scamcoins"):
        assert (await _decided(api, text=innocent))["status"] == "approved", innocent

    # Removing a word applies to the very next comments (the worker reloads on the version).
    await api.client.patch(f"{M}/words/suspect", json={"remove": ["DURIAN"]}, headers=admin)
    assert (await _decided(api, text="durian again"))["status"] == "approved"

    listed = (await api.client.get(f"{M}/words", headers=admin)).json()
    assert listed["suspect"] == [] and listed["version"]
    audit = (
        await api.client.get(
            f"{M}/audit", params={"target_type": "words", "target": "suspect"}, headers=admin
        )
    ).json()["entries"]
    assert audit[0]["after"] == {"count": 0, "added": [], "removed": ["durian"]}
    assert audit[1]["after"] == {"count": 1, "added": ["durian"], "removed": []}


async def test_word_list_validation(api: Api) -> None:
    admin = api.auth("admin")
    for kind, body, field in (
        ("banned", {"add": []}, "add"),
        ("banned", {"add": ["!!!"]}, "add[0]"),
        ("banned", {"add": ["ok", "x" * 101]}, "add[1]"),
        ("banned", {"add": ["one two three four five six seven"]}, "add[0]"),
        ("naughty", {"add": ["x"]}, "kind"),
    ):
        r = await api.client.patch(f"{M}/words/{kind}", json=body, headers=admin)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == field
