"""How values cross the Redis boundary, in one place: bytes to text and numbers, the shared
msgspec encoders, opaque page cursors and the Lua scripts.

Redis replies arrive as ``bytes`` (the clients run with ``decode_responses=False`` so stored
documents stay binary-safe); every module turns them into Python values with the helpers here,
never with a private copy. Lua scripts live beside this module in ``lua/`` and are read once per
process; :func:`script` binds one to a client (call it once per component, not per request).
"""

from __future__ import annotations

import base64
import binascii
import functools
import weakref
from collections.abc import Mapping
from importlib import resources
from typing import Any, TypeVar

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from moderation.errors import BadRequest
from moderation.messages import json_encoder

T = TypeVar("T")


def as_str(value: Any) -> str:
    """A Redis reply (``bytes``, ``str`` or a number) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def as_int(value: Any) -> int:
    """A Redis reply as an integer; ``None`` and anything unparseable count as 0."""
    if value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return 0


def str_map(raw: Mapping[Any, Any]) -> dict[str, str]:
    """An ``HGETALL`` reply as ``str -> str``."""
    return {as_str(k): as_str(v) for k, v in raw.items()}


def int_map(raw: Mapping[Any, Any]) -> dict[str, int]:
    """An ``HGETALL`` reply of counters as ``str -> int`` (non-numeric fields are skipped)."""
    out: dict[str, int] = {}
    for k, v in raw.items():
        try:
            out[as_str(k)] = int(float(as_str(v)))
        except ValueError:
            continue
    return out


# --- cursors -------------------------------------------------------------------------------


def encode_cursor(value: Any) -> str:
    """An opaque, URL-safe page cursor for any msgspec-encodable position."""
    return base64.urlsafe_b64encode(json_encoder.encode(value)).decode().rstrip("=")


def decode_cursor(cursor: str, kind: type[T]) -> T:
    """The position inside a cursor made by :func:`encode_cursor`, checked against ``kind``.

    Raises :class:`BadRequest` naming the ``cursor`` field for anything this service did not
    issue.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=kind)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise BadRequest("cursor is not one this service issued", field="cursor") from None


# --- Lua -----------------------------------------------------------------------------------


@functools.cache
def lua_source(name: str) -> str:
    """The text of ``lua/<name>`` behind ``lua/_prelude.lua`` (the shared type check every
    writing script runs before its first write), read once per process."""
    folder = resources.files(__package__).joinpath("lua")
    return folder.joinpath("_prelude.lua").read_text("utf-8") + folder.joinpath(name).read_text(
        "utf-8"
    )


_bound: weakref.WeakKeyDictionary[Redis, dict[str, AsyncScript]] = weakref.WeakKeyDictionary()


def script(redis: Redis, name: str) -> AsyncScript:
    """``lua/<name>`` bound to ``redis`` (cached per client, so calling this per request costs a
    dictionary lookup). The script also runs on that client's pipelines (``client=pipe``);
    redis-py sends ``EVALSHA`` and loads the script once if the server lacks it."""
    scripts = _bound.setdefault(redis, {})
    bound = scripts.get(name)
    if bound is None:
        bound = scripts[name] = redis.register_script(lua_source(name))
    return bound


#: Per connection pool, the scripts (SHA1s) the server was seen to hold; cleared by a NOSCRIPT.
_verified: weakref.WeakKeyDictionary[object, set[str]] = weakref.WeakKeyDictionary()


async def execute_verified(pipe: Pipeline) -> list[Any]:
    """``pipe.execute()``, without redis-py's ``SCRIPT EXISTS`` round trip before it once the
    server has been seen to hold every script queued on ``pipe``.

    redis-py checks (and loads) a pipeline's scripts before every execution: one more round
    trip each time, a tenth of a small batch's time to its decision. Here the check runs
    the first time a pool's pipeline carries a script; later pipelines go straight out. A
    server that lost its scripts since (a restart, ``SCRIPT FLUSH``) answers ``NOSCRIPT`` to
    their ``EVALSHA`` calls: the error is raised as usual and the pool's record forgotten, so the
    next pipeline checks and loads again. Use it only where a caller already survives a
    failed execution by running the work again (the scoring worker's batch writes: every
    script there tolerates running twice, and a failure falls back to entry-by-entry).
    """
    scripts = list(pipe.scripts)
    if not scripts:
        return await pipe.execute()
    pool = pipe.connection_pool
    known = _verified.setdefault(pool, set())
    shas = {s.sha for s in scripts}
    if shas <= known:
        pipe.scripts.clear()  # the check redis-py would make: already made
    try:
        replies = await pipe.execute()
    except NoScriptError:
        known.clear()
        raise
    except Exception as exc:
        if "NOSCRIPT" in str(exc):  # a script's error inside a transaction
            known.clear()
        raise
    known.update(shas)
    return replies
