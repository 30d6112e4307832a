"""bench/instructions.py counts a worker's instructions under callgrind on a small stream."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(
    shutil.which("valgrind") is None or shutil.which("callgrind_control") is None,
    reason="valgrind's callgrind is not installed",
)


def test_the_instructions_bench_counts_a_worker_and_redis_deciding_50_comments() -> None:
    out = subprocess.run(
        [sys.executable, "bench/instructions.py", "-n", "50", "--redis"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert "command:" in out
    found = re.search(r"worker instructions: ([\d,]+) for 50 comments = ([\d,]+) per comment", out)
    assert found is not None, out
    # Counting was on while the worker decided them: far more than nothing per comment.
    assert int(found.group(2).replace(",", "")) > 100_000
    in_redis = re.search(r"redis-server instructions: [\d,]+ = ([\d,]+) per comment", out)
    assert in_redis is not None, out
    assert int(in_redis.group(1).replace(",", "")) > 10_000
