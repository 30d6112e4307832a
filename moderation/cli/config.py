"""``moderation config``: the effective settings (after the environment), or the defaults."""

from __future__ import annotations

import argparse

from moderation.settings import Settings
from moderation.settings_doc import markdown_table


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("config", help="print the effective settings as a table")
    p.add_argument("--defaults", action="store_true", help="the defaults, not this environment")
    p.set_defaults(handler=cmd_config)


def cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    """Print the effective settings (after the environment) or the documentation table."""
    print(markdown_table(None if args.defaults else settings))
    return 0
