"""``/healthz`` (the process answers) and ``/readyz`` (it can do its job)."""

from __future__ import annotations

import time

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from moderation.api.responses import JSON
from moderation.api.schemas import Health, typed
from moderation.api.schemas_admin import Readiness
from moderation.keys import Keys
from moderation.ops.heartbeat import load_facts
from moderation.settings import Settings
from moderation.store.codec import as_str


async def healthz(request: Request) -> Response:
    return JSON(Health("ok"))


async def readyz(request: Request) -> Response:
    """Ready when Redis answers and at least one worker's heartbeat is fresh.

    Reports scorer degradation (a fallback model standing in) without failing readiness:
    comments are still decided, and the flag makes the degradation visible.
    """
    settings: Settings = request.app.state.settings
    keys: Keys = request.app.state.keys
    redis = request.app.state.redis
    problems: list[str] = []
    workers: list[dict[str, object]] = []
    try:
        await redis.ping()
        names = await redis.zrangebyscore(
            keys.workers, time.time() - settings.heartbeat_ttl_s, "+inf", withscores=True
        )
        seen = [(as_str(name), float(beat)) for name, beat in names]
        for facts in await load_facts(redis, keys, seen):
            workers.append(
                {
                    "name": facts.name,
                    "model": facts.model or None,
                    "device": facts.device or None,
                    "degraded": facts.degraded,
                }
            )
        if not workers:
            problems.append(f"no worker heartbeat in the last {settings.heartbeat_ttl_s:g}s")
    except (RedisError, OSError) as exc:
        problems.append(f"redis unreachable: {exc}")
    degraded = sorted({f"scorer:{w['model']}" for w in workers if w["degraded"]})
    body = {
        "status": "ready" if not problems else "not_ready",
        "problems": problems,
        "degraded": degraded,
        "workers": workers,
    }
    headers = {} if not problems else {"Retry-After": str(settings.retry_after_s)}
    return JSON(typed(Readiness, body), status_code=200 if not problems else 503, headers=headers)
