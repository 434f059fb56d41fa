"""What every SQL repository shares: the unit of work's connection, its clock, dialect helpers.

The repositories themselves live beside this module, one file per family:
`repositories_catalog` (programs, members), `repositories_ledger` (entries, assignments),
`repositories_state` (tier states and their history), `repositories_ops` (outbox, API keys,
checkpoints). None of them commits; the unit of work does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
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
