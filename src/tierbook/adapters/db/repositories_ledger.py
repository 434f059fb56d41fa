"""The append-only ledger and the manual assignments."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tierbook.adapters.db.repositories import (
    AnyRow,
    SqlRepository,
    chunked,
    instant,
    missing_reference_raises,
    raw,
    subject_params,
    subject_sets,
    subjects_in,
)
from tierbook.adapters.db.serialize import entry_from_row, entry_to_row, from_scaled
from tierbook.adapters.db.tables import assignments, ledger
from tierbook.domain.errors import UnknownMember
from tierbook.domain.ledger import NO_META, Entries, Entry, EntryKind, Item
from tierbook.domain.state import Assignment, AssignmentMode
from tierbook.service.model import StoredAssignment, StoredEntryResult


class SqlLedgerRepository(SqlRepository):
    def append(
        self, tenant_id: str, program_id: int, entries: Sequence[Entry]
    ) -> list[StoredEntryResult]:
        """Insert every entry in one executemany; a used key makes its row a no-op.

        The insert returns the rows it wrote, so an entry is created exactly when its row comes
        back (the first of a key repeated in `entries`), even if the caller reused the id of an
        entry written earlier; only keys that did not come back are looked up, to name the entry
        that holds them. A racing append of the same key waits on the unique index and then
        writes nothing.
        """
        if not entries:
            return []
        rows = [entry_to_row(tenant_id, program_id, entry) for entry in entries]
        with missing_reference_raises(_unknown_member(entries)):
            written = self._conn.execute(_APPEND[self._conn.dialect.name], rows)
            inserted: dict[str, str] = dict(written.all())
        keys = {e.idempotency_key for e in entries if e.idempotency_key is not None}
        stored = inserted | self._ids_by_key(tenant_id, sorted(keys - inserted.keys()))
        results: list[StoredEntryResult] = []
        claimed: set[str] = set()
        for entry in entries:
            key = entry.idempotency_key
            if key is None:
                results.append(StoredEntryResult(entry_id=entry.id, created=True))
                continue
            created = key not in claimed and inserted.get(key) == entry.id
            claimed.add(key)
            results.append(StoredEntryResult(entry_id=stored[key], created=created))
        return results

    def get(self, tenant_id: str, ref: str) -> Entry | None:
        row = (
            self._conn.execute(
                sa.select(ledger)
                .where(
                    ledger.c.tenant_id == tenant_id,
                    sa.or_(ledger.c.id == ref, ledger.c.idempotency_key == ref),
                )
                # An id wins over another entry's idempotency key that happens to be equal.
                .order_by(sa.case((ledger.c.id == ref, 0), else_=1))
                .limit(1)
            )
            .mappings()
            .one_or_none()
        )
        return None if row is None else entry_from_row(row)

    def get_many(self, tenant_id: str, refs: Iterable[str]) -> dict[str, Entry]:
        """`get` of each ref: two indexed searches per chunk, the ids' and the keys'."""
        by_id: dict[str, Entry] = {}
        by_key: dict[str, Entry] = {}
        wanted = sorted(set(refs))
        for chunk in chunked(wanted):
            for column, found in ((ledger.c.id, by_id), (ledger.c.idempotency_key, by_key)):
                rows = self._conn.execute(
                    sa.select(ledger).where(ledger.c.tenant_id == tenant_id, column.in_(chunk))
                ).mappings()
                for row in rows:
                    found[row[column.name]] = entry_from_row(row)
        # An id wins over another entry's idempotency key that happens to be equal (see `get`).
        return {
            ref: by_id.get(ref) or by_key[ref] for ref in wanted if ref in by_id or ref in by_key
        }

    def for_members(
        self, tenant_id: str, program_id: int, member_ids: Iterable[str]
    ) -> list[Entry]:
        rows: list[sa.RowMapping] = []
        for chunk in chunked(sorted(set(member_ids))):
            rows.extend(
                self._conn.execute(
                    sa.select(ledger)
                    .where(
                        ledger.c.tenant_id == tenant_id,
                        ledger.c.program_id == program_id,
                        ledger.c.member_id.in_(chunk),
                    )
                    .order_by(ledger.c.occurred_at, ledger.c.seq)
                ).mappings()
            )
        rows.sort(key=lambda row: (row["occurred_at"], row["seq"]))
        return [entry_from_row(row) for row in rows]

    def ledgers(
        self, tenant_id: str, program_id: int, member_ids: Iterable[str], *, items: bool = True
    ) -> dict[str, Entries]:
        """Each member's entries in (occurred_at, recorded) order, read for evaluation.

        One query per chunk of members, its rows converted column by column into each member's
        `Entries`, with no object per row (this is the sweep's and every write's hottest read).
        `meta` and `recorded_at` are left out (the tier clock never reads them), and so are
        `items` unless asked for (only an item filter reads them). Members without entries are
        absent.
        """
        found: dict[str, Entries] = {}
        query = _WITH_ITEMS if items else _WITHOUT_ITEMS
        for chunk in chunked(sorted(set(member_ids))):
            rows = self._conn.execute(
                query, {"tenant_id": tenant_id, "program_id": program_id, "member_ids": chunk}
            ).fetchall()  # all at once: SQLAlchemy's iteration fetches row by row
            if rows:
                found.update(_evaluated_entries(rows, items=items))
        return found

    def _ids_by_key(self, tenant_id: str, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in chunked(keys):
            rows = self._conn.execute(
                sa.select(ledger.c.idempotency_key, ledger.c.id).where(
                    ledger.c.tenant_id == tenant_id, ledger.c.idempotency_key.in_(chunk)
                )
            )
            found.update((row.idempotency_key, row.id) for row in rows)
        return found


class SqlAssignmentRepository(SqlRepository):
    def add(self, tenant_id: str, assignment: StoredAssignment) -> None:
        a = assignment.assignment
        self._conn.execute(
            sa.insert(assignments).values(
                tenant_id=tenant_id,
                id=a.id,
                program_id=assignment.program_id,
                group_id=assignment.group_id,
                subject_id=assignment.subject_id,
                tier_id=a.tier_id,
                mode=a.mode.value,
                effective_at=a.effective_at,
                until=a.until,
                reason=a.reason,
                assigned_at=a.assigned_at,
                ended_at=a.ended_at,
            )
        )

    def for_subject(self, tenant_id: str, group_id: int, subject_id: str) -> list[Assignment]:
        """The subject's assignments by `effective_at`, then in the order they were made."""
        rows = self._conn.execute(
            sa.select(assignments)
            .where(*self._subject(tenant_id, group_id, subject_id))
            .order_by(assignments.c.effective_at, assignments.c.seq)
        )
        return [_assignment(row) for row in rows]

    def for_subjects(
        self, tenant_id: str, keys: Sequence[tuple[int, str]]
    ) -> dict[tuple[int, str], list[Assignment]]:
        """Each (group_id, subject_id)'s assignments, ordered as `for_subject` orders them;
        subjects without any are absent."""
        found: dict[tuple[int, str], list[Assignment]] = {}
        for chunk in subject_sets(keys):
            for row in self._conn.execute(_ASSIGNMENTS_OF, subject_params(tenant_id, chunk)):
                key = (row.group_id, row.subject_id)
                if key in chunk.keys:
                    found.setdefault(key, []).append(_assignment(row))
        return found

    def end(self, tenant_id: str, group_id: int, subject_id: str, at: datetime) -> int:
        c = assignments.c
        return self._conn.execute(
            sa.update(assignments)
            .where(
                *self._subject(tenant_id, group_id, subject_id),
                c.effective_at <= at,
                sa.or_(c.until.is_(None), c.until > at),
                sa.or_(c.ended_at.is_(None), c.ended_at > at),
            )
            .values(ended_at=at)
        ).rowcount

    @staticmethod
    def _subject(tenant_id: str, group_id: int, subject_id: str) -> list[sa.ColumnElement[bool]]:
        return [
            assignments.c.tenant_id == tenant_id,
            assignments.c.group_id == group_id,
            assignments.c.subject_id == subject_id,
        ]


def _append_statement(insert: postgresql.Insert | sqlite.Insert) -> sa.Insert:
    return insert.on_conflict_do_nothing(
        index_elements=[ledger.c.tenant_id, ledger.c.idempotency_key]
    ).returning(ledger.c.idempotency_key, ledger.c.id)


# Built once: making these costs more than running them.
_APPEND = {
    "postgresql": _append_statement(postgresql.insert(ledger)),
    "sqlite": _append_statement(sqlite.insert(ledger)),
}
_ASSIGNMENTS_OF = (
    sa.select(assignments)
    .where(*subjects_in(assignments))
    .order_by(
        assignments.c.group_id,
        assignments.c.subject_id,
        assignments.c.effective_at,
        assignments.c.seq,
    )
)


def _unknown_member(entries: Sequence[Entry]) -> UnknownMember:
    members = sorted({e.member_id for e in entries})
    if len(members) == 1:
        return UnknownMember(f"member {members[0]!r} does not exist", field="member_id")
    return UnknownMember("an entry names a member that does not exist", field="member_id")


def _assignment(row: AnyRow) -> Assignment:
    return Assignment(
        id=row.id,
        tier_id=row.tier_id,
        mode=AssignmentMode(row.mode),
        effective_at=row.effective_at,
        until=row.until,
        reason=row.reason,
        assigned_at=row.assigned_at,
        ended_at=row.ended_at,
    )


# -- the evaluation read --------------------------------------------------------------------------


def _evaluation_query(items: bool) -> sa.Select[Any]:
    c = ledger.c
    # In `Entry`'s field order, up to `idempotency_key`; `_evaluated_entries` relies on it.
    columns: list[sa.ColumnElement[Any]] = [
        c.id,
        c.member_id,
        raw(c.occurred_at),
        c.kind,
        c.points,
        c.spend,
        c.units,
        c.business_unit,
        c.behaviour_type,
        c["items"] if items else sa.null().label("items"),
        c.achievement_id,
        c.reverses,
        c.idempotency_key,
    ]
    return (
        sa.select(*columns)
        .where(
            c.tenant_id == sa.bindparam("tenant_id"),
            c.program_id == sa.bindparam("program_id"),
            c.member_id.in_(sa.bindparam("member_ids", expanding=True)),
        )
        .order_by(c.member_id, c.occurred_at, c.seq)
    )


_WITH_ITEMS = _evaluation_query(items=True)
_WITHOUT_ITEMS = _evaluation_query(items=False)
_KINDS = {kind.value: kind for kind in EntryKind}
_amount = lru_cache(maxsize=65_536)(from_scaled)


def _evaluated_entries(rows: Sequence[AnyRow], *, items: bool) -> Iterator[tuple[str, Entries]]:
    """The rows of the evaluation query (ordered by member) as each member's entries.

    Each column is converted in one pass over it; each member's entries are then slices of the
    converted columns.
    """
    (ids, members, times, kinds, points, spend, units, business_units, behaviours, lists,
     achievements, reverses, keys) = zip(*rows, strict=True)  # fmt: skip
    # `occurred_at` is NOT NULL.
    occurred = cast("tuple[datetime, ...]", tuple(map(instant, times)))
    columns = (
        ids,
        members,
        occurred,
        tuple(map(_KINDS.__getitem__, kinds)),
        tuple(map(_amount, points)),
        tuple(map(_amount, spend)),
        tuple(map(_amount, units)),
        business_units,
        behaviours,
        tuple(map(_items, lists)) if items else ((),) * len(rows),
        achievements,
        reverses,
        keys,
    )
    start = 0
    # Each member's rows stand together: counted in first-seen order, they are its run.
    for member, size in Counter(members).items():
        end = start + size
        parts: list[Any] = [column[start:end] for column in columns]
        parts += [(None,) * size, (NO_META,) * size]  # recorded_at, meta: not read
        yield member, Entries(*parts)
        start = end


def _items(stored: Sequence[dict[str, Any]]) -> tuple[Item, ...]:
    return tuple(
        Item(item["sku"], item["category"], Decimal(item["quantity"]), Decimal(item["amount"]))
        for item in stored
    )
