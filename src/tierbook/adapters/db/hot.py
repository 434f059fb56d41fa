"""`HotReads` on the driver's own connection: the hot read in one statement, nothing more.

A unit of work costs a read more than its statement: SQLAlchemy's connection, its events and
result machinery run on every call, and a transaction costs a `BEGIN` and a `ROLLBACK` (round
trips, on PostgreSQL). Here the member, its program's etag, the states of its subjects (its own
and its household's) and their Omneo record ids come in one statement, so one snapshot, with no
transaction around it. The statement is compiled once for the engine's dialect from the same
table definitions as everywhere else, run on the DBAPI connection, and its values converted by
the column types' own result processors, so a snapshot holds exactly what the repositories
would have read.

SQLite serves these reads in the event loop's thread: a read there is a few page look-ups in
this process, and handing it to a worker thread and back would cost more than the read. Each
thread keeps one connection of its own (taken from the engine's pool once, and discarded if it
fails).

On PostgreSQL the read waits on the network, and the event loop serves other requests
meanwhile: while the application runs (`open` to `close`, its lifespan) the reads take
psycopg's asynchronous connections from a pool of their own (psycopg_pool), in autocommit (a
lone SELECT needs no transaction), with no worker thread involved; handing each read to a
thread and back serves about half as many. There the statement is prepared once on each
connection and run through psycopg's libpq layer (`pq`), its rows loaded by psycopg's own
transformer: the same values a cursor gives, without a cursor's per-call set-up (about a
third of the statement's client CPU). Outside the lifespan (no pool open in the running
event loop) a read runs in a worker thread on a connection of the engine's pool, without the
liveness ping the main pool makes on every checkout. Either way a connection that died fails
the read, which is then answered the ordinary way, and so is a read that found no pooled
connection free within `POOL_WAIT_S` (the database unreachable, or every connection busy far
longer than a read takes).

A read the driver fails gives no snapshot (None), as does a member that does not exist, or one
whose program this process has not parsed at its current etag (the statement leaves the
program's document out): the caller then answers through its unit of work, which reports what
went wrong, or reads and keeps the program.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import namedtuple
from collections.abc import Mapping
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import abc, generators, pq
from psycopg.adapt import Transformer
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import Dialect, Engine

from tierbook.adapters.db.repositories_catalog import member_from_row, parsed_programs
from tierbook.adapters.db.serialize import state_from_json
from tierbook.adapters.db.tables import members, profile_tier_ids, programs, tier_states
from tierbook.service.model import MemberSnapshot, StateRecord
from tierbook.service.ports import StateKeys

StateKey = tuple[int, str]
_Pool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]

POOL_WAIT_S = 1.0
"""How long a PostgreSQL hot read waits for a pooled connection before the route answers it."""


class _Statement:
    """A statement compiled for one dialect, run on a DBAPI cursor; rows as named tuples."""

    def __init__(self, statement: sa.Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self._positional = compiled.positiontup
        self._row: Any = namedtuple("_Row", list(statement.selected_columns.keys()))  # type: ignore[misc]
        convert = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        ]
        # The columns a value needs converting in (on SQLite: instants and JSON), by position.
        self._convert = [(i, f) for i, f in enumerate(convert) if f is not None]

    def rows(self, cursor: Any, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The rows as the driver gives them; `row` converts them."""
        cursor.execute(self.sql, self._params(values))
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows

    def _params(self, values: Mapping[str, Any]) -> Any:
        if self._positional is not None:
            return [values[name] for name in self._positional]
        return dict(values)

    def row(self, raw: tuple[Any, ...], start: int = 0) -> Any:
        """A row converted, as a named tuple; columns before `start` are left out (None)."""
        values = list(raw)
        if start:
            values[:start] = [None] * start
        for index, convert in self._convert:
            value = values[index]
            if value is not None:
                values[index] = convert(value)
        return self._row._make(values)


class _Prepared:
    """A statement prepared on each asynchronous psycopg connection that runs it, and run there
    through libpq (`psycopg.pq`): no cursor, no query conversion, one round trip.

    Its parameters are strings, sent in libpq's text format (one holding a NUL is refused, as a
    cursor refuses it); its rows come back as the driver's values, loaded by psycopg's
    transformer (one kept per connection), exactly as a cursor's.
    A connection is prepared on its first read. A read that fails closes its connection, so
    the pool replaces it with one prepared afresh.
    """

    NAME = b"tierbook_hot_snapshot"

    def __init__(self, statement: sa.Select[Any]) -> None:
        dialect = PGDialect_psycopg(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]
        compiled = statement.compile(dialect=dialect)
        self._sql = compiled.string.encode()
        self._names = list(compiled.positiontup or ())
        self._transformers: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], abc.Transformer]
        self._transformers = weakref.WeakKeyDictionary()

    async def rows(
        self, connection: psycopg.AsyncConnection[Any], values: Mapping[str, str]
    ) -> list[tuple[Any, ...]]:
        params = [values[name].encode() for name in self._names]
        if any(b"\x00" in param for param in params):  # libpq would cut the text there
            raise psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
        try:
            return await self._rows(connection, params)
        except BaseException:
            await connection.close()
            raise

    async def _rows(
        self, connection: psycopg.AsyncConnection[Any], params: list[bytes]
    ) -> list[tuple[Any, ...]]:
        pgconn = connection.pgconn
        transformer = self._transformers.get(connection)
        if transformer is None:
            pgconn.send_prepare(self.NAME, self._sql)
            _check(await connection.wait(generators.execute(pgconn)), pq.ExecStatus.COMMAND_OK)
            transformer = self._transformers[connection] = Transformer(connection)
        pgconn.send_query_prepared(self.NAME, params)
        result = _check(await connection.wait(generators.execute(pgconn)), pq.ExecStatus.TUPLES_OK)
        transformer.set_pgresult(result)
        return transformer.load_rows(0, result.ntuples, tuple)


def _check(results: list[pq.abc.PGresult], status: pq.ExecStatus) -> pq.abc.PGresult:
    """The statement's one result, or the server's error as the driver's."""
    result = results[-1]
    if len(results) != 1 or result.status != status:
        message = (result.error_message or b"unexpected result").decode(errors="replace")
        raise psycopg.DatabaseError(message.strip())
    return result


def _snapshot_statement() -> sa.Select[Any]:
    """The member with its program's etag (one row per state), left-joined to the states whose
    subject is the member or its household, each with the member's Omneo record id for its
    group. The program's document stays out: a kept parse answers by the etag."""
    s, ids, m, p = tier_states.c, profile_tier_ids.c, members.c, programs.c
    return (
        sa.select(members, p.etag.label("program_etag"))
        .join_from(members, programs, sa.and_(p.tenant_id == m.tenant_id, p.id == m.program_id))
        .where(m.tenant_id == sa.bindparam("tenant_id"), m.id == sa.bindparam("member_id"))
        .add_columns(
            s.group_id.label("state_group_id"),
            s.subject_id.label("state_subject_id"),
            sa.cast(s.body, sa.Text).label("state_body"),
            s.created_at.label("state_created_at"),
            s.updated_at.label("state_updated_at"),
            ids.id.label("profile_tier_id"),
        )
        .outerjoin(
            tier_states,
            sa.and_(
                s.tenant_id == m.tenant_id,
                s.subject_id.in_([m.id, m.household_id]),
                # `+ 0` keeps SQLite's planner (which has no statistics on a new database) off
                # the (tenant, program, tier) index: that would read every state of the program.
                s.program_id + sa.literal_column("0") == m.program_id,
            ),
        )
        .outerjoin(
            profile_tier_ids,
            sa.and_(
                ids.tenant_id == m.tenant_id,
                ids.group_id == s.group_id,
                ids.member_id == m.id,
            ),
        )
    )


SNAPSHOT = _snapshot_statement()
# Where the state columns start (its group, then its subject): those before repeat on every row.
_STATE_COLUMNS = list(SNAPSHOT.selected_columns.keys()).index("state_group_id")
assert list(SNAPSHOT.selected_columns.keys())[_STATE_COLUMNS + 1] == "state_subject_id"


class SqlHotReads:
    def __init__(self, engine: Engine, *, pool_size: int = 5) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._statement = _Statement(SNAPSHOT, engine.dialect)
        self._prepared = None if self._sqlite else _Prepared(SNAPSHOT)
        self._local = threading.local()
        self._pool_size = pool_size
        # One pool per event loop that opened one (an application's, for its lifespan).
        self._pools: dict[asyncio.AbstractEventLoop, _Pool] = {}

    async def open(self) -> None:
        """On PostgreSQL, open a pool of asynchronous connections for the reads that run in
        this event loop, until `close` is awaited in it."""
        loop = asyncio.get_running_loop()
        if self._sqlite or loop in self._pools:
            return
        # What the engine connects with, its adapters (how it decodes JSON) included.
        args, options = self._engine.dialect.create_connect_args(self._engine.url)
        adapters = options.pop("context", None)
        pool: _Pool = AsyncConnectionPool(
            make_conninfo(*args, **options),
            min_size=1,
            max_size=self._pool_size,
            kwargs={"autocommit": True, "context": adapters},
            open=False,
            name="tierbook-hot-reads",
        )
        await pool.open(wait=False)
        self._pools[loop] = pool

    async def close(self) -> None:
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.close()

    async def snapshot(
        self, tenant_id: str, member_id: str, keys: StateKeys
    ) -> MemberSnapshot | None:
        values = {"tenant_id": tenant_id, "member_id": member_id}
        try:
            if self._sqlite:
                rows = self._rows_sqlite(values)
            elif (pool := self._pools.get(asyncio.get_running_loop())) is not None:
                rows = await self._rows_async(pool, values)
            else:
                rows = await asyncio.to_thread(self._rows_pooled, values)
        except (self._error, sa.exc.DBAPIError):  # the driver's, or SQLAlchemy's connecting
            return None
        return self._snapshot(tenant_id, rows, keys)

    def _snapshot(
        self, tenant_id: str, rows: list[tuple[Any, ...]], keys: StateKeys
    ) -> MemberSnapshot | None:
        if not rows:
            return None
        statement = self._statement
        first = statement.row(rows[0])
        member = member_from_row(first)
        program = parsed_programs.by_etag(tenant_id, member.program_id, first.program_etag)
        if program is None:
            return None  # not parsed here at its current etag: the unit of work reads it
        wanted = set(keys(program, member))
        records: dict[StateKey, StateRecord] = {}
        record_ids: dict[int, int] = {}
        for raw in rows:
            # The member's states in groups the read did not ask for stay out, unconverted.
            key = (raw[_STATE_COLUMNS], raw[_STATE_COLUMNS + 1])  # as the driver gives them
            if key not in wanted:
                continue
            # Each row repeats the member and its program: only the state's columns are read.
            row = first if raw is rows[0] else statement.row(raw, _STATE_COLUMNS)
            state = state_from_json(row.state_body)
            records[key] = StateRecord(state, row.state_created_at, row.state_updated_at)
            if row.profile_tier_id is not None:
                record_ids[row.state_group_id] = row.profile_tier_id
        return MemberSnapshot(member, program, records, record_ids)

    async def _rows_async(self, pool: _Pool, values: Mapping[str, str]) -> list[tuple[Any, ...]]:
        # Taken and given back by hand: in autocommit the pool's context manager would only
        # add a transaction check on exit (about 20 µs of a read's CPU). Given back, a
        # connection that failed is closed and replaced by the pool.
        assert self._prepared is not None
        connection = await pool.getconn(POOL_WAIT_S)
        try:
            return await self._prepared.rows(connection, values)
        finally:
            await pool.putconn(connection)

    def _rows_sqlite(self, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._engine.raw_connection()
        cursor = connection.cursor()
        try:
            return self._statement.rows(cursor, values)
        except self._error:
            self._local.connection = None
            connection.invalidate()
            raise
        finally:
            cursor.close()

    def _rows_pooled(self, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        connection = self._engine.raw_connection()
        try:
            connection.driver_connection.autocommit = True  # type: ignore[union-attr]
            cursor = connection.cursor()
            try:
                return self._statement.rows(cursor, values)
            finally:
                cursor.close()
        except self._error:
            connection.invalidate()
            raise
        finally:
            connection.close()
