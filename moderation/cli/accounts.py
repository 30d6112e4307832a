"""``moderation accounts create|list|disable|enable|link|password``: moderators' accounts,
managed with shell access (audited, naming the operator), e.g. to create the first admin.

``create`` takes the password on standard input with ``--password-stdin`` (never on the
command line, where other users could read it in the process list); without it the command
prints a one-time sign-in link, as ``link`` does. A link is printed under ``--base-url`` (by
default the API's own ``host`` and ``port``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from redis.asyncio import Redis

from moderation.cli.keys import operator_entry
from moderation.keys import Keys
from moderation.messages import Role, iso
from moderation.settings import Settings
from moderation.store import accounts
from moderation.store.audit import AuditLog
from moderation.store.client import api_client
from moderation.store.sessions import account_sessions

LINK_PATH = "/moderate/login/link"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("accounts", help="manage moderators' and admins' accounts")
    asub = p.add_subparsers(dest="accounts_command", required=True)
    a = asub.add_parser(
        "create", help="create an account (without a password: prints a sign-in link)"
    )
    a.add_argument("--name", required=True)
    a.add_argument("--role", default="moderator", choices=["moderator", "admin"])
    a.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    a.add_argument("--base-url", help="where the UI is served (default: http://HOST:PORT)")
    asub.add_parser("list", help="list accounts and their live sessions")
    for name, text in (("disable", "disable an account (signs it out)"), ("enable", "enable it")):
        a = asub.add_parser(name, help=text)
        a.add_argument("--name", required=True)
    a = asub.add_parser("link", help="print a one-time sign-in link for an account")
    a.add_argument("--name", required=True)
    a.add_argument("--base-url", help="where the UI is served (default: http://HOST:PORT)")
    a = asub.add_parser("password", help="set an account's password (read from standard input)")
    a.add_argument("--name", required=True)
    p.set_defaults(handler=cmd_accounts)


def _read_password() -> str:
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def _url(settings: Settings, base: str | None, token: str) -> str:
    root = (base or f"http://{settings.host}:{settings.port}").rstrip("/")
    return f"{root}{LINK_PATH}?token={token}"


def cmd_accounts(settings: Settings, args: argparse.Namespace) -> int:
    keys = Keys(settings.key_prefix)

    async def main() -> int:
        redis = api_client(settings.with_overrides(redis_timeout_s=5.0))
        try:
            return await _run(redis, keys, settings, args)
        finally:
            await redis.aclose()

    return asyncio.run(main())


async def _run(redis: Redis, keys: Keys, settings: Settings, args: argparse.Namespace) -> int:
    command = args.accounts_command
    if command == "list":
        print("name\trole\tstate\tpassword\tcreated (UTC)\tsessions")
        for a in await accounts.list_accounts(redis, keys):
            sessions = await account_sessions(redis, keys, a.name)
            state = "disabled" if a.disabled else "active"
            password = "yes" if a.has_password else "no"
            print(
                f"{a.name}\t{a.role.value}\t{state}\t{password}\t{iso(a.created_at)}\t{len(sessions)}"
            )
        return 0
    who: str = operator_entry("", "", "", {}).actor
    if command == "create":
        secret = _read_password() if args.password_stdin else None
        account = await accounts.create_account(
            redis, keys, args.name, Role(args.role), created_by=who, password=secret
        )
        await _audit(redis, keys, settings, "account.create", args.name, {"role": args.role})
        print(f"created {args.role} account {args.name!r}", file=sys.stderr)
        if not account.has_password:
            await _print_link(redis, keys, settings, args)
    elif command in ("disable", "enable"):
        await accounts.set_disabled(redis, keys, args.name, command == "disable")
        await _audit(
            redis,
            keys,
            settings,
            f"account.{command}",
            args.name,
            {"disabled": command == "disable"},
        )
        print(f"{command}d {args.name!r}", file=sys.stderr)
    elif command == "link":
        await _print_link(redis, keys, settings, args)
    else:  # password
        await accounts.set_password(redis, keys, args.name, _read_password())
        await _audit(redis, keys, settings, "account.password", args.name, {"password": "changed"})
        print(f"password of {args.name!r} set", file=sys.stderr)
    return 0


async def _print_link(
    redis: Redis, keys: Keys, settings: Settings, args: argparse.Namespace
) -> None:
    token = await accounts.create_link(redis, keys, args.name, settings.sign_in_link_ttl_s)
    await _audit(
        redis,
        keys,
        settings,
        "account.link",
        args.name,
        {"expires_in_s": settings.sign_in_link_ttl_s},
    )
    print(_url(settings, args.base_url, token))
    hours = settings.sign_in_link_ttl_s / 3600
    print(f"one-time sign-in link for {args.name!r}, valid {hours:g} h", file=sys.stderr)


async def _audit(
    redis: Redis, keys: Keys, settings: Settings, action: str, name: str, after: dict[str, Any]
) -> None:
    await AuditLog(redis, keys, settings).append(operator_entry(action, "account", name, after))
