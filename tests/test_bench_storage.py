"""bench/storage.py runs end to end on a few comments and prints every figure it promises."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_the_storage_bench_runs_on_200_comments() -> None:
    out = subprocess.run(
        [sys.executable, "bench/storage.py", "--n", "200", "--no-postgres", "--breakdown"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert "command:" in out
    assert "decisions/s" in out and "archive to SQLite" in out
    for stage in ("inside the spam windows", "after the windows", "after retention"):
        assert stage in out and "B/comment beyond the text" in out
    assert "by key: mod:comment:*" in out
    assert "counts: ids kept in the approved sets" in out
