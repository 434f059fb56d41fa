"""Lookups by many state keys use the primary key on SQLite, never a scan of the tenant.

A million-member tenant would make a scan cost seconds per query; SQLite's planner cannot use the
primary key for a row-value `(group_id, subject_id) IN (…)` list, so the repositories write
those lookups one group at a time. These tests read SQLite's plan for every statement a key
lookup runs, so a change back to a scanning form fails here rather than in production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tierbook.adapters.db.engine import make_engine
from tierbook.adapters.db.hot import SNAPSHOT
from tierbook.adapters.db.migrate import upgrade
from tierbook.adapters.db.uow import SqlUnitOfWork, SqlUnitOfWorkFactory

KEYS = [(10, "m1"), (10, "m2"), (20, "m1"), (30, "h1")]
NOW = datetime(2026, 1, 1, tzinfo=UTC)
Lookup = Callable[[SqlUnitOfWork], object]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def plan_of(engine: sa.Engine, lookup: Lookup) -> list[str]:
    """The query-plan steps of every SELECT that `lookup` runs."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        with SqlUnitOfWorkFactory(engine)(write=False) as uow:
            lookup(uow)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert seen, "the lookup ran no query"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        return [
            str(row[-1])
            for statement, params in seen
            for row in cursor.execute(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
        ]
    finally:
        raw.close()


LOOKUPS: list[tuple[str, Lookup]] = [
    ("tier_states", lambda uow: uow.states.get_states("t", KEYS)),
    ("tier_history", lambda uow: uow.states.histories("t", KEYS)),
    ("tier_states", lambda uow: uow.states.due_among("t", NOW, KEYS)),
    ("assignments", lambda uow: uow.assignments.for_subjects("t", KEYS)),
]


MEMBERS = ["m1", "m2", "m3"]
MEMBER_LOOKUPS: list[tuple[str, str, Lookup]] = [
    ("ledger", "member_id=?", lambda uow: uow.ledger.ledgers("t", 1, MEMBERS)),
    ("ledger", "member_id=?", lambda uow: uow.ledger.for_members("t", 1, MEMBERS)),
    ("members", "id=?", lambda uow: uow.members.get_many("t", MEMBERS)),
    ("members", "household_id=?", lambda uow: uow.members.households("t", 1, {"h1", "h2"})),
    ("members", "household_id=?", lambda uow: uow.members.households("t", 1, {"h1"})),
    ("ledger", "tenant_id=? AND", lambda uow: uow.ledger.get_many("t", ["e1", "e2"])),
]


@pytest.mark.parametrize(("table", "lookup"), LOOKUPS)
def test_a_lookup_by_keys_searches_by_the_whole_key(
    engine: sa.Engine, table: str, lookup: Lookup
) -> None:
    steps = [s for s in plan_of(engine, lookup) if f" {table} " in f"{s} "]
    assert steps
    for step in steps:
        assert step.startswith("SEARCH"), step
        assert "group_id=? AND subject_id=?" in step, step


@pytest.mark.parametrize(("table", "column", "lookup"), MEMBER_LOOKUPS)
def test_a_lookup_by_members_searches_an_index_of_them(
    engine: sa.Engine, table: str, column: str, lookup: Lookup
) -> None:
    steps = [s for s in plan_of(engine, lookup) if f" {table} " in f"{s} "]
    assert steps
    for step in steps:
        assert step.startswith("SEARCH"), step
        assert column in step, step


def test_the_hot_read_searches_every_table_it_joins(engine: sa.Engine) -> None:
    statement = SNAPSHOT.compile(dialect=engine.dialect)
    raw = engine.raw_connection()
    try:
        steps = [
            str(row[-1])
            for row in raw.cursor()
            .execute(f"EXPLAIN QUERY PLAN {statement.string}", ("t", "m1"))
            .fetchall()
        ]
    finally:
        raw.close()
    expected = {
        "members": "tenant_id=? AND id=?",
        "programs": "tenant_id=? AND id=?",
        "tier_states": "tenant_id=? AND subject_id=?",
        "profile_tier_ids": "tenant_id=? AND group_id=? AND member_id=?",
    }
    for table, search in expected.items():
        (step,) = [s for s in steps if f" {table} " in f"{s} "]
        assert step.startswith("SEARCH"), step
        assert search in step, step
