"""``moderation eval spam|toxicity``: the scorers measured on labelled data."""

from __future__ import annotations

import argparse
from pathlib import Path

from moderation.settings import Settings


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("eval", help="evaluate scorers on labelled data")
    esub = p.add_subparsers(dest="eval_command", required=True)
    e = esub.add_parser("spam", help="spam scorer: zero-shot and prequential (learning) figures")
    e.add_argument(
        "--data",
        nargs="+",
        required=True,
        type=Path,
        help="YouTube Spam Collection CSVs and/or the SMS Spam Collection file (or directories)",
    )
    e.add_argument("--mode", choices=["zero-shot", "prequential", "both"], default="both")
    e.add_argument("--limit", type=int, help="replay only the first N comments (time order)")
    e.add_argument("--shuffle", type=int, metavar="SEED", help="replay in a seeded random order")
    e.add_argument(
        "--redis-url",
        help="use this Redis (default: a private redis-server, whatever MODERATION_REDIS_URL says,"
        " so an evaluation never touches production data)",
    )
    e.add_argument(
        "--out", type=Path, default=Path("var/eval"), help="folder for the learning-curve PNG"
    )
    e.add_argument("--show-errors", type=int, default=0, metavar="N", help="list N mistakes")
    e.add_argument(
        "--feedback",
        choices=["all", "reviewed"],
        default="all",
        help="prequential labels: every comment, or only what moderators would review",
    )
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.set_defaults(handler=cmd_eval_spam)

    e = esub.add_parser("toxicity", help="toxicity scorer: ROC AUC, precision/recall at the policy")
    e.add_argument("--data", required=True, type=Path, help="a CSV file with a header")
    e.add_argument("--text-column", required=True, help="the column holding the comment text")
    e.add_argument("--label-column", required=True, help="the column holding the label")
    e.add_argument(
        "--positive",
        action="append",
        default=[],
        metavar="VALUES",
        help="label values meaning toxic, comma-separated (default: 1,true,yes,toxic); "
        "for Davidson's class column: --positive 0,1 (hate, offensive)",
    )
    e.add_argument("--limit", type=int, help="only the first N rows")
    e.add_argument("--batch-size", type=int, default=32, help="comments per scoring batch")
    e.add_argument("--out", type=Path, default=Path("var/eval"), help="folder for the PNG plots")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.set_defaults(handler=cmd_eval_toxicity)


# The evaluations (and the scorers, plotting and data libraries they load) are imported only
# when one runs.


def cmd_eval_spam(settings: Settings, args: argparse.Namespace) -> int:
    from moderation.evaluation import spam

    return spam.run(settings, args)


def cmd_eval_toxicity(settings: Settings, args: argparse.Namespace) -> int:
    from moderation.evaluation import toxicity

    return toxicity.run(settings, args)
