"""What every SQL repository shares: the unit of work's connection, its clock, dialect helpers.

The repositories themselves live beside this module, one file per family:
`repositories_catalog` (programs, members), `repositories_ledger` (entries, assignments),
`repositories_state` (tier states and their history), `repositories_ops` (outbox, API keys,
checkpoints). None of them commits; the unit of work does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

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
