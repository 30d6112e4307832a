"""``moderation keys create|list|revoke``: API keys, managed with shell access (audited)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import socket
import sys
import time
from typing import Any

from redis.asyncio import Redis

from moderation.keys import DEFAULT_SITE, Keys
from moderation.messages import Role, iso
from moderation.settings import Settings
from moderation.store import apikeys
from moderation.store.audit import AuditEntry, AuditLog
from moderation.store.client import api_client


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("keys", help="manage API keys")
    ksub = p.add_subparsers(dest="keys_command", required=True)
    k = ksub.add_parser("create", help="create a key; prints the secret once")
    k.add_argument("--role", required=True, choices=["site", "moderator", "admin"])
    k.add_argument("--name", required=True)
    k.add_argument(
        "--site",
        default=None,
        help=f"the site a site key belongs to (default {DEFAULT_SITE!r}); several keys may "
        "share a site. Moderator and admin keys are central: they belong to no site",
    )
    k = ksub.add_parser(
        "rotate", help="a new key with the role and site of --name, which is revoked"
    )
    k.add_argument("--name", required=True)
    k.add_argument("--new-name", required=True)
    k = ksub.add_parser("revoke", help="revoke a key by name")
    k.add_argument("--name", required=True)
    ksub.add_parser("list", help="list keys (names, roles and sites, never secrets)")
    p.set_defaults(handler=cmd_keys)


def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    keys = Keys(settings.key_prefix)

    async def main() -> int:
        redis = api_client(settings.with_overrides(redis_timeout_s=5.0))
        try:
            if args.keys_command == "create":
                role = Role(args.role)
                if args.site is not None and role is not Role.SITE:
                    print("--site is for site keys only", file=sys.stderr)
                    return 2
                site = args.site or DEFAULT_SITE
                secret = await apikeys.create_key(redis, keys, args.name, role, site)
                await _audit_key(
                    redis, keys, settings, "key.create", args.name, args.role,
                    site if role is Role.SITE else None,
                )  # fmt: skip
                print(secret)
                print(
                    f"created {args.role} key {args.name!r}; this is the only time it is shown",
                    file=sys.stderr,
                )
            elif args.keys_command == "rotate":
                secret = await apikeys.rotate_key(redis, keys, args.name, args.new_name)
                await _audit_key(redis, keys, settings, "key.rotate", args.name, None)
                print(secret)
                print(
                    f"created {args.new_name!r} in place of {args.name!r} (revoked); "
                    "this is the only time the new secret is shown",
                    file=sys.stderr,
                )
            elif args.keys_command == "revoke":
                await apikeys.revoke_key(redis, keys, args.name)
                await _audit_key(redis, keys, settings, "key.revoke", args.name, None)
                print(f"revoked {args.name!r}", file=sys.stderr)
            else:
                print("name\trole\tsite\tcreated (UTC)")
                for info in await apikeys.list_keys(redis, keys):
                    site = info.site or "*"
                    print(f"{info.name}\t{info.role.value}\t{site}\t{iso(info.created_at)}")
            return 0
        finally:
            await redis.aclose()

    return asyncio.run(main())


async def _audit_key(
    redis: Redis,
    keys: Keys,
    settings: Settings,
    action: str,
    name: str,
    role: str | None,
    site: str | None = None,
) -> None:
    after: dict[str, Any] = {"role": role} if role else {"revoked": True}
    if site is not None:
        after["site"] = site
    await AuditLog(redis, keys, settings).append(operator_entry(action, "key", name, after))


def operator_entry(action: str, target_type: str, target: str, after: dict[str, Any]) -> AuditEntry:
    """An audit entry for a change made with shell access, not a key: it names the OS user."""
    try:
        who = f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        who = f"uid{os.getuid()}@{socket.gethostname()}"
    return AuditEntry(
        at=int(time.time() * 1000),
        actor=who,
        role="operator",
        via="cli",
        action=action,
        target_type=target_type,
        target=target,
        after=after,
    )
