"""The state database: one module that opens it, migrates it and runs its transactions.

Separate from the read-only ``species.sqlite``. SQLAlchemy 2 Core (async) over aiosqlite or asyncpg,
with the schema created and upgraded by the Alembic revisions in ``bot/state/migrations`` (table
definitions in :mod:`bot.state.tables`). The URL comes from ``STATE_DB_URL``: ``sqlite:///state.sqlite``
(the default; ``STATE_DB_PATH`` still names the file) or ``postgresql://user@host/db`` for several
replicas. The stores beside this module (:mod:`.quiz`, :mod:`.identifications`, :mod:`.stats`,
:mod:`.updates`) each add the queries of one job to :class:`Database`; :mod:`.store` joins them.

* SQLite: one connection, WAL (``journal_mode=WAL``, ``synchronous=NORMAL``: durable across application
  crashes; a power cut may lose the last transactions but never corrupts the file), foreign keys on,
  5 s busy timeout; writes in ``BEGIN IMMEDIATE`` transactions behind one :class:`asyncio.Lock`. A file
  made before Alembic (its schema number in ``PRAGMA user_version``) is stamped with the matching
  revision and upgraded. See https://www.sqlite.org/wal.html.
* PostgreSQL: a small connection pool.
* Transactions survive cancellation: a write started by :func:`completes_when_cancelled` runs to its
  commit or rollback even when the caller is cancelled.
* Every statement is built by SQLAlchemy with bound parameters.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Self, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool

from bot.state.tables import meta

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: The Alembic revisions, oldest first; revision ``MIGRATIONS[n - 1]`` is schema ``n`` (the number the
#: SQLite files made before Alembic kept in ``PRAGMA user_version``).
MIGRATIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004", "0005")

_F = TypeVar("_F", bound=Callable[..., Awaitable[Any]])


def completes_when_cancelled(method: _F) -> _F:
    """Run a write method in a task of its own: when the caller is cancelled, the write (its whole
    transaction) still runs to its end, then the cancellation is re-raised. A transaction cut in the
    middle of a statement could leave the shared SQLite connection locked."""

    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return await shielded(method(*args, **kwargs))

    return wrapper  # type: ignore[return-value]


async def shielded(awaitable: Any) -> Any:
    """Await ``awaitable`` to completion even if the caller is cancelled meanwhile (then re-raise)."""
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


def state_db_url(value: str | Path) -> str:
    """A SQLAlchemy async URL for ``value``: a file path (SQLite), ``":memory:"``, ``sqlite:///FILE`` or
    ``postgresql://...`` (also ``postgres://``); the driver (aiosqlite, asyncpg) is filled in.

    Raises:
        ValueError: for any other URL scheme.
    """
    text = str(value)
    if text == ":memory:":
        return "sqlite+aiosqlite://"
    if "://" not in text:
        return f"sqlite+aiosqlite:///{text}"
    if text.startswith("postgres://"):
        text = "postgresql://" + text[len("postgres://"):]
    url = make_url(text)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"STATE_DB_URL must be sqlite:///FILE or postgresql://..., not {backend!r}")


def redacted_url(url: str) -> str:
    """``url`` with its password hidden, for logs."""
    return make_url(url).render_as_string(hide_password=True)


class Database:
    """The open state database (engine, lock, transactions). Create with :meth:`open`, release with
    :meth:`close`; the job stores (:mod:`bot.state.quiz` ...) subclass it.

    Args (of :meth:`open`):
        target: a SQLite file path, ``":memory:"``, or a URL (see :func:`state_db_url`).
        salt: secret bytes for hashing chat ids in the identification log. When ``None``, a random
            32-byte salt is created once and kept in the database's ``meta`` table.
        clock: returns the current Unix time (tests pass a fake clock).
    """

    def __init__(self, engine: AsyncEngine, salt: bytes, clock: Callable[[], float]) -> None:
        self._engine = engine
        self._salt = salt
        self._clock = clock
        self._sqlite = engine.dialect.name == "sqlite"
        #: SQLite has one connection: transactions on it must not interleave.
        self._lock = asyncio.Lock() if self._sqlite else contextlib.nullcontext()

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    @classmethod
    async def open(
        cls,
        target: Path | str,
        salt: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Self:
        """Open (creating if needed) and migrate the state database.

        Raises:
            RuntimeError: the database's schema is newer than this program.
            ValueError: an unsupported URL.
            OSError, sqlalchemy.exc.DBAPIError: the database cannot be reached.
        """
        url = state_db_url(target)
        engine = _engine(url)
        try:
            async with engine.connect() as conn:
                await conn.run_sync(migrate)
            if salt is None:
                salt = await _stored_salt(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, salt, clock)

    async def close(self) -> None:
        """Close every connection (SQLite checkpoints the WAL)."""
        await self._engine.dispose()

    async def ping(self) -> bool:
        """True when the database answers a trivial query (for ``/readyz``); never raises."""
        try:
            async with self._lock, self._engine.connect() as conn:
                await asyncio.wait_for(conn.execute(select(1)), 5.0)
            return True
        except Exception:
            return False

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction (SQLite: ``BEGIN IMMEDIATE``). The commit or rollback finishes even
        when the caller is cancelled, so a cancelled task never leaves a connection inside an open
        transaction."""
        async with self._lock:
            task = asyncio.ensure_future(self._begin())
            try:
                conn = await asyncio.shield(task)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    late = await task
                    await late.rollback()
                    await late.close()
                raise
            try:
                try:
                    yield conn
                except BaseException:
                    await shielded(conn.rollback())
                    raise
                await shielded(conn.commit())
            finally:
                await shielded(conn.close())

    def transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """One write transaction, as the stores' own (for modules beside them: the round leases)."""
        return self._tx()

    async def _begin(self) -> AsyncConnection:
        conn = await self._engine.connect()
        try:
            await conn.begin()
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _one(self, stmt: Any) -> Any:
        async with self._lock, self._engine.connect() as conn:
            return (await conn.execute(stmt)).first()

    async def _all(self, stmt: Any) -> list[Any]:
        async with self._lock, self._engine.connect() as conn:
            return list((await conn.execute(stmt)).all())

    def _insert(self, table: Any) -> Any:
        return sqlite_insert(table) if self._sqlite else pg_insert(table)

    # -- information -------------------------------------------------------------------------------

    async def journal_mode(self) -> str:
        """The SQLite journal mode in use (``"wal"`` for a file database); ``""`` on PostgreSQL."""
        if not self._sqlite:
            return ""
        async with self._lock, self._engine.connect() as conn:
            row = (await conn.exec_driver_sql("PRAGMA journal_mode")).first()
        return str(row[0]).lower() if row else ""

    async def schema_version(self) -> int:
        """The number of migrations applied (the Alembic revision's position in :data:`MIGRATIONS`)."""
        async with self._lock, self._engine.connect() as conn:
            revision = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
        return MIGRATIONS.index(revision) + 1 if revision in MIGRATIONS else 0

def _engine(url: str) -> AsyncEngine:
    """An async engine for ``url``: SQLite with one connection, WAL and ``BEGIN IMMEDIATE``;
    PostgreSQL with a small pool."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, poolclass=StaticPool, connect_args={"timeout": 5})

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN itself
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(url, poolclass=AsyncAdaptedQueuePool, pool_size=5, max_overflow=5,
                               pool_pre_ping=True)


#: The PostgreSQL advisory-lock key that serialises migrations (any fixed 64-bit number; this one is
#: its CRC-32, so it is unlikely to collide with another application's keys).
MIGRATION_LOCK_KEY = 1822535078  # zlib.crc32(b"reptile-museum state migrations")


def migrate(conn: Connection) -> None:
    """Bring the schema to the newest Alembic revision on ``conn`` (sync; run with ``run_sync``).

    A SQLite file made before Alembic carries its schema number in ``PRAGMA user_version``: it is
    stamped with that revision first, so only the newer revisions run.

    On PostgreSQL the whole upgrade holds a transaction-level advisory lock
    (:data:`MIGRATION_LOCK_KEY`), so replicas starting together against a fresh database migrate it
    once, one after the other, instead of racing to create the same tables
    (https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS).

    Raises:
        RuntimeError: the database is newer than this program.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY:d})")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    heads = ScriptDirectory.from_config(config).get_heads()
    current = MigrationContext.configure(conn).get_current_revision()
    if current is None and conn.dialect.name == "sqlite":
        legacy = int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
        if legacy > len(MIGRATIONS):
            raise RuntimeError(
                f"state database schema version {legacy} is newer than this program ({len(MIGRATIONS)})")
        if legacy:
            command.stamp(config, MIGRATIONS[legacy - 1])
            current = MIGRATIONS[legacy - 1]
    if current is not None and current not in MIGRATIONS:
        raise RuntimeError(f"state database revision {current!r} is newer than this program ({heads})")
    command.upgrade(config, "head")
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA user_version = {len(MIGRATIONS):d}")
    conn.commit()


async def _stored_salt(engine: AsyncEngine) -> bytes:
    async with engine.begin() as conn:
        stmt = (sqlite_insert(meta) if engine.dialect.name == "sqlite" else pg_insert(meta)).values(
            key="chat_hash_salt", value=secrets.token_bytes(32).hex()
        ).on_conflict_do_nothing(index_elements=["key"])
        await conn.execute(stmt)
        value = (await conn.execute(
            select(meta.c.value).where(meta.c.key == "chat_hash_salt"))).scalar_one()
    return bytes.fromhex(value)
