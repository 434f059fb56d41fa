"""Engines for SQLite and PostgreSQL, with the driver's quirks and errors handled at this edge.

SQLite: WAL (readers never wait for the writer), foreign keys on, `synchronous=NORMAL` (durable
at each checkpoint, safe in WAL), a busy timeout, and pysqlite's own transaction handling off,
so that tierbook chooses the `BEGIN`: `BEGIN IMMEDIATE` for a writing unit of work (it takes the
write lock at once, so two writers never both read and then fail to upgrade) and a deferred
`BEGIN` for readers.

Errors that mean "another writer won; retry" — SQLite's "database is locked", PostgreSQL's
serialization failures, deadlocks and lock timeouts — are raised as `ConcurrentUpdate`; a
database that cannot be reached (no connection could be made, or one was lost) as `Unavailable`.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, ExceptionContext, make_url
from sqlalchemy.pool import StaticPool

from tierbook.domain.errors import ConcurrentUpdate, Unavailable

WRITE_OPTION = "tierbook_write"
"""Connection execution option: true on a unit of work that will write."""


class Lock(Protocol):
    """A re-entrant lock: `threading.RLock`, or `multiprocessing.RLock` across processes."""

    def acquire(self, *, timeout: float) -> bool: ...

    def release(self) -> None: ...


@dataclass(frozen=True)
class WriterLock:
    """The SQLite engine's queue of writers (see `writer_lock`)."""

    lock: Lock
    timeout_s: float


_WRITER_LOCKS: weakref.WeakKeyDictionary[Engine, WriterLock] = weakref.WeakKeyDictionary()


def writer_lock(engine: Engine) -> WriterLock | None:
    """The lock a writing unit of work holds on a SQLite engine; None on PostgreSQL.

    SQLite has one write lock per database. Threads that wait for it inside SQLite sleep in its
    busy handler (for up to 100 ms at a time) instead of taking it the moment it is released,
    so under concurrent requests most of the time goes to sleeping. The engine's writers
    therefore queue on this lock first and reach `BEGIN IMMEDIATE` one at a time; other
    processes still meet SQLite's busy timeout.
    """
    return _WRITER_LOCKS.get(engine)


def share_writer_lock(engine: Engine, lock: Lock) -> None:
    """Queue a SQLite engine's writers on `lock`, which the engines of other processes share
    (a `multiprocessing.RLock`): their writers then take turns without sleeping in SQLite's
    busy handler. Nothing changes on PostgreSQL."""
    found = _WRITER_LOCKS.get(engine)
    if found is not None:
        _WRITER_LOCKS[engine] = WriterLock(lock, found.timeout_s)


_RETRYABLE_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
    }
)
_SQLITE_BUSY_MESSAGES = ("database is locked", "database is busy", "database table is locked")


def make_engine(
    url: str | URL,
    *,
    lock_timeout_s: float = 30.0,
    echo: bool = False,
    pool_size: int = 5,
    ping: bool = True,
) -> Engine:
    """An engine for `sqlite:///PATH` (or `sqlite://` in memory) or `postgresql+psycopg://…`.

    `lock_timeout_s` is how long a writer waits for another's lock before giving up with
    `ConcurrentUpdate`: SQLite's busy timeout, PostgreSQL's `lock_timeout`. `pool_size`
    connections are kept open (a server wants as many as it runs requests at once: beyond them,
    each request opens a connection and closes it again, which costs a PostgreSQL server a
    process start); up to 10 more are opened when needed. On PostgreSQL each checkout pings the
    server first (a round trip) unless `ping` is false.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    common: dict[str, Any] = {
        "echo": echo,
        "json_serializer": _dumps,
        "json_deserializer": orjson.loads,
    }
    if backend == "sqlite":
        engine = _sqlite_engine(parsed, lock_timeout_s, pool_size, common)
    elif backend == "postgresql":
        engine = _postgres_engine(
            parsed, lock_timeout_s, common | {"pool_size": pool_size, "pool_pre_ping": ping}
        )
    else:
        raise ValueError(f"tierbook supports sqlite and postgresql databases, not {backend!r}")
    event.listen(engine, "handle_error", _translate_error)
    return engine


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _postgres_engine(url: URL, lock_timeout_s: float, common: dict[str, Any]) -> Engine:
    given = url.query.get("options")
    options = [given] if isinstance(given, str) else list(given or ())
    options.append(f"-c lock_timeout={int(lock_timeout_s * 1000)}")
    # Instants come back in UTC, the zone every instant is handled in: no conversion on read.
    options.append("-c TimeZone=UTC")
    return sa.create_engine(url.update_query_dict({"options": " ".join(options)}), **common)


def _sqlite_engine(
    url: URL, busy_timeout_s: float, pool_size: int, common: dict[str, Any]
) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    # Every new connection to ":memory:" is a new, empty database: share one.
    pool: dict[str, Any] = {"poolclass": StaticPool} if in_memory else {"pool_size": pool_size}
    engine = sa.create_engine(
        url,
        # pysqlite's `timeout` is SQLite's busy timeout.
        connect_args={"check_same_thread": False, "timeout": busy_timeout_s},
        **pool,
        **common,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Turn off pysqlite's implicit BEGIN/COMMIT around DML and DDL; `_begin` below issues BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        # Straight to the driver: through SQLAlchemy's statement machinery a BEGIN costs a hot
        # read a tenth of its statement, and a single write 1.4% of its instructions.
        driver = connection.connection.driver_connection
        assert driver is not None, "a connection in use has its driver's connection"
        if not connection.get_execution_options().get(WRITE_OPTION, False):
            driver.execute("BEGIN")  # deferred: it takes no lock, so nothing can refuse it
            return
        try:
            driver.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_retryable(exc):  # another process held the write lock past the busy timeout
                raise _concurrent_update(exc) from exc
            raise

    _WRITER_LOCKS[engine] = WriterLock(threading.RLock(), busy_timeout_s)
    return engine


def _translate_error(context: ExceptionContext) -> None:
    original = context.original_exception
    if context.is_pre_ping:
        return  # the pool replaces the connection it pinged
    if context.connection is None or context.is_disconnect:
        # Connecting failed, or the connection was lost: the cause stays chained for the logs.
        raise Unavailable("the database cannot be reached; retry later") from original
    if _is_retryable(original):
        raise _concurrent_update(original) from original


def _concurrent_update(cause: BaseException) -> ConcurrentUpdate:
    """What a retryable failure of the driver (see `_is_retryable`) is reported as."""
    return ConcurrentUpdate(
        "another writer changed the same data at the same time; retry",
        details={"cause": str(cause).splitlines()[0] if str(cause) else None},
    )


def _is_retryable(exc: BaseException) -> bool:
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate in _RETRYABLE_SQLSTATES
    if isinstance(exc, sqlite3.OperationalError):
        message = str(exc).lower()
        return any(text in message for text in _SQLITE_BUSY_MESSAGES)
    return False
