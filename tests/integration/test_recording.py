"""Recording entries in batches: one read of what the batch names, one evaluation per subject.

Every test runs on SQLite and on PostgreSQL. The invariants (stored state equals a replay, all or
nothing, idempotency) are tested in `test_service_invariants` and the e2e suite; these tests pin
down how much work a batch does, so that it never grows with the entries a subject has in it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from tierbook.adapters.db.uow import SqlUnitOfWorkFactory
from tierbook.domain.errors import InvalidEntry, UnknownProgram
from tierbook.domain.ledger import EntryKind
from tierbook.domain.state import HistoryRecord
from tierbook.service import activities, members, programs
from tierbook.service import subjects as subjects_module
from tierbook.service.clocks import FixedClock
from tierbook.service.commands import EnrolMember, RecordActivity
from tierbook.service.documents import parse_document
from tierbook.service.ports import UnitOfWork
from tierbook.service.subjects import load_program, replay, subjects_of

START = datetime(2025, 1, 1, 9, tzinfo=UTC)
PROGRAM: dict[str, Any] = {
    "program": {"id": 1, "code": "acme", "name": "ACME"},
    "groups": [
        {
            "id": 10,
            "code": "STATUS",
            "name": "Status",
            "metric": "points",
            "tiers": [
                {"id": 1, "handle": "bronze", "name": "Bronze", "rank": 0, "is_floor": True},
                {"id": 2, "handle": "silver", "name": "Silver", "rank": 1, "value_min": 1000},
            ],
        },
        {
            "id": 20,
            "code": "HOUSE",
            "name": "Household spend",
            "metric": "spend",
            "context": "household",
            "tiers": [
                {"id": 4, "handle": "member", "name": "Member", "rank": 0},
                {"id": 5, "handle": "plus", "name": "Plus", "rank": 1, "value_min": 400},
            ],
        },
    ],
}
HOUSEHOLDS = {"ann": "h1", "bob": "h1", "cyd": None}


def _enrolled(uow_factory: SqlUnitOfWorkFactory, clock: FixedClock, tenant: str) -> None:
    with uow_factory() as uow:
        programs.put_program(uow, clock, tenant_id=tenant, document=parse_document(PROGRAM))
        for member_id, household_id in HOUSEHOLDS.items():
            command = EnrolMember(id=member_id, household_id=household_id, enrolled_at=START)
            members.enrol(uow, clock, tenant_id=tenant, command=command)
        uow.commit()


def _purchase(member_id: str, n: int, points: int = 300) -> RecordActivity:
    return RecordActivity(
        member_id=member_id,
        occurred_at=START + timedelta(days=n),
        idempotency_key=f"{member_id}-{n}",
        points=Decimal(points),
        spend=Decimal(points) / 2,
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START + timedelta(days=200))


@pytest.fixture
def enrolled(uow_factory: SqlUnitOfWorkFactory, clock: FixedClock) -> SqlUnitOfWorkFactory:
    _enrolled(uow_factory, clock, "t1")
    return uow_factory


def _record(
    uow_factory: SqlUnitOfWorkFactory,
    clock: FixedClock,
    commands: list[RecordActivity],
    tenant: str = "t1",
) -> activities.Outcome:
    with uow_factory() as uow:
        outcome = activities.record(uow, clock, tenant_id=tenant, commands=commands)
        uow.commit()
    return outcome


def stored_states(uow: UnitOfWork, tenant: str) -> list[Any]:
    """Every stored state of the members of `HOUSEHOLDS` with its history, each checked
    against a replay; the states without their basis, which digests the entries' ids (drawn
    afresh in each tenant)."""
    found: list[Any] = []
    program = load_program(uow, tenant, 1)
    for member_id in HOUSEHOLDS:
        member = uow.members.get(tenant, member_id)
        assert member is not None
        for subject in subjects_of(uow, program, member):
            stored = uow.states.get(tenant, subject.group.id, subject.id)
            assert stored is not None
            again = replay(uow, tenant, program, subject, stored.state.as_of)
            assert (stored.state, stored.history) == (again.state, again.history)
            found.append((dataclasses.replace(stored.state, basis=None), stored.history))
    return found


@contextmanager
def _counted_selects(engine: sa.Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_a_batch_evaluates_each_subject_it_touches_once(
    enrolled: SqlUnitOfWorkFactory, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluated: list[str] = []
    real = subjects_module.evaluate

    def counting(*args: Any, **kwargs: Any) -> Any:
        evaluated.append(kwargs["subject_id"])
        return real(*args, **kwargs)

    monkeypatch.setattr(subjects_module, "evaluate", counting)
    batch = [_purchase("ann", n) for n in range(1, 4)]
    batch += [_purchase("bob", n) for n in range(4, 6)] + [_purchase("cyd", 6)]
    _record(enrolled, clock, batch)
    # STATUS: ann, bob, cyd; HOUSE: the household h1 (ann and bob) and cyd on its own.
    assert sorted(evaluated) == ["ann", "bob", "cyd", "cyd", "h1"]


def test_a_batch_leaves_the_states_that_entries_one_by_one_leave(
    uow_factory: SqlUnitOfWorkFactory, clock: FixedClock
) -> None:
    for tenant in ("batch", "single"):
        _enrolled(uow_factory, clock, tenant)
    commands = [_purchase(m, n, 150 * n) for n in range(1, 7) for m in ("ann", "bob", "cyd")]
    commands.append(
        RecordActivity(
            member_id="ann",
            occurred_at=START + timedelta(days=8),
            idempotency_key="ann-refund",
            kind=EntryKind.REFUND,
            points=Decimal(-150),
            reverses="ann-1",
        )
    )
    _record(uow_factory, clock, commands, "batch")
    for command in commands:
        _record(uow_factory, clock, [command], "single")
    with uow_factory(write=False) as uow:
        stored = {tenant: stored_states(uow, tenant) for tenant in ("batch", "single")}
    assert stored["batch"] == stored["single"]


def test_a_batch_reads_in_as_many_queries_whatever_its_size(
    enrolled: SqlUnitOfWorkFactory, clock: FixedClock, engine: sa.Engine
) -> None:
    def selects(commands: list[RecordActivity]) -> int:
        with _counted_selects(engine) as seen:
            _record(enrolled, clock, commands)
        return len(seen)

    refund = RecordActivity(
        member_id="cyd",
        occurred_at=START + timedelta(days=150),
        kind=EntryKind.REFUND,
        points=Decimal(-10),
        reverses="cyd-1",
    )
    small = selects([_purchase("cyd", 1), _purchase("ann", 2), refund])
    many = [_purchase(m, n, 10) for n in range(3, 40) for m in ("ann", "bob", "cyd")]
    refunds = [
        RecordActivity(
            member_id=m,
            occurred_at=START + timedelta(days=150),
            kind=EntryKind.REFUND,
            points=Decimal(-10),
            reverses=f"{m}-{n}",
        )
        for n in range(3, 10)
        for m in ("ann", "bob")
    ]
    assert selects(many + refunds) == small


def test_the_outcome_names_the_programs_of_its_entries(
    enrolled: SqlUnitOfWorkFactory, clock: FixedClock
) -> None:
    outcome = _record(enrolled, clock, [_purchase("ann", 1, 1200)])
    assert list(outcome.programs) == [1]
    assert {c.program_id for c in outcome.changes} == {1}
    assert outcome.programs[1].group(10) is not None


def test_a_lone_entry_reads_its_member_and_program_in_one_query(
    enrolled: SqlUnitOfWorkFactory, clock: FixedClock, engine: sa.Engine
) -> None:
    with _counted_selects(engine) as seen:
        _record(enrolled, clock, [dataclasses.replace(_purchase("ann", 1), program_id=1)])
    reads = [" ".join(s.split()) for s in seen]
    assert not [s for s in reads if "FROM programs" in s and "members" not in s]
    assert [s for s in reads if "FROM members JOIN programs" in s]


def test_a_lone_entry_naming_another_program_than_its_members_is_refused(
    enrolled: SqlUnitOfWorkFactory, clock: FixedClock
) -> None:
    other = dict(PROGRAM, program={"id": 2, "code": "other", "name": "Other"})
    other["groups"] = [dict(g, id=g["id"] + 100) for g in PROGRAM["groups"]]
    for group in other["groups"]:
        group["tiers"] = [dict(t, id=t["id"] + 100) for t in group["tiers"]]
    with enrolled() as uow:
        programs.put_program(uow, clock, tenant_id="t1", document=parse_document(other))
        uow.commit()
    with pytest.raises(InvalidEntry, match="no member 'ann' in program 2"):
        _record(enrolled, clock, [dataclasses.replace(_purchase("ann", 1), program_id=2)])
    with pytest.raises(UnknownProgram):
        _record(enrolled, clock, [dataclasses.replace(_purchase("ann", 1), program_id=99)])
    with pytest.raises(InvalidEntry, match="no member 'nobody' in program 1"):
        _record(enrolled, clock, [dataclasses.replace(_purchase("nobody", 1), program_id=1)])


def _stored_as_replayed(
    uow_factory: SqlUnitOfWorkFactory, member_id: str
) -> dict[int, tuple[HistoryRecord, ...]]:
    """Check each of the member's stored states and histories against a replay of its ledger;
    the stored histories, by group."""
    histories = {}
    with uow_factory(write=False) as uow:
        program = load_program(uow, "t1", 1)
        member = uow.members.get("t1", member_id)
        assert member is not None
        for subject in subjects_of(uow, program, member):
            stored = uow.states.get("t1", subject.group.id, subject.id)
            assert stored is not None
            again = replay(uow, "t1", program, subject, stored.state.as_of)
            assert (stored.state, stored.history) == (again.state, again.history)
            histories[subject.group.id] = stored.history
    return histories


def test_a_live_entry_resumes_each_stored_state_and_a_back_filled_one_replays_them(
    enrolled: SqlUnitOfWorkFactory, clock: FixedClock, clock_runs: list[str]
) -> None:
    _record(enrolled, clock, [_purchase("cyd", 10, 800)])
    clock_runs.clear()
    clock.set(clock.now() + timedelta(days=1))
    live = RecordActivity(
        member_id="cyd", occurred_at=clock.now(), idempotency_key="cyd-live", points=Decimal(300)
    )
    changes = _record(enrolled, clock, [live]).changes
    # Both of cyd's states (its own in STATUS, and in HOUSE, where it has no household).
    assert clock_runs == ["restore", "restore"]
    assert [(c.group_id, c.record.to_tier_id) for c in changes] == [(10, 2)]
    clock_runs.clear()
    clock.set(clock.now() + timedelta(days=1))
    _record(enrolled, clock, [_purchase("cyd", 150, 10)])
    assert clock_runs == ["enrol", "enrol"]
    _stored_as_replayed(enrolled, "cyd")


def test_a_live_entry_leaves_the_stored_histories_unread(
    enrolled: SqlUnitOfWorkFactory, clock: FixedClock, engine: sa.Engine
) -> None:
    """Where the clock resumes, every stored history record stands: none is read, and a new
    record is appended after the last one stored (found by its position alone)."""
    _record(enrolled, clock, [_purchase("cyd", 10, 800)])

    def live(points: int) -> list[str]:
        clock.set(clock.now() + timedelta(days=1))
        entry = RecordActivity(
            member_id="cyd",
            occurred_at=clock.now(),
            idempotency_key=f"cyd-live-{points}",
            points=Decimal(points),
        )
        with _counted_selects(engine) as seen:
            _record(enrolled, clock, [entry])
        return [s for s in seen if "tier_history" in s]

    assert live(10) == []  # no tier change
    (read,) = live(300)  # to Silver: the history's end, not its records
    assert "max(" in read.lower()
    assert "figures" not in read
    histories = _stored_as_replayed(enrolled, "cyd")
    assert [(r.reason.value, r.to_tier_id) for r in histories[10]] == [
        ("enrolled", 1),
        ("qualified", 2),
    ]
