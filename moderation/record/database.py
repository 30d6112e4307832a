"""Where the record lives: its URL, its engine, and bringing its schema up to date.

``MODERATION_DATABASE_URL`` names the database with a plain URL (``postgresql://…`` or
``sqlite:///path``); the async driver (asyncpg, aiosqlite) is filled in here. Empty means an
embedded SQLite file under the data directory, so local use needs no server.

Migrations (Alembic, ``migrations/versions``) run programmatically by :meth:`Record.upgrade`,
under a lock so several processes starting together migrate once: a PostgreSQL advisory lock, or
for SQLite an exclusive lock on a file beside the database.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from moderation.errors import ConfigError
from moderation.settings import Settings

#: The embedded default, under ``Settings.data_dir``.
SQLITE_FILE = "record.sqlite3"
#: Key of the PostgreSQL advisory lock held while migrating (any constant of our own).
_MIGRATION_LOCK = 0x6D6F645F7265636F  # "mod_reco"
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"

_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


def record_url(settings: Settings) -> str:
    """The SQLAlchemy URL of the record, with its async driver."""
    raw = settings.database_url or f"sqlite:///{(settings.data_dir / SQLITE_FILE).resolve()}"
    try:
        url = make_url(raw)
    except sa.exc.ArgumentError:
        raise ConfigError(f"MODERATION_DATABASE_URL is not a database URL: {raw!r}") from None
    backend, _, driver = url.drivername.partition("+")
    if backend not in _DRIVERS:
        raise ConfigError(
            f"MODERATION_DATABASE_URL must name PostgreSQL or SQLite, not {url.drivername!r}"
        )
    if not driver:
        url = url.set(drivername=_DRIVERS[backend])
    return url.render_as_string(hide_password=False)


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(_alembic_config(connection), revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def head() -> str:
    """The newest schema revision this code knows."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    revision = ScriptDirectory.from_config(config).get_current_head()
    assert revision is not None
    return revision


class Record:
    """The record's engine. One per process; :meth:`close` releases its connections."""

    def __init__(self, url: str, **engine_kw: Any) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        if self.dialect == "sqlite":
            path = make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Readers and the archiver share the file: wait for a lock rather than fail.
            engine_kw.setdefault("connect_args", {"timeout": 30})
        else:
            engine_kw.setdefault("pool_pre_ping", True)
        self.engine: AsyncEngine = create_async_engine(url, **engine_kw)
        if self.dialect == "sqlite":
            sa.event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    async def close(self) -> None:
        await self.engine.dispose()

    def exists(self) -> bool:
        """Whether there can be anything to read: an SQLite file that was never created holds
        nothing (and reading must not create it); a server is assumed to exist."""
        if self.dialect != "sqlite":
            return True
        path = make_url(self.url).database
        return bool(path) and (path == ":memory:" or Path(str(path)).exists())

    async def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` (idempotent; safe with several processes)."""
        with self._file_lock():
            async with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    await conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
                await conn.run_sync(_upgrade, revision)

    async def revision(self) -> str | None:
        """The schema revision the database is at (``None``: never migrated)."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(_current)

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        path = make_url(self.url).database if self.dialect == "sqlite" else None
        if not path or path == ":memory:":
            yield
            return
        with open(f"{path}.migrate-lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers (the API) never wait for the archiver's writes, nor it for them.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a transaction the archiver acknowledged in Redis survives a power cut too.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


async def open_record(settings: Settings, *, migrate: bool = True) -> Record:
    """The record of ``settings``, its schema brought up to date unless ``migrate`` is off."""
    record = Record(record_url(settings))
    if migrate:
        try:
            await record.upgrade()
        except BaseException:
            await record.close()
            raise
    return record
