"""The site's grounds for restrictions: laws it names and clauses of its community rules.

One JSON list of ``Ground`` under ``keys.grounds``, replaced whole by an admin (an ordered list:
the first ground covering a decision's reason wins, see ``moderation.statements``). A site that
never configured any gets ``statements.DEFAULT_GROUNDS``; the general clause
(``statements.GENERAL``) is always present, so every statement has a ground.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import msgspec
from redis.asyncio import Redis

from moderation.errors import ValidationFailed
from moderation.keys import Keys
from moderation.messages import Ground, json_encoder
from moderation.statements import DEFAULT_GROUNDS, GROUND_KINDS, by_id

MAX_GROUNDS = 100
MAX_TEXT = 500
_ID = re.compile(r"^[a-z0-9_.:-]{1,64}$")

_decoder = msgspec.json.Decoder(list[Ground])


def check(grounds: Sequence[Ground]) -> list[Ground]:
    """The list as it will be stored, or :class:`ValidationFailed` naming the bad entry."""
    if len(grounds) > MAX_GROUNDS:
        raise ValidationFailed(f"at most {MAX_GROUNDS} grounds", field="grounds")
    seen: set[str] = set()
    for i, g in enumerate(grounds):
        where = f"grounds[{i}]"
        if not _ID.match(g.id):
            raise ValidationFailed(
                f"{where}.id must be 1–64 characters of a-z, 0-9, '_', '.', ':' or '-'",
                field=f"{where}.id",
            )
        if g.id in seen:
            raise ValidationFailed(f"{where}.id {g.id!r} is listed twice", field=f"{where}.id")
        seen.add(g.id)
        if g.kind not in GROUND_KINDS:
            raise ValidationFailed(f"{where}.kind must be 'law' or 'rules'", field=f"{where}.kind")
        if not g.title.strip() or len(g.title) > MAX_TEXT or len(g.reference) > MAX_TEXT:
            raise ValidationFailed(
                f"{where}.title must be 1–{MAX_TEXT} characters (reference at most {MAX_TEXT})",
                field=f"{where}.title",
            )
        if g.kind == "law" and not g.reference.strip():
            raise ValidationFailed(
                f"{where}.reference must name the legal provision of a 'law' ground",
                field=f"{where}.reference",
            )
        if g.url is not None and not g.url.startswith(("https://", "http://")):
            raise ValidationFailed(f"{where}.url must be an http(s) URL", field=f"{where}.url")
    return list(by_id(grounds).values())


async def load_grounds(redis: Redis, keys: Keys) -> list[Ground]:
    return decode(await redis.get(keys.grounds))


def decode(raw: bytes | str | None) -> list[Ground]:
    """The stored list (the defaults when none is stored)."""
    if not raw:
        return list(DEFAULT_GROUNDS)
    return list(by_id(_decoder.decode(raw)).values())


async def save_grounds(redis: Redis, keys: Keys, grounds: Sequence[Ground]) -> list[Ground]:
    checked = check(grounds)
    await redis.set(keys.grounds, json_encoder.encode(checked))
    return checked
