"""A PostgreSQL server of a test's own: Debian's ``initdb`` and ``pg_ctl`` on a free port and a
temporary directory, for tests that stop, crash and restart the database (never the machine's
shared server on 5432). PostgreSQL refuses to run as root: as root, the server runs as the
``postgres`` user, which owns the directory."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import free_port


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's binaries (``/usr/lib/postgresql/<v>/bin``), if any."""
    found = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()]
    return max(found, key=lambda p: int(p.parent.name), default=None) if found else None


class PrivatePostgres:
    """``initdb`` once, then :meth:`start`, :meth:`stop` (``fast`` or ``immediate``: a crash,
    recovered from the WAL at the next start) as often as a test likes; :meth:`cleanup`
    stops it and removes its files."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="mod-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            user=self.user,
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stderr or result.stdout}\n{log}")

    def init(self) -> None:
        # --no-sync: the cluster's files need not reach the disk before the test starts; what
        # the test writes later is fsynced as in production.
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip

    def start(self, *settings: str) -> None:
        """Start the server (``settings``: more ``name=value`` server settings)."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir}"
        )
        options += "".join(f" -c {setting}" for setting in settings)
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60",
            "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def cleanup(self) -> None:
        if self.running():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
