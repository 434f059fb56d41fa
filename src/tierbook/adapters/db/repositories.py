"""What every SQL repository shares: the unit of work's connection, its clock, dialect helpers.

The repositories themselves live beside this module, one file per family:
`repositories_catalog` (programs, members), `repositories_ledger` (entries, assignments),
`repositories_state` (tier states and their history), `repositories_ops` (outbox, API keys,
checkpoints). None of them commits; the unit of work does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tierbook.adapters.db.tables import utc_instant
from tierbook.domain.errors import TierbookError
from tierbook.service.ports import Clock

T = TypeVar("T")

AnyRow = sa.Row[*tuple[Any, ...]]

CHUNK = 500
"""Rows per `IN (…)` list: far below SQLite's and PostgreSQL's bound-parameter limits."""


class SqlRepository:
    def __init__(self, connection: sa.Connection, clock: Clock, *, write: bool = True) -> None:
        self._conn = connection
        self._clock = clock
        self._write = write

    @property
    def _postgres(self) -> bool:
        return self._conn.dialect.name == "postgresql"

    def _insert(self, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
        """An INSERT that can say `ON CONFLICT`, in the connection's dialect."""
        return postgresql.insert(table) if self._postgres else sqlite.insert(table)

    def _now(self) -> datetime:
        return self._clock.now().astimezone(UTC)


Processor = Callable[[Any], Any]


def bind_processors(
    table: sa.Table, columns: Sequence[str], dialect: sa.Dialect
) -> list[tuple[int, Processor]]:
    """(position, processor) of each of `columns` whose type binds values for `dialect`: the
    processors SQLAlchemy applies to those columns' parameters (a JSON column's serializer, an
    instant's UTC text on SQLite), to run on plain rows."""
    return [
        (i, process)
        for i, name in enumerate(columns)
        if (process := table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]


class ManyRows:
    """A statement run once per row of values, as one DBAPI `executemany`.

    `Connection.execute(statement, [dict, ...])` builds and processes a parameter set per row
    inside SQLAlchemy: a fixed cost per row that the sweep's and a batch's writes pay thousands
    of times over. Here the statement is compiled once per dialect, each value goes through
    its column type's own bind processor (`bind_processors`, what SQLAlchemy applies), and the
    driver gets the rows as they are: tuples where its parameters are positional (SQLite),
    mappings where they are named (psycopg). Every parameter the statement binds is one of
    `columns`, each row holds their values in that order, and None binds NULL.
    """

    def __init__(self, statement: sa.Insert, table: sa.Table, columns: Sequence[str]) -> None:
        self._statement = statement
        self._table = table
        self.columns = tuple(columns)
        self._compiled: dict[str, tuple[str, bool, list[tuple[int, Processor]]]] = {}

    def __call__(self, connection: sa.Connection, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        text, positional, processors = self._compile(connection.dialect)
        bound: list[Any] = []
        for values in rows:
            row = list(values)
            for i, process in processors:
                if row[i] is not None:
                    row[i] = process(row[i])
            bound.append(tuple(row) if positional else dict(zip(self.columns, row, strict=True)))
        connection.exec_driver_sql(text, bound)

    def _compile(self, dialect: sa.Dialect) -> tuple[str, bool, list[tuple[int, Processor]]]:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self._statement.compile(dialect=dialect, column_keys=list(self.columns))
            names = list(compiled.positiontup or ()) if compiled.positional else None
            binds = set(compiled.binds)
            if binds != set(self.columns) or (names is not None and names != list(self.columns)):
                raise ValueError(f"the statement binds {sorted(binds)}, not {self.columns}")
            processors = bind_processors(self._table, self.columns, dialect)
            found = self._compiled[dialect.name] = (compiled.string, names is not None, processors)
        return found


def chunked(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def key_chunks(
    keys: Iterable[tuple[int, str]], size: int = CHUNK
) -> Iterator[tuple[int, Sequence[str]]]:
    """`(group_id, subject_ids)` chunks of (group_id, subject_id) keys, in key order.

    A lookup by many keys is written `group_id = ? AND subject_id IN (…)`, one group at a time,
    rather than `(group_id, subject_id) IN (…)`: SQLite's planner cannot use the primary key for
    a row-value `IN` list and would scan every row of the tenant instead.
    """
    by_group: dict[int, list[str]] = {}
    for group_id, subject_id in sorted(set(keys)):
        by_group.setdefault(group_id, []).append(subject_id)
    for group_id, subject_ids in by_group.items():
        for chunk in chunked(subject_ids, size):
            yield group_id, chunk


@dataclass(frozen=True, slots=True)
class SubjectSet:
    """Some (group_id, subject_id) keys, as the parameters of a `subjects_in` query."""

    keys: frozenset[tuple[int, str]]
    group_ids: list[int]
    subject_ids: list[str]


def subject_sets(keys: Iterable[tuple[int, str]], size: int = CHUNK) -> Iterator[SubjectSet]:
    """Keys in chunks, each read in one statement for all its groups (see `subjects_in`)."""
    for chunk in chunked(sorted(set(keys)), size):
        yield SubjectSet(
            keys=frozenset(chunk),
            group_ids=sorted({g for g, _ in chunk}),
            subject_ids=sorted({s for _, s in chunk}),
        )


def subjects_in(table: sa.Table) -> list[sa.ColumnElement[bool]]:
    """`group_id IN (…) AND subject_id IN (…)` of one tenant, for a `SubjectSet`'s parameters.

    Both databases search the `(tenant_id, group_id, subject_id)` key for every pair of the two
    lists (unlike a row-value `IN`, see `key_chunks`), and one statement serves every group. A
    pair that was not asked for may be found too: callers keep only the set's `keys`.
    """
    return [
        table.c.tenant_id == sa.bindparam("tenant_id"),
        table.c.group_id.in_(sa.bindparam("group_ids", expanding=True)),
        table.c.subject_id.in_(sa.bindparam("subject_ids", expanding=True)),
    ]


def subject_params(tenant_id: str, subjects: SubjectSet) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "group_ids": subjects.group_ids,
        "subject_ids": subjects.subject_ids,
    }


# Hot reads select instants as the driver gives them (text on SQLite, `timestamptz` on
# PostgreSQL) and convert them with `instant`, as `UtcDateTime` does, without SQLAlchemy's
# result machinery for the column.
instant = utc_instant


def raw(column: sa.Column[Any]) -> sa.ColumnElement[Any]:
    return sa.type_coerce(column, sa.Text()).label(column.name)


@contextmanager
def missing_reference_raises(error: TierbookError) -> Iterator[None]:
    """Turn a foreign-key violation inside the block into `error` (e.g. UnknownMember)."""
    try:
        yield
    except sa.exc.IntegrityError as exc:
        orig = exc.orig
        if getattr(orig, "sqlstate", None) == "23503" or "FOREIGN KEY constraint failed" in str(
            orig
        ):
            raise error from exc
        raise
