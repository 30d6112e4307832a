"""Process logging: one format, and libraries' set-up chatter kept out of an operator's way."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import logging, sys
from moderation import logs
logs.setup(sys.argv[1])
for name in logs.QUIET:
    print(name, logging.getLogger(name).getEffectiveLevel())
logging.getLogger("alembic.runtime.plugins").info("setup plugin x")
logging.getLogger("moderation.pool").info("worker started")
"""


def run(level: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, level], capture_output=True, text=True, check=True
    )


def test_info_keeps_alembic_plugins_quiet_and_ours_visible() -> None:
    out = run("info")
    assert "alembic.runtime.plugins 30" in out.stdout
    assert "setup plugin" not in out.stderr
    line = next(ln for ln in out.stderr.splitlines() if "worker started" in ln)
    assert " INFO moderation.pool [" in line  # the format names the level, logger and pid


def test_debug_shows_everything() -> None:
    out = run("DEBUG")
    assert "setup plugin x" in out.stderr
