"""A copy of the record, and the record restored from one (``moderation db dump|restore``).

PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore`` (the client tools of a version at
least the server's must be on ``PATH``; the password goes through ``PGPASSWORD``, never the
command line). SQLite: SQLite's online backup, a consistent copy even while the archiver
writes, into a plain database file. A dump restores into the same kind of database only.

A restore goes into a database that has no schema yet (a new server, a new database, a file
that does not exist): it never merges into, or overwrites, a record in use.

Redis is copied with its own tools (``redis-cli --rdb``, or its AOF directory): README,
"Backup and restore".
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from moderation.errors import ConfigError
from moderation.record.database import Record


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A ``postgresql://`` URL the client tools take, without its password, and the
    environment that carries the password."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigError(f"{name} is not on PATH (install PostgreSQL's client tools)")
    return path


def _run(argv: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigError(f"{Path(argv[0]).name} failed: {result.stderr.strip()}")


def _sqlite_path(record: Record) -> Path:
    path = make_url(record.url).database
    if not path or path == ":memory:":
        raise ConfigError("an in-memory SQLite record has nothing to copy")
    return Path(path)


def _sqlite_copy(source: Path, target: Path) -> None:
    """``source`` into ``target`` through SQLite's backup API (consistent, WAL included)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _dump(record: Record, out: Path) -> None:
    if record.dialect == "postgresql":
        target, env = _libpq(make_url(record.url))
        _run([_tool("pg_dump"), "--format=custom", "--file", str(out), target], env)
        return
    source = _sqlite_path(record)
    if not source.exists():
        raise ConfigError(f"there is no record at {source} to copy")
    out.unlink(missing_ok=True)
    _sqlite_copy(source, out)


def _restore(record: Record, dump_file: Path) -> None:
    if not dump_file.is_file():
        raise ConfigError(f"no dump at {dump_file}")
    with dump_file.open("rb") as handle:
        is_sqlite = handle.read(16) == b"SQLite format 3\x00"
    if record.dialect == "postgresql":
        if is_sqlite:
            raise ConfigError(f"{dump_file} is an SQLite record; this record is PostgreSQL")
        target, env = _libpq(make_url(record.url))
        argv = [_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error"]
        _run([*argv, "--dbname", target, str(dump_file)], env)
        return
    if not is_sqlite:
        raise ConfigError(f"{dump_file} is not an SQLite record; this record is SQLite")
    path = _sqlite_path(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sqlite_copy(dump_file, path)


async def dump(record: Record, out: Path) -> None:
    """Write a copy of ``record`` to ``out`` (replaced if it exists)."""
    await asyncio.to_thread(_dump, record, out)


async def restore(record: Record, dump_file: Path) -> None:
    """Fill ``record``, a database without a schema, from ``dump_file`` (written by
    :func:`dump` from the same kind of database)."""
    if record.exists() and await record.revision() is not None:
        raise ConfigError("the record already has a schema: restore into a new, empty database")
    await record.engine.dispose()  # no connection of ours on an SQLite file being written
    await asyncio.to_thread(_restore, record, dump_file)
