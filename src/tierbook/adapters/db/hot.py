"""`HotReads` on the driver's own connection: the hot read's two statements, nothing more.

A unit of work costs a read more than its statements: SQLAlchemy's connection, its events and
result machinery run on every call. Here each statement is compiled once for the engine's
dialect from the same table definitions as everywhere else, run on the DBAPI connection, and
its values converted by the column types' own result processors, so a snapshot holds exactly
what the repositories would have read.

SQLite serves these reads in the event loop's thread: each thread keeps one connection of its
own (taken from the engine's pool once, and discarded if it fails). On PostgreSQL the reads
run in worker threads, and each takes a connection from the pool for the read and returns it.

A read the driver fails gives no snapshot (None), as does a member that does not exist: the
caller then answers through its unit of work, which reports what went wrong.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.pool import PoolProxiedConnection

from tierbook.adapters.db.repositories_catalog import (
    MEMBER_WITH_PROGRAM,
    member_from_row,
    parsed_programs,
)
from tierbook.adapters.db.serialize import state_from_dict
from tierbook.adapters.db.tables import profile_tier_ids, tier_states
from tierbook.service.model import MemberSnapshot, StateRecord
from tierbook.service.ports import StateKeys

StateKey = tuple[int, str]


class _Statement:
    """A statement compiled for one dialect, run on a DBAPI cursor; rows as named tuples."""

    def __init__(self, statement: sa.Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self._positional = compiled.positiontup
        self._row: Any = namedtuple("_Row", list(statement.selected_columns.keys()))  # type: ignore[misc]
        self._convert = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        ]

    def rows(self, cursor: Any, values: Mapping[str, Any]) -> list[Any]:
        params = (
            [values[name] for name in self._positional]
            if self._positional is not None
            else dict(values)
        )
        cursor.execute(self.sql, params)
        rows = []
        for raw in cursor.fetchall():
            pairs = zip(self._convert, raw, strict=True)
            rows.append(self._row._make([v if f is None or v is None else f(v) for f, v in pairs]))
        return rows


def _states_with_record_ids(groups: int, subjects: int) -> sa.Select[Any]:
    """The states of `groups` groups' `subjects` subjects (bound as g0…, s0…; a primary-key
    look-up each) with the Omneo record id each has for `member_id`."""
    c, ids = tier_states.c, profile_tier_ids.c
    return (
        sa.select(c.group_id, c.subject_id, c.body, c.created_at, c.updated_at, ids.id)
        .select_from(
            tier_states.outerjoin(
                profile_tier_ids,
                sa.and_(
                    ids.tenant_id == c.tenant_id,
                    ids.group_id == c.group_id,
                    ids.member_id == sa.bindparam("member_id"),
                ),
            )
        )
        .where(
            c.tenant_id == sa.bindparam("tenant_id"),
            c.group_id.in_([sa.bindparam(f"g{i}") for i in range(groups)]),
            c.subject_id.in_([sa.bindparam(f"s{i}") for i in range(subjects)]),
        )
    )


class SqlHotReads:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect
        self._sqlite = engine.dialect.name == "sqlite"
        self._error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._member = _Statement(MEMBER_WITH_PROGRAM, engine.dialect)
        self._states: dict[tuple[int, int], _Statement] = {}
        self._local = threading.local()

    def snapshot(self, tenant_id: str, member_id: str, keys: StateKeys) -> MemberSnapshot | None:
        if self._sqlite:
            return self._on_kept_connection(lambda c: self._read(c, tenant_id, member_id, keys))
        try:
            connection = self._engine.raw_connection()
        except self._error:
            return None
        try:
            return self._read(connection, tenant_id, member_id, keys)
        except self._error:
            connection.invalidate()
            return None
        finally:
            connection.close()  # back to the pool, which rolls the read transaction back

    def _on_kept_connection(
        self, read: Callable[[Any], MemberSnapshot | None]
    ) -> MemberSnapshot | None:
        connection: PoolProxiedConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._engine.raw_connection()
        cursor = connection.cursor()
        try:
            # pysqlite's own transaction handling is off (see `engine`): this BEGIN makes the
            # two statements one snapshot.
            cursor.execute("BEGIN")
            try:
                return read(connection)
            finally:
                cursor.execute("ROLLBACK")
        except self._error:
            self._local.connection = None
            connection.invalidate()
            return None
        finally:
            cursor.close()

    def _read(
        self, connection: Any, tenant_id: str, member_id: str, keys: StateKeys
    ) -> MemberSnapshot | None:
        cursor = connection.cursor()
        try:
            found = self._member.rows(cursor, {"tenant_id": tenant_id, "member_id": member_id})
            if not found:
                return None
            (row,) = found
            member = member_from_row(row)
            program = parsed_programs.program(tenant_id, row)
            wanted = list(dict.fromkeys(keys(program, member)))
            records: dict[StateKey, StateRecord] = {}
            record_ids: dict[int, int] = {}
            if wanted:
                for state in self._state_rows(cursor, tenant_id, member_id, wanted):
                    key = (state.group_id, state.subject_id)
                    if key not in wanted:  # the statement asks for every group of every subject
                        continue
                    body = state_from_dict(state.body)
                    records[key] = StateRecord(body, state.created_at, state.updated_at)
                    if state.id is not None:
                        record_ids[state.group_id] = state.id
            return MemberSnapshot(member, program, records, record_ids)
        finally:
            cursor.close()

    def _state_rows(
        self, cursor: Any, tenant_id: str, member_id: str, wanted: Sequence[StateKey]
    ) -> list[Any]:
        group_ids = sorted({g for g, _ in wanted})
        subject_ids = sorted({s for _, s in wanted})
        shape = (len(group_ids), len(subject_ids))
        statement = self._states.get(shape)
        if statement is None:
            statement = self._states[shape] = _Statement(
                _states_with_record_ids(*shape), self._dialect
            )
        values: dict[str, Any] = {"tenant_id": tenant_id, "member_id": member_id}
        values.update({f"g{i}": g for i, g in enumerate(group_ids)})
        values.update({f"s{i}": s for i, s in enumerate(subject_ids)})
        return statement.rows(cursor, values)
