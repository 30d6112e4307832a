"""``moderation webhooks [serve|add|list|remove|rotate|failures|replay|secret]``.

Without a subcommand (or with ``serve``) it runs the webhook sender (``workers.webhooks``);
the others manage endpoints the way the admin API does (``moderation.store.webhooks``), with
shell access, audited under the operating-system user. A secret is printed once, on stdout
(create, rotate); everything else goes to stderr or is a listing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from moderation.cli.keys import operator_entry
from moderation.cli.service import cmd_webhooks as serve
from moderation.keys import Keys
from moderation.messages import iso
from moderation.settings import WEBHOOK_EVENTS, Settings
from moderation.store.audit import AuditLog
from moderation.store.client import api_client
from moderation.store.webhooks import Webhooks, new_secret, now_ms


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("webhooks", help="send webhooks (default), or manage their endpoints")
    wsub = p.add_subparsers(dest="webhooks_command")
    wsub.add_parser("serve", help="run the webhook sender (the default)")
    a = wsub.add_parser("add", help="register an endpoint; prints its secret once")
    a.add_argument("url")
    a.add_argument(
        "--events",
        default=",".join(WEBHOOK_EVENTS),
        help=f"comma-separated (default: all of {', '.join(WEBHOOK_EVENTS)})",
    )
    a.add_argument("--description", default="")
    wsub.add_parser("list", help="endpoints with their backlog and failures (never secrets)")
    r = wsub.add_parser("remove", help="remove an endpoint, its queue and its failures")
    r.add_argument("endpoint_id")
    r = wsub.add_parser("rotate", help="a new secret (printed once); the old one signs on a while")
    r.add_argument("endpoint_id")
    f = wsub.add_parser("failures", help="an endpoint's dead-lettered messages (JSON lines)")
    f.add_argument("endpoint_id")
    f.add_argument("--limit", type=int, default=100)
    r = wsub.add_parser("replay", help="send dead-lettered messages again")
    r.add_argument("endpoint_id")
    r.add_argument("failure_ids", nargs="*", help="failure ids (default: every failure)")
    wsub.add_parser("secret", help="print a new whsec_ secret (for MODERATION_WEBHOOK_SECRET)")
    p.set_defaults(handler=cmd_webhooks)


def cmd_webhooks(settings: Settings, args: argparse.Namespace) -> int:
    command = args.webhooks_command or "serve"
    if command == "serve":
        return serve(settings, args)
    if command == "secret":
        print(new_secret())
        return 0
    return asyncio.run(_manage(settings, args, command))


async def _manage(settings: Settings, args: argparse.Namespace, command: str) -> int:
    keys = Keys(settings.key_prefix)
    redis = api_client(settings.with_overrides(redis_timeout_s=5.0))
    hooks = Webhooks(redis, keys, settings)
    audit = AuditLog(redis, keys, settings)

    async def note(action: str, target: str, after: dict[str, Any]) -> None:
        await audit.append(operator_entry(action, "webhook", target, after))

    try:
        if command == "add":
            events = [e.strip() for e in args.events.split(",") if e.strip()]
            endpoint, secret = await hooks.create(args.url, events, args.description)
            await note("webhook.create", endpoint.id, {"url": endpoint.url, "events": events})
            print(secret)
            print(f"added endpoint {endpoint.id} -> {endpoint.url}; the secret above is shown "
                  "only this once", file=sys.stderr)  # fmt: skip
        elif command == "list":
            endpoints = await hooks.endpoints()
            figures = await hooks.backlog([e.id for e in endpoints]) if endpoints else {}
            print("id\turl\tevents\tbacklog\tfailures")
            for e in endpoints:
                waiting, dead = figures[e.id]
                print(f"{e.id}\t{e.url}\t{','.join(e.events)}\t{waiting}\t{dead}")
        elif command == "remove":
            await hooks.remove(args.endpoint_id)
            await note("webhook.delete", args.endpoint_id, {"deleted": True})
            print(f"removed {args.endpoint_id}", file=sys.stderr)
        elif command == "rotate":
            endpoint, secret = await hooks.rotate(args.endpoint_id)
            await note("webhook.rotate", endpoint.id, {"rotated": True})
            print(secret)
            grace = settings.webhook_rotation_grace_s
            print(f"rotated {endpoint.id}: the previous secret also signs for {grace} s more",
                  file=sys.stderr)  # fmt: skip
        elif command == "failures":
            for failure_id, message, at in await hooks.failures(args.endpoint_id, args.limit):
                row = {"id": failure_id, "message_id": message.id, "type": message.type,
                       "attempts": message.attempts, "error": message.error,
                       "first_attempt_at": iso(message.first), "failed_at": iso(at)}  # fmt: skip
                print(json.dumps(row))
        elif command == "replay":
            n = await hooks.replay(args.endpoint_id, args.failure_ids or None)
            await note("webhook.replay", args.endpoint_id, {"replayed": n})
            print(f"replayed {n} message(s) to {args.endpoint_id} at {iso(now_ms())}",
                  file=sys.stderr)  # fmt: skip
        return 0
    finally:
        await redis.aclose()
