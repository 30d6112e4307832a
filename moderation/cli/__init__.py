"""The ``moderation`` command.

``serve`` (API), ``worker`` (one scoring worker), ``run`` (all-in-one with an embedded Redis),
``archiver``, ``db upgrade|status``, ``export``, ``report``, ``tdb export|send``,
``keys create|list|revoke``, ``models pull|list|synth``, ``eval spam|toxicity``, ``stats``.

This module holds the parser and the dispatch; each command group lives in its own module
(``service``, ``config``, ``stats``, ``keys``, ``evaluate``, ``models``), which adds its
sub-commands to the parser. Errors are worded by :func:`moderation.errors.describe`, as they are
for the API and the web UI: one line on stderr and exit status 2 (a bug still raises).
"""

from __future__ import annotations

import argparse
import sys

from moderation import logs
from moderation.cli import (
    accounts,
    config,
    evaluate,
    keys,
    models,
    record,
    service,
    stats,
    transparency,
    webhooks,
)
from moderation.errors import describe
from moderation.settings import Settings

__all__ = ["build_parser", "main"]


def _setup_logging(settings: Settings) -> None:
    logs.setup(settings.log_level)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moderation", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    # In the order ``moderation --help`` lists them.
    service.add_parsers(sub)  # serve, worker, webhooks, run
    config.add_parsers(sub)
    stats.add_parsers(sub)
    record.add_parsers(sub)  # db upgrade|status, export
    transparency.add_parsers(sub)  # report, tdb export|send
    keys.add_parsers(sub)
    accounts.add_parsers(sub)  # accounts create|list|disable|enable|link|password
    webhooks.add_parsers(sub)  # webhooks [serve|add|list|remove|rotate|failures|replay]
    evaluate.add_parsers(sub)
    models.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        _setup_logging(settings)
        return int(args.handler(settings, args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        info = describe(exc)
        if info.unexpected:
            raise  # a bug: the traceback says more than a line could
        print(f"moderation: {info.message}", file=sys.stderr)
        return info.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
