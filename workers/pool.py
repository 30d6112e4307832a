"""A supervised pool of worker processes (``moderation worker --processes N``, ``moderation run``).

Contract:

* **N slots**, each running one child process (``python -m moderation worker --processes 1``
  with ``MODERATION_WORKER_NAME=<base>-<slot>``): a restarted child takes its slot's name, so
  its heartbeat replaces the dead one's and entries the dead one held are reclaimed by the
  group (``XAUTOCLAIM``), never left without an owner.
* **Restart with backoff**: a child that exits while the pool runs is logged and restarted
  after a delay that doubles on each quick failure (``backoff_s`` up to ``max_backoff_s``) and
  resets once a child has lived ``stable_s``. A slot that failed ``max_failures`` times in a row
  is given up (logged at error level); :attr:`Pool.failed` lists such slots and
  :meth:`Pool.run` returns 1 when every slot has been given up.
* **SIGTERM / SIGINT** to the pool are forwarded as SIGTERM to every child, which finishes and
  acknowledges the batch in hand and exits (``workers/scoring.py``); a child still running after
  ``stop_timeout_s`` is killed (its entries are then reclaimed by the others later).
* Children die with the pool (``PR_SET_PDEATHSIG`` on Linux): a pool killed with ``kill -9``
  leaves no orphan deciding comments under a name nobody supervises.
* Each child reports itself through its own heartbeat (``ops.heartbeat``), so ``moderation
  stats`` and ``/readyz`` see every process of the pool.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

log = logging.getLogger("moderation.pool")

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """``preexec_fn`` of a child that must not outlive its parent (Linux: SIGKILL on its death)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass  # not Linux: children outlive a killed pool, as plain processes would


def default_processes() -> int:
    """One worker process per core the pool may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not Linux
        return max(os.cpu_count() or 1, 1)


@dataclass(slots=True)
class _Slot:
    index: int
    name: str
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float = 0.0
    restarts: int = 0
    given_up: bool = False
    history: list[int] = field(default_factory=list)


#: The exit status of a process stopped by a configuration error (``errors.describe``'s).
CONFIG_EXIT = 2


class Pool:
    def __init__(
        self,
        processes: int,
        *,
        base_name: str,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        stable_s: float = 30.0,
        max_failures: int = 10,
        stop_timeout_s: float = 30.0,
    ) -> None:
        self.command = list(command or [sys.executable, "-m", "moderation", "worker"])
        self.env = dict(env if env is not None else os.environ)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.stable_s = stable_s
        self.max_failures = max_failures
        self.stop_timeout_s = stop_timeout_s
        self.slots = [_Slot(i, f"{base_name}-{i}") for i in range(max(processes, 1))]
        self._stop = threading.Event()

    # --- what operators and tests read ---------------------------------------------------------
    @property
    def pids(self) -> list[int]:
        return [s.process.pid for s in self.slots if s.process and s.process.poll() is None]

    @property
    def failed(self) -> list[str]:
        """The slots given up after ``max_failures`` quick failures in a row."""
        return [s.name for s in self.slots if s.given_up]

    @property
    def restarts(self) -> int:
        return sum(s.restarts for s in self.slots)

    # --- lifecycle -----------------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: stopping %d workers", signum, len(self.slots))
            self.request_stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run(self, poll_s: float = 0.1) -> int:
        """Supervise until asked to stop; returns 0, or, when every slot was given up, 2 if a
        worker stopped on a configuration error (as the worker itself would), else 1."""
        for slot in self.slots:
            self._start(slot)
        try:
            while not self._stop.wait(poll_s):
                self.check()
                if all(s.given_up for s in self.slots):
                    log.error("every worker slot failed; the pool gives up")
                    config = any(CONFIG_EXIT in s.history for s in self.slots)
                    return CONFIG_EXIT if config else 1
        finally:
            self.stop()
        return 0

    def check(self) -> None:
        """One supervision step: notice exits, restart what is due."""
        now = time.monotonic()
        for slot in self.slots:
            proc = slot.process
            if proc is not None and proc.poll() is not None:
                lived = now - slot.started
                slot.failures = 0 if lived >= self.stable_s else slot.failures + 1
                delay = min(self.backoff_s * 2 ** max(slot.failures - 1, 0), self.max_backoff_s)
                slot.history.append(proc.returncode)
                slot.process = None
                if proc.returncode == CONFIG_EXIT:
                    # A setting or a model is missing: restarting cannot mend that.
                    slot.given_up = True
                    log.error(
                        "worker %s stopped on a configuration error; not restarting it", slot.name
                    )
                    continue
                if slot.failures >= self.max_failures:
                    slot.given_up = True
                    log.error(
                        "worker %s exited with %s %d times in a row; not restarting it",
                        slot.name,
                        proc.returncode,
                        slot.failures,
                    )
                    continue
                slot.restart_at = now + delay
                log.warning(
                    "worker %s (pid %d) exited with %s after %.1fs; restarting in %.1fs",
                    slot.name,
                    proc.pid,
                    proc.returncode,
                    lived,
                    delay,
                )
            if slot.process is None and not slot.given_up and now >= slot.restart_at:
                if slot.history:
                    slot.restarts += 1
                self._start(slot)

    def stop(self) -> None:
        """SIGTERM every child (each finishes and acks its batch), then wait; kill stragglers."""
        self._stop.set()
        running = [s.process for s in self.slots if s.process and s.process.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for proc in running:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.error("worker pid %d did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.wait()

    def _start(self, slot: _Slot) -> None:
        env = {**self.env, "MODERATION_WORKER_NAME": slot.name}
        slot.process = subprocess.Popen(
            [*self.command, "--processes", "1"],
            env=env,
            preexec_fn=die_with_parent,  # only prctl between fork and exec: safe
        )
        slot.started = time.monotonic()
        log.info("worker %s started (pid %d)", slot.name, slot.process.pid)


__all__ = ["CONFIG_EXIT", "Pool", "default_processes", "die_with_parent"]
