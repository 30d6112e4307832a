"""bench/latency.py on tiny inputs: both scorers, both ways of waiting, every load share, no
errors. It proves the script works; the figures themselves are not asserted."""

from __future__ import annotations

import pytest

from tests.conftest import PATIENT_SERVICE, run_bench


@pytest.mark.slow
def test_latency_bench_runs_every_row_without_errors() -> None:
    args = ["--scorers", "linear,onnx", "--size", "tiny", "--capacity", "20", "--seconds", "1",
            "--fill-seconds", "1", "--fill-rate", "20", *PATIENT_SERVICE]  # fmt: skip
    out = run_bench("-m", "bench.latency", *args, timeout=280)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| linear") or
            line.startswith("| onnx")]  # fmt: skip
    assert len(rows) == 12  # 2 scorers x 3 loads x 2 modes
    # | scorer | load | rate/s | mode | p50 ms | p99 ms | n | errors | Redis stall |
    assert all(row.split("|")[8].strip() == "0" for row in rows)  # no errors in any row
    assert all(row.split("|")[9].strip() for row in rows)  # a stall, or "—" for none
    # ... | AOF rewrites | s with fsync > 1 ms (median slowest) | AOF B/comment |: Redis runs
    # with appendfsync always, so every accepted comment wrote to the AOF (a row a rewrite
    # restarted says "—").
    aof = [row.split("|")[12].strip() for row in rows]
    assert all(a == "—" or int(a) > 0 for a in aof) and any(a != "—" for a in aof)
    assert all(row.split("|")[11].strip() for row in rows)
    # ... | CPU µs/comment: worker / API / Redis / bench | comments/batch |: every row's
    # comments cost Redis something (INFO cpu: microseconds) and the worker wrote them in
    # batches. A process' CPU comes from /proc in clock ticks (10 ms), which a row of 5
    # comments may not fill: the API's is counted in every row and spent over the run.
    api_total = 0
    for row in rows:
        worker, api, redis_cpu, _ = (int(x) for x in row.split("|")[13].split(" / "))
        assert redis_cpu > 0 and api >= 0 and worker >= 0
        assert float(row.split("|")[14]) > 0
        api_total += api
    assert api_total > 0
    assert "goal (linear, 50%, wait)" in out.stdout
    assert "[linear] filled: 20 comments at 20/s, 0 errors" in out.stdout
    # Every ?wait row splits its latency at the decision's time.
    waits = [line for line in out.stdout.splitlines() if " wait: p50" in line]
    assert len(waits) == 6 and all("(p50 server " in line for line in waits)
    assert "command: python -m bench.latency" in out.stdout


@pytest.mark.slow
def test_latency_bench_over_a_unix_socket_with_settings() -> None:
    """``--unix-socket``: the API and the worker reach Redis over a socket file (one host).
    ``--setting`` reaches the worker: a fixed linger of 500 ms gathers comments that arrive
    10 to 30 a second into batches of several (about 5 to 15), where the default takes each
    one alone at these rates."""
    args = ["--scorers", "linear", "--capacity", "40", "--seconds", "1", "--unix-socket",
            "--setting", "MODERATION_BATCH_LINGER_AUTO=false",
            "--setting", "MODERATION_BATCH_LINGER_MS=500", *PATIENT_SERVICE]  # fmt: skip
    out = run_bench("-m", "bench.latency", *args, timeout=200)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| linear")]
    assert len(rows) == 6  # 3 loads x 2 modes
    assert all(row.split("|")[8].strip() == "0" for row in rows)
    assert all(int(row.split("|")[7]) > 0 for row in rows)  # every row answered something
    assert all(float(row.split("|")[14]) >= 2 for row in rows)


def test_latency_bench_refuses_a_setting_that_is_not_ours() -> None:
    out = run_bench("-m", "bench.latency", "--setting", "PATH=/nowhere", timeout=30)
    assert out.returncode == 2
    assert "--setting names a MODERATION_* variable, not 'PATH'" in out.stderr
