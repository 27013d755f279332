"""The async engine, the migrations (Alembic, frozen files in migrations/versions) and the unit-of-work
session."""

from __future__ import annotations

import asyncio
import fcntl
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session as OrmSession
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger(__name__)
T = TypeVar("T")

POOL_SIZE = 16
CLOSE_TIMEOUT = 5.0  # seconds to close connections left behind


MIGRATIONS_DIR = Path(__file__).parent / "migrations"
PG_MIGRATION_LOCK = 7_302_915  # any fixed number: PostgreSQL's advisory lock for migrating


WRITTEN = "written"  # session.info key: the tables a transaction changed


@event.listens_for(OrmSession, "after_flush")
def _note_written(session: OrmSession, _context: Any) -> None:
    written = session.info.setdefault(WRITTEN, set())
    written.update(row.__tablename__ for row in (*session.new, *session.dirty, *session.deleted))


def written(session: AsyncSession) -> frozenset[str]:
    """The tables a transaction changed through the ORM (rows added, changed or deleted), so that what
    depends on them (timers, the meeting plan, the outbox) is woken only when it must be."""
    return frozenset(session.info.get(WRITTEN, ()))


class SchemaError(Exception):
    """The database cannot be used by this version of the bot; the message says why and what to do."""


def _head() -> str:
    """The newest revision, from the file names (`0002_lease.py` is revision 0002): a start on an up-to-date
    database then needs no Alembic at all."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))


HEAD = _head()


def _at_head(conn: Connection) -> bool:
    if not inspect(conn).has_table("alembic_version"):
        return False
    return [row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")] == [HEAD]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")  # a slow, shared disk is no reason to drop a command
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    """Owns the engine; `session()` is one transaction that commits or rolls back whole."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[1] if ":///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Room for the outbox's parallel sends, the dispatcher and the timers at once.
        # Every session ends in a commit or a rollback, and closing a connection rolls back what is left:
        # the pool's own rollback on return would be one more trip to SQLite's thread per transaction.
        sqlite = url.startswith("sqlite")
        self.engine: AsyncEngine = create_async_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_SIZE,
                                                       pool_reset_on_return=None if sqlite else "rollback")
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        # Every driver connection made, until it is really closed. The pool's own close events are
        # not proof: a connection invalidated outside the event loop's reach may stay open.
        self._made: list[Any] = []
        self.closed = False
        event.listen(self.engine.sync_engine, "connect", self._track)

    def _track(self, conn: Any, _record: Any) -> None:
        self._made = [c for c in self._made if _driver(c) is not None]
        self._made.append(conn)

    async def migrate(self) -> list[str]:
        """Bring the schema up to date; returns the revisions applied now. Two processes starting at once
        migrate one after the other (a file lock beside SQLite's file, an advisory lock on PostgreSQL)."""
        async with self._migration_lock(), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})")
            if await conn.run_sync(_at_head):
                done: list[str] = []
            else:
                from bot.state.migrate import upgrade  # Alembic is a large import: only when there is work

                done = await conn.run_sync(upgrade)
        if done:
            log.info("database migrated to version %s", done[-1])
        return done

    @asynccontextmanager
    async def _migration_lock(self) -> AsyncIterator[None]:
        path = self.url.split(":///", 1)[1] if self.url.startswith("sqlite") and ":///" in self.url else ""
        if not path or path == ":memory:":
            yield
            return
        with open(f"{path}.migrate-lock", "a") as handle:  # noqa: ASYNC230 - a lock file, once at start
            await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        if self.closed:  # a task that outlived its app must not take the write lock from the next one
            raise DatabaseClosed(self.url.split("://", 1)[0])
        try:
            async with AsyncSession(self.engine, expire_on_commit=False) as session, session.begin():
                yield session
        except OperationalError as exc:
            if "locked" in str(exc):  # someone held the write lock past the busy timeout: who?
                log.error("database is locked; %s; tasks: %s", self.engine.pool.status(), _tasks_now())
            raise

    async def write(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """One transaction that a cancellation of the caller does not cut in half.

        A cancelled task in the middle of a write can leave its connection holding SQLite's write
        lock; background loops that are cancelled at stop write through here.
        """
        async def run() -> T:
            async with self.session() as session:
                return await work(session)

        return await asyncio.shield(run())

    async def close(self) -> None:
        """Close every connection, also one a cancelled task never gave back.

        An abandoned transaction would otherwise keep SQLite's write lock until the process ends;
        it is rolled back (it never committed, so the work it was part of is done again later).
        """
        self.closed = True
        await self.engine.dispose()
        left = [raw for raw in map(_driver, self._made) if raw is not None]
        if left:
            log.warning("closing %d database connections that were never given back", len(left))
            # All at once: a statement waiting for a lock ends as soon as the holder is closed.
            closing = asyncio.gather(*(raw.close() for raw in left), return_exceptions=True)
            try:
                await asyncio.wait_for(closing, CLOSE_TIMEOUT)
            except TimeoutError:
                log.error("database connections still open after %.0f s; the process exit closes them",
                          CLOSE_TIMEOUT)
        self._made.clear()


def _tasks_now() -> str:
    """Every task of the event loop and where it waits, for the log."""
    where = []
    for task in asyncio.all_tasks():
        frames = task.get_stack(limit=4)
        place = " < ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in reversed(frames))
        where.append(f"{task.get_name()} at {place}")
    return "; ".join(sorted(where))


class DatabaseClosed(RuntimeError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"the {kind} database was closed; work after the bot stopped is not done")


def _driver(conn: Any) -> Any:
    """The driver's asyncio connection behind SQLAlchemy's adapter, or None once it is closed."""
    raw = getattr(conn, "_connection", None)
    if raw is None:
        return None
    # aiosqlite: no sqlite3 connection, or its thread told to stop (closing it again would wait forever).
    if getattr(raw, "_connection", True) is None or getattr(raw, "_running", True) is False:
        return None
    is_closed = getattr(raw, "is_closed", None)  # asyncpg
    if callable(is_closed) and is_closed():
        return None
    return raw
