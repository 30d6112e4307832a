"""Helpers shared by the moderation tests: held comments, sign-in, CSRF tokens."""

from __future__ import annotations

import re
from typing import Any

import httpx
from redis.asyncio import Redis

from moderation.keys import CommentField, Keys
from moderation.messages import Decision, Reason, Status
from moderation.store.comments import Store, now_ms
from moderation.store.transitions import CommentRef
from tests.conftest import Api, comment

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


async def post(
    api: Api, *, article: str = "a1", author: str = "u1", name: str | None = None,
    text: str = "A comment.", **extra: Any,
) -> str:  # fmt: skip
    body = comment(article=article, text=text, author=author, **extra)
    if name is not None:
        body["author"]["name"] = name
    r = await api.post_comment(body)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


async def hold(
    rds: Redis, comment_id: str, *, risk: float = 0.9, reasons: list[Reason] | None = None
) -> None:
    """Decide a pending comment ``held`` exactly as the worker would (one transition; two
    when a running worker decided it first)."""
    store = Store(rds, Keys())
    stored = await store.get(comment_id)
    assert stored is not None
    decision = Decision(
        status=Status.HELD,
        by="auto",
        decided_at=now_ms(),
        reasons=reasons
        or [
            Reason(
                code="toxicity",
                label="insult",
                score=risk,
                threshold=0.6,
                message=f"insult {risk:.2f} ≥ threshold 0.60",
            )
        ],
        scores={"toxicity": round(risk * 0.8, 3), "insult": risk},
        thresholds={"toxicity": 0.8, "insult": 0.6},
    )
    ref = CommentRef.of(stored.record)
    result = await store.transition(ref, [Status.PENDING], decision, actor="auto", risk=risk)
    if not result.applied and result.previous in (Status.APPROVED, Status.HELD):
        # A worker running beside the test decided it first (nothing orders the two): this
        # hold replaces its automatic decision, as a later automatic one would.
        result = await store.transition(ref, [result.previous], decision, actor="auto", risk=risk)
    assert result.applied


async def held(api: Api, rds: Redis, *, risk: float = 0.9, **kw: Any) -> str:
    """Post a comment and hold it; returns its id."""
    reasons = kw.pop("reasons", None)
    cid = await post(api, **kw)
    await hold(rds, cid, risk=risk, reasons=reasons)
    return cid


async def sign_in(client: httpx.AsyncClient, key: str) -> str:
    """Sign the client in (session cookie kept by the client); returns the CSRF token."""
    r = await client.post("/moderate/login", data={"key": key, "next": "/moderate/queue"})
    assert r.status_code == 303, r.text
    page = await client.get("/moderate/queue")
    assert page.status_code == 200, page.text
    match = _CSRF.search(page.text)
    assert match and match.group(1)
    return match.group(1)


async def status_of(rds: Redis, comment_id: str) -> str | None:
    raw = await rds.hget(Keys().comment(comment_id), CommentField.STATUS)
    return raw.decode() if raw is not None else None
