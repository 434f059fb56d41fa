"""Materialised tier states, their history, and the per-subject write locks."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tierbook.adapters.db.repositories import (
    AnyRow,
    ManyRows,
    SqlRepository,
    chunked,
    instant,
    key_chunks,
    raw,
    subject_params,
    subject_sets,
    subjects_in,
)
from tierbook.adapters.db.serialize import state_from_json, state_to_dict
from tierbook.adapters.db.tables import UtcDateTime, tier_history, tier_states
from tierbook.domain.state import HistoryRecord, Reason, TierState
from tierbook.service.model import StateRecord, StoredState
from tierbook.service.ports import StateWrite

StateKey = tuple[int, str]


class SqlStateRepository(SqlRepository):
    def lock(self, tenant_id: str, keys: Sequence[StateKey]) -> None:
        """Hold these subjects' locks until the transaction ends.

        SQLite: the writing unit of work's `BEGIN IMMEDIATE` already holds the database's only
        write lock, so there is nothing more to take. PostgreSQL: a transaction-level advisory
        lock per subject (`_lock_key`), all taken by one statement in ascending key order, so
        that two writers with overlapping subjects cannot deadlock. Take all of a transaction's
        locks in one call.
        """
        if not self._write:
            raise RuntimeError("lock() needs a unit of work opened with write=True")
        if not self._postgres or not keys:
            return
        wanted = sorted(
            {_lock_key(tenant_id, group_id, subject_id) for group_id, subject_id in keys}
        )
        self._conn.execute(_ADVISORY_LOCKS, {"keys": wanted})

    def get(self, tenant_id: str, group_id: int, subject_id: str) -> StoredState | None:
        c = tier_states.c
        row = self._conn.execute(
            sa.select(c.program_id, _BODY_TEXT, c.created_at, c.updated_at).where(
                c.tenant_id == tenant_id, c.group_id == group_id, c.subject_id == subject_id
            )
        ).one_or_none()
        if row is None:
            return None
        return StoredState(
            program_id=row.program_id,
            state=state_from_json(row.body),
            history=tuple(self._history(tenant_id, group_id, subject_id)),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def get_states(self, tenant_id: str, keys: Sequence[StateKey]) -> dict[StateKey, TierState]:
        return {key: found.state for key, found in self.get_records(tenant_id, keys).items()}

    def get_records(self, tenant_id: str, keys: Sequence[StateKey]) -> dict[StateKey, StateRecord]:
        wanted = set(keys)
        group_ids = sorted({g for g, _ in wanted})
        found: dict[StateKey, StateRecord] = {}
        for chunk in chunked(sorted({s for _, s in wanted})):
            rows = self._conn.execute(
                _states_of(len(group_ids), len(chunk)),
                {"tenant_id": tenant_id}
                | {f"g{i}": g for i, g in enumerate(group_ids)}
                | {f"s{i}": s for i, s in enumerate(chunk)},
            )
            for row in rows.fetchall():
                key = (row.group_id, row.subject_id)
                if key in wanted:  # the query asks for every group of every subject
                    state = state_from_json(row.body)
                    found[key] = StateRecord(state, row.created_at, row.updated_at)
        return found

    def save(
        self,
        tenant_id: str,
        program_id: int,
        state: TierState,
        history: Sequence[HistoryRecord],
    ) -> None:
        now = self._now()
        insert = self._insert(tier_states).values(
            tenant_id=tenant_id,
            group_id=state.group_id,
            subject_id=state.subject_id,
            program_id=program_id,
            tier_id=state.tier_id,
            as_of=state.as_of,
            next_due_at=state.next_due_at,
            stable_until=state.stable_until,
            body=state_to_dict(state),
            created_at=now,
            updated_at=now,
        )
        self._conn.execute(
            insert.on_conflict_do_update(
                index_elements=[
                    tier_states.c.tenant_id,
                    tier_states.c.group_id,
                    tier_states.c.subject_id,
                ],
                set_=_on_rewrite(insert) | {"updated_at": now},
            )
        )
        self._rewrite_history_tail(tenant_id, state.group_id, state.subject_id, history)

    def histories(
        self, tenant_id: str, keys: Sequence[StateKey]
    ) -> dict[StateKey, tuple[HistoryRecord, ...]]:
        found: dict[StateKey, list[HistoryRecord]] = {}
        reasons = _REASONS
        for chunk in subject_sets(keys):
            rows = self._conn.execute(_HISTORIES_OF, subject_params(tenant_id, chunk))
            for group_id, subject_id, at, from_id, to_id, reason, figures in rows.fetchall():
                key = (group_id, subject_id)
                when = instant(at)
                if key in chunk.keys and when is not None:  # `at` is NOT NULL
                    record = HistoryRecord(when, from_id, to_id, reasons[reason], figures)
                    found.setdefault(key, []).append(record)
        return {key: tuple(records) for key, records in found.items()}

    def save_many(self, tenant_id: str, program_id: int, writes: Sequence[StateWrite]) -> None:
        """Upsert every state in one statement; rewrite each history from its first record
        that differs (`kept`), or append to it, with one delete and one insert for all of them.
        """
        if not writes:
            return
        now = self._now()
        _SAVE_STATES[self._conn.dialect.name](
            self._conn,
            [
                (
                    tenant_id,
                    w.state.group_id,
                    w.state.subject_id,
                    program_id,
                    w.state.tier_id,
                    w.state.as_of,
                    w.state.next_due_at,
                    w.state.stable_until,
                    state_to_dict(w.state),
                    now,
                    now,
                )
                for w in writes
            ],
        )
        stale = [
            {
                "t_id": tenant_id,
                "g_id": w.state.group_id,
                "s_id": w.state.subject_id,
                "keep": w.kept,
            }
            for w in writes
            if w.kept is not None and w.kept < w.stored
        ]
        if stale:
            self._conn.execute(_DELETE_TAIL, stale)
        appended = [
            (w.state.group_id, w.state.subject_id) for w in writes if w.kept is None and w.tail
        ]
        ends = self._history_lengths(tenant_id, appended) if appended else {}
        _APPEND_HISTORY(
            self._conn,
            [
                row
                for w in writes
                for row in _history_rows(
                    tenant_id,
                    w.state.group_id,
                    w.state.subject_id,
                    w.tail,
                    start=w.kept
                    if w.kept is not None
                    else ends.get((w.state.group_id, w.state.subject_id), 0),
                )
            ],
        )

    def _history_lengths(self, tenant_id: str, keys: Sequence[StateKey]) -> dict[StateKey, int]:
        """How many history records each of these states has stored (absent: none)."""
        found: dict[StateKey, int] = {}
        for chunk in subject_sets(keys):
            rows = self._conn.execute(_HISTORY_ENDS, subject_params(tenant_id, chunk))
            for group_id, subject_id, last in rows.fetchall():
                if (group_id, subject_id) in chunk.keys:
                    found[(group_id, subject_id)] = last + 1
        return found

    def versions(self, tenant_id: str, keys: Sequence[StateKey]) -> dict[StateKey, int]:
        """The version of each of these states (absent where none is stored).

        Every write increments a state's version, so a version read earlier in another
        transaction tells whether anything wrote the state since.
        """
        found: dict[StateKey, int] = {}
        for group_id, subject_ids in key_chunks(keys):
            rows = self._conn.execute(
                _VERSIONS, _group_params(tenant_id, group_id, subject_ids)
            ).fetchall()
            found.update(((g, s), version) for g, s, version in rows)
        return found

    def due_among(
        self, tenant_id: str, as_of: datetime, keys: Sequence[StateKey]
    ) -> list[StateKey]:
        found: list[StateKey] = []
        for group_id, subject_ids in key_chunks(keys):
            rows = self._conn.execute(
                _DUE_AMONG, _group_params(tenant_id, group_id, subject_ids) | {"as_of": as_of}
            ).fetchall()
            found.extend((g, s) for g, s in rows)
        return found

    def due(self, as_of: datetime, limit: int) -> list[tuple[str, int, int, str]]:
        c = tier_states.c
        rows = self._conn.execute(
            sa.select(c.tenant_id, c.program_id, c.group_id, c.subject_id)
            .where(c.stable_until <= as_of)
            .order_by(c.stable_until, c.tenant_id, c.group_id, c.subject_id)
            .limit(limit)
        )
        return [(t, p, g, s) for t, p, g, s in rows.fetchall()]

    def held_tier_ids(self, tenant_id: str, program_id: int) -> set[int]:
        c = tier_states.c
        return set(
            self._conn.scalars(
                sa.select(c.tier_id)
                .distinct()
                .where(c.tenant_id == tenant_id, c.program_id == program_id, c.tier_id.is_not(None))
            )
        )

    def _history(self, tenant_id: str, group_id: int, subject_id: str) -> list[HistoryRecord]:
        c = tier_history.c
        rows = self._conn.execute(
            sa.select(c.at, c.from_tier_id, c.to_tier_id, c.reason, c.figures)
            .where(c.tenant_id == tenant_id, c.group_id == group_id, c.subject_id == subject_id)
            .order_by(c.seq)
        )
        return [_record(row) for row in rows]

    def _rewrite_history_tail(
        self, tenant_id: str, group_id: int, subject_id: str, history: Sequence[HistoryRecord]
    ) -> None:
        """Keep the stored prefix that still agrees with `history`; replace the rest.

        A re-evaluation usually only appends, and a late entry only changes the recent past,
        so most saves write a record or two instead of the subject's whole history.
        """
        stored = self._history(tenant_id, group_id, subject_id)
        keep = 0
        while keep < min(len(stored), len(history)) and stored[keep] == history[keep]:
            keep += 1
        c = tier_history.c
        if keep < len(stored):
            self._conn.execute(
                sa.delete(tier_history).where(
                    c.tenant_id == tenant_id,
                    c.group_id == group_id,
                    c.subject_id == subject_id,
                    c.seq >= keep,
                )
            )
        _APPEND_HISTORY(
            self._conn, _history_rows(tenant_id, group_id, subject_id, history[keep:], start=keep)
        )


def _history_rows(
    tenant_id: str,
    group_id: int,
    subject_id: str,
    records: Sequence[HistoryRecord],
    *,
    start: int,
) -> list[tuple[Any, ...]]:
    """`_APPEND_HISTORY` rows of a state's records, numbered from `start`."""
    return [
        (
            tenant_id,
            group_id,
            subject_id,
            seq,
            record.at,
            record.from_tier_id,
            record.to_tier_id,
            record.reason.value,
            record.figures,
        )
        for seq, record in enumerate(records, start=start)
    ]


def _record(row: AnyRow) -> HistoryRecord:
    return HistoryRecord(
        at=row.at,
        from_tier_id=row.from_tier_id,
        to_tier_id=row.to_tier_id,
        reason=Reason(row.reason),
        figures=row.figures,
    )


_DELETE_TAIL = sa.delete(tier_history).where(
    tier_history.c.tenant_id == sa.bindparam("t_id"),
    tier_history.c.group_id == sa.bindparam("g_id"),
    tier_history.c.subject_id == sa.bindparam("s_id"),
    tier_history.c.seq >= sa.bindparam("keep"),
)


def _lock_key(tenant_id: str, group_id: int, subject_id: str) -> int:
    """A subject's advisory lock key: 64 bits of a digest of its key. Two subjects sharing one
    (about one pair in 2**64) only wait for each other."""
    digest = hashlib.blake2b(f"{tenant_id}\x1f{group_id}\x1f{subject_id}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


# One lock per key, taken in the array's (ascending) order as the function scan reads it.
_ADVISORY_LOCKS = sa.text(
    "SELECT pg_advisory_xact_lock(key) FROM unnest(CAST(:keys AS bigint[])) AS key"
)

# A state's body as the text the database holds, which `state_from_json` decodes directly.
_BODY_TEXT = sa.cast(tier_states.c.body, sa.Text).label("body")

_REWRITTEN = ("program_id", "tier_id", "as_of", "next_due_at", "stable_until", "body")


def _on_rewrite(insert: Any) -> dict[str, Any]:
    """The `ON CONFLICT DO UPDATE` assignments of a state written again: its version goes up."""
    return {name: insert.excluded[name] for name in _REWRITTEN} | {
        "version": tier_states.c.version + sa.literal_column("1")
    }


@lru_cache(maxsize=256)
def _states_of(groups: int, subjects: int) -> sa.Select[tuple[int, str, Any, datetime, datetime]]:
    """The states of `groups` groups' `subjects` subjects (bound as g0…, s0…): a primary-key
    look-up per (group, subject) on both databases, where SQLite plans a row-value
    `(group_id, subject_id) IN (…)` as a scan of the tenant's rows.

    One statement per shape, built once and with a bound parameter per value: building a
    statement, or expanding an `IN` list, costs a hot read more than running it.
    """
    c = tier_states.c
    return sa.select(c.group_id, c.subject_id, _BODY_TEXT, c.created_at, c.updated_at).where(
        c.tenant_id == sa.bindparam("tenant_id"),
        c.group_id.in_([sa.bindparam(f"g{i}") for i in range(groups)]),
        c.subject_id.in_([sa.bindparam(f"s{i}") for i in range(subjects)]),
    )


def _save_states(insert: postgresql.Insert | sqlite.Insert) -> sa.Insert:
    return insert.on_conflict_do_update(
        index_elements=[tier_states.c.tenant_id, tier_states.c.group_id, tier_states.c.subject_id],
        set_=_on_rewrite(insert) | {"updated_at": insert.excluded.updated_at},
    )


STATE_COLUMNS = (
    "tenant_id",
    "group_id",
    "subject_id",
    "program_id",
    "tier_id",
    "as_of",
    "next_due_at",
    "stable_until",
    "body",
    "created_at",
    "updated_at",
)
"""The columns a state row is written with, in the order of its values."""
HISTORY_COLUMNS = (
    "tenant_id",
    "group_id",
    "subject_id",
    "seq",
    "at",
    "from_tier_id",
    "to_tier_id",
    "reason",
    "figures",
)
"""The columns a history record is written with, in the order of its values."""
# Built once: making an upsert (and its `excluded` columns) costs more than running it.
_SAVE_STATES = {
    "postgresql": ManyRows(
        _save_states(postgresql.insert(tier_states)), tier_states, STATE_COLUMNS
    ),
    "sqlite": ManyRows(_save_states(sqlite.insert(tier_states)), tier_states, STATE_COLUMNS),
}
_APPEND_HISTORY = ManyRows(sa.insert(tier_history), tier_history, HISTORY_COLUMNS)
# A group's states by subject ids (see `key_chunks`), built once: building a statement with a
# literal `IN` list of hundreds of ids costs more than running it.
_OF_GROUP = (
    tier_states.c.tenant_id == sa.bindparam("tenant_id"),
    tier_states.c.group_id == sa.bindparam("group_id"),
    tier_states.c.subject_id.in_(sa.bindparam("subject_ids", expanding=True)),
)
_VERSIONS = sa.select(
    tier_states.c.group_id, tier_states.c.subject_id, tier_states.c.version
).where(*_OF_GROUP)
_DUE_AMONG = sa.select(tier_states.c.group_id, tier_states.c.subject_id).where(
    *_OF_GROUP, tier_states.c.stable_until <= sa.bindparam("as_of", type_=UtcDateTime)
)


def _group_params(tenant_id: str, group_id: int, subject_ids: Sequence[str]) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "group_id": group_id, "subject_ids": list(subject_ids)}


_REASONS = {reason.value: reason for reason in Reason}
_HISTORY_ENDS = (
    sa.select(tier_history.c.group_id, tier_history.c.subject_id, sa.func.max(tier_history.c.seq))
    .where(*subjects_in(tier_history))
    .group_by(tier_history.c.group_id, tier_history.c.subject_id)
)
_HISTORIES_OF = (
    sa.select(
        tier_history.c.group_id,
        tier_history.c.subject_id,
        raw(tier_history.c.at),
        tier_history.c.from_tier_id,
        tier_history.c.to_tier_id,
        tier_history.c.reason,
        tier_history.c.figures,
    )
    .where(*subjects_in(tier_history))
    .order_by(tier_history.c.group_id, tier_history.c.subject_id, tier_history.c.seq)
)
