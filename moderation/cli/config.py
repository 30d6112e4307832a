"""``moderation config``: the settings in force (from this environment) with their defaults,
and the run-time policy an admin set in the service's Redis, when it can be reached."""

from __future__ import annotations

import argparse
import asyncio

from moderation.errors import REDIS_UNAVAILABLE, ConfigError
from moderation.keys import Keys
from moderation.settings import Settings
from moderation.settings_doc import markdown_table
from moderation.store.client import api_client
from moderation.store.codec import str_map


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "config", help="print the settings in force, their defaults and the run-time policy"
    )
    p.add_argument("--defaults", action="store_true", help="the defaults, not this environment")
    p.set_defaults(handler=cmd_config)


def cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    """Print the settings table; then the run-time policy overrides, or why they are unknown."""
    if args.defaults:
        print(markdown_table(None))
        return 0
    print(markdown_table(settings))
    print()
    print(_runtime_policy(settings))
    return 0


def _runtime_policy(settings: Settings) -> str:
    """The site-wide policy an admin edited at run time (it overrides the thresholds above)."""
    try:
        url = settings.resolved_redis_url()
    except ConfigError:
        return "Run-time policy: unknown (no Redis of the service found; see MODERATION_REDIS_URL)"

    async def read() -> dict[str, str]:
        redis = api_client(settings.with_overrides(redis_timeout_s=2.0))
        try:
            return str_map(await redis.hgetall(Keys(settings.key_prefix).policy))
        finally:
            await redis.aclose()

    try:
        policy = asyncio.run(read())
    except REDIS_UNAVAILABLE as exc:
        return f"Run-time policy: unknown (Redis at {url} unreachable: {exc})"
    if not policy:
        return f"Run-time policy (Redis at {url}): none set; the settings above apply"
    rows = [
        f"Run-time policy (Redis at {url}; overrides the settings above):",
        "| Field | Value |",
        "|---|---|",
    ]
    rows.extend(f"| `{k}` | `{v}` |" for k, v in sorted(policy.items()))
    return "\n".join(rows)
