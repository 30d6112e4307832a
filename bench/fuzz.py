"""A small HTTP fuzzer: generated requests across every route of the app, counting 5xx.

Until the API publishes ``/openapi.json`` (then schemathesis takes over), this generates
requests from the app's own route table: each route's methods, its path parameters filled
with hostile ids (invisible characters, key separators, very long, percent-escapes, path
tricks), random query strings, and bodies that are random JSON, near-valid comments and
moderation edits with wrong types, or raw bytes (bad UTF-8, truncated JSON), under every kind
of credential. A 5xx is a bug (a 503 too: Redis is up throughout): input, however hostile, must get
a 4xx in the error shape.

    python -m bench.fuzz --requests 2000 --seed 7     # in-process app, a redis-server of its own

Streaming routes (server-sent events) are skipped: they answer 200 and never end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from moderation.app import create_app
from moderation.keys import Keys
from moderation.messages import Role
from moderation.settings import Settings
from moderation.store.apikeys import create_key
from moderation.store.embedded import EmbeddedRedis

#: Routes whose responses never end by themselves.
STREAMING = ("/events", "/stream")

HOSTILE_IDS = [
    "a",
    "x" * 201,
    "x" * 5000,
    "h-\u200bauthor",
    "\u202eevil",
    "a:b",
    "a{b}c",
    "%3A",
    "%00",
    "..%2F..%2Fetc",
    "ünïcödé",
    "😀" * 10,
    "\ufeffbom",
    "a b",
    "0",
    "-1",
    "null",
    "01KAXD6Y8V3N9TQ2J5ZB7W4H1C",
]

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


@dataclass
class Report:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    bad_shape: list[str] = field(default_factory=list)


def routes_of(app: Starlette) -> list[tuple[str, str]]:
    """(method, path template) of every plain route, streaming ones excepted."""
    out = []
    for route in app.routes:
        if not isinstance(route, Route) or any(s in route.path for s in STREAMING):
            continue
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                out.append((method, route.path))
    return out


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["str", "int", "float", "bool", "null", "list", "dict"] if depth < 3 else ["str", "int"]
    kind = rng.choice(kinds)
    if kind == "str":
        return rng.choice([*HOSTILE_IDS, "", " ", "\x00", "\\ud800"])
    if kind == "int":
        return rng.choice([0, -1, 2**63, 10**30, 7])
    if kind == "float":
        return rng.choice([0.5, -1e308, 1e308, 3.14])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(FIELDS): _json_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


FIELDS = [
    "article_id",
    "text",
    "author",
    "id",
    "name",
    "email",
    "parent_id",
    "context",
    "ip",
    "action",
    "reason",
    "note",
    "expected_status",
    "ids",
    "state",
    "premoderate",
    "closed",
    "thresholds",
    "spam_threshold",
    "max_links",
    "add",
    "remove",
    "extra",
]


def _near_valid(rng: random.Random) -> dict[str, Any]:
    body: dict[str, Any] = {
        "article_id": "a1",
        "text": "A fine comment.",
        "author": {"id": "u1", "name": "Sam"},
        "action": "approve",
        "state": "normal",
        "ids": ["01KAXD6Y8V3N9TQ2J5ZB7W4H1C"],
        "add": ["word"],
        "remove": [],
        "thresholds": {"insult": 0.5},
        "context": {"ip": "203.0.113.9", "page_loaded_at": "2026-11-25T10:02:11Z"},
    }
    for name in rng.sample(list(body), rng.randint(1, 3)):
        body[name] = _json_value(rng, 1)
    return body


def _body(rng: random.Random) -> tuple[bytes, str]:
    roll = rng.random()
    if roll < 0.4:
        return json.dumps(_near_valid(rng)).encode(), "application/json"
    if roll < 0.7:
        return json.dumps(_json_value(rng)).encode(), "application/json"
    if roll < 0.8:
        return b'{"article_id": "a1", "text": "\xff\xfe broken', "application/json"
    if roll < 0.9:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 300))), rng.choice(
            ["application/json", "text/plain", "application/x-www-form-urlencoded", ""]
        )
    return b"key=" + bytes(rng.randrange(256) for _ in range(40)), (
        "application/x-www-form-urlencoded"
    )


def _path(rng: random.Random, template: str) -> str:
    def fill(match: re.Match[str]) -> str:
        value = rng.choice(HOSTILE_IDS)
        return httpx.URL("/" + value).raw_path.decode()[1:] if rng.random() < 0.8 else value

    path = _PARAM.sub(fill, template)
    if rng.random() < 0.5:
        names = ["limit", "cursor", "order", "article", "author", "min_score", "max_score",
                 "wait", "reason", "actor", "target", "target_type"]  # fmt: skip
        pairs = [(rng.choice(names), str(_json_value(rng, 3))) for _ in range(rng.randint(1, 4))]
        path += "?" + str(httpx.QueryParams(pairs))
    return path


async def fuzz(
    client: httpx.AsyncClient,
    routes: Sequence[tuple[str, str]],
    credentials: Sequence[dict[str, str]],
    requests: int,
    seed: int,
) -> Report:
    rng = random.Random(seed)
    report = Report()
    for _ in range(requests):
        method, template = rng.choice(routes)
        path = _path(rng, template)
        headers = dict(rng.choice(credentials))
        content = None
        if method in ("POST", "PATCH", "PUT"):
            content, media = _body(rng)
            if media:
                headers["Content-Type"] = media
        r = await client.request(method, path, headers=headers, content=content)
        report.sent += 1
        report.statuses[r.status_code] += 1
        label = f"{method} {path} -> {r.status_code}"
        if template == "/readyz":
            continue  # a health answer (503 = no worker yet), not an error response
        if r.status_code >= 500:
            report.server_errors.append(label + " " + r.text[:200])
        elif r.status_code >= 400 and r.headers.get("content-type", "").startswith(
            "application/json"
        ):
            error = r.json().get("error") if isinstance(r.json(), dict) else None
            if not (isinstance(error, dict) and isinstance(error.get("code"), str)):
                report.bad_shape.append(label)
    return report


async def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fuzz-redis-") as data:
        server = EmbeddedRedis(Path(data))
        url = server.start()
        try:
            report = await _run(Settings(redis_url=url, auth_failures_max=1_000_000), args)
        finally:
            server.stop()
    print(f"requests {report.sent}, 5xx {len(report.server_errors)}, "
          f"error bodies without the error shape {len(report.bad_shape)}")  # fmt: skip
    print("statuses", dict(sorted(report.statuses.items())))
    for line in report.server_errors[:20]:
        print("  ", line)
    return 1 if report.server_errors or report.bad_shape else 0


async def _run(settings: Settings, args: argparse.Namespace) -> Report:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        keys = Keys()
        creds: list[dict[str, str]] = [{}]
        for role in (Role.SITE, Role.MODERATOR, Role.ADMIN):
            secret = await create_key(app.state.redis, keys, f"fuzz-{role.value}", role)
            creds.append({"Authorization": f"Bearer {secret}"})
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fuzz") as client:
            return await fuzz(client, routes_of(app), creds, args.requests, args.seed)


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(sys.argv[1:])))
