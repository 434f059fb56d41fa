"""Invariants of the whole write path, on every database.

- The stored state (and history) always equals a replay of the ledger as of the stored instant,
  whatever sequence of enrolments, late entries, refunds, assignments, household moves and
  sweeps produced it.
- Reads give the replayed state at any instant, stored or not.
- Concurrent writers for one member lose nothing.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from tests.unit.factories import state_as_read

from tierbook.adapters.db.uow import SqlUnitOfWork, SqlUnitOfWorkFactory
from tierbook.bootstrap import ProcessSweeper
from tierbook.config import Settings
from tierbook.domain.errors import InvalidAssignment, InvalidEntry
from tierbook.domain.ledger import EntryKind
from tierbook.domain.state import AssignmentMode, HistoryRecord
from tierbook.service import activities, members, programs, queries, tiers
from tierbook.service import sweep as sweeping
from tierbook.service.clocks import FixedClock
from tierbook.service.commands import AssignTier, EnrolMember, RecordActivity, UpdateMember
from tierbook.service.documents import parse_document
from tierbook.service.model import OutboxEvent
from tierbook.service.subjects import RETRACTED, load_program, replay, subject_by_id

START = datetime(2025, 1, 1, 9, tzinfo=UTC)

PROGRAM: dict[str, Any] = {
    "program": {"id": 1, "code": "acme", "name": "ACME", "timezone": "Australia/Melbourne"},
    "groups": [
        {
            "id": 10,
            "code": "STATUS",
            "name": "Status",
            "metric": "points",
            "window": {"kind": "rolling", "days": 365},
            "maintenance": {"kind": "anniversary", "term_months": 12},
            "tiers": [
                {"id": 1, "handle": "bronze", "name": "Bronze", "rank": 0, "is_floor": True},
                {
                    "id": 2,
                    "handle": "silver",
                    "name": "Silver",
                    "rank": 1,
                    "value_min": 1000,
                    "is_assignable": True,
                    "max_inactive_days": 200,
                },
                {
                    "id": 3,
                    "handle": "gold",
                    "name": "Gold",
                    "rank": 2,
                    "value_min": 2500,
                    "value_maintain": 2000,
                    "is_assignable": True,
                    "required_num_days_in_tier": 30,
                },
            ],
        },
        {
            "id": 20,
            "code": "HOUSE",
            "name": "Household spend",
            "metric": "spend",
            "window": {"kind": "calendar", "period": "quarter"},
            "maintenance": {"kind": "period_end"},
            "downgrade": {"policy": "one_down", "grace_days": 20},
            "reversals": "reevaluate",
            "context": "household",
            "carry_excess": True,
            "tiers": [
                {"id": 4, "handle": "member", "name": "Member", "rank": 0, "value_min": 50},
                {
                    "id": 5,
                    "handle": "plus",
                    "name": "Plus",
                    "rank": 1,
                    "value_min": 400,
                    "value_maintain": 300,
                    "is_assignable": True,
                },
            ],
        },
    ],
}

MEMBERS = ("ann", "bob", "cyd")

step = st.one_of(
    st.tuples(
        st.just("buy"),
        st.sampled_from(MEMBERS),
        st.integers(1, 900),
        st.integers(0, 40),
    ),
    st.tuples(st.just("refund"), st.sampled_from(MEMBERS), st.integers(0, 50), st.just(0)),
    st.tuples(
        st.just("assign"),
        st.sampled_from(MEMBERS),
        st.sampled_from(["override", "floor", "lock"]),
        st.integers(5, 120),
    ),
    st.tuples(st.just("unassign"), st.sampled_from(MEMBERS), st.just(0), st.just(0)),
    st.tuples(st.just("move"), st.sampled_from(MEMBERS), st.sampled_from(["h1", "h2"]), st.just(0)),
    st.tuples(st.just("sweep"), st.just(""), st.just(0), st.just(0)),
)


def _setup(uow_factory: SqlUnitOfWorkFactory, clock: FixedClock, tenant: str) -> None:
    with uow_factory() as uow:
        programs.put_program(uow, clock, tenant_id=tenant, document=parse_document(PROGRAM))
        for name in MEMBERS:
            members.enrol(
                uow,
                clock,
                tenant_id=tenant,
                command=EnrolMember(id=name, household_id="h1" if name != "cyd" else None),
            )
        uow.commit()


def _apply(
    uow_factory: SqlUnitOfWorkFactory,
    clock: FixedClock,
    tenant: str,
    op: tuple[str, str, Any, int],
    entries: dict[str, list[str]],
) -> None:
    kind, member, a, b = op
    now = clock.now()
    with uow_factory() as uow:
        if kind == "buy":
            key = f"k{uuid.uuid4().hex}"
            command = RecordActivity(
                member_id=member,
                occurred_at=now - timedelta(days=b),
                idempotency_key=key,
                points=Decimal(a),
                spend=Decimal(a) / 4,
            )
            activities.record(uow, clock, tenant_id=tenant, commands=[command])
            entries.setdefault(member, []).append(key)
        elif kind == "refund" and entries.get(member):
            target = entries[member][a % len(entries[member])]
            refund = RecordActivity(
                member_id=member,
                occurred_at=now,
                kind=EntryKind.REFUND,
                points=Decimal(-100),
                spend=Decimal(-25),
                reverses=target,
            )
            activities.record(uow, clock, tenant_id=tenant, commands=[refund])
        elif kind == "assign":
            tiers.assign(
                uow,
                clock,
                tenant_id=tenant,
                command=AssignTier(
                    member_id=member,
                    group_id=10,
                    tier="silver",
                    mode=AssignmentMode(a),
                    until=now + timedelta(days=b),
                ),
            )
        elif kind == "unassign":
            try:
                tiers.end_assignment(uow, clock, tenant_id=tenant, member_id=member, group_id=10)
            except InvalidAssignment:  # nothing running: a clean refusal, nothing written
                return
        elif kind == "move":
            members.update(
                uow,
                clock,
                tenant_id=tenant,
                command=UpdateMember(member_id=member, changes={"household_id": a}),
            )
        elif kind == "sweep":
            uow.rollback()
            sweeping.sweep(uow_factory, clock)
            return
        uow.commit()


def _assert_stored_equals_replay(uow_factory: SqlUnitOfWorkFactory, tenant: str) -> int:
    checked = 0
    with uow_factory(write=False) as uow:
        program = load_program(uow, tenant, 1)
        for group in program.groups:
            for subject_id in (*MEMBERS, "h1", "h2"):
                stored = uow.states.get(tenant, group.id, subject_id)
                if stored is None:
                    continue
                subject = subject_by_id(uow, tenant, program, group, subject_id)
                if subject is None or subject.id != subject_id:
                    continue  # an orphan (its holder moved household) keeps its last state
                again = replay(uow, tenant, program, subject, stored.state.as_of)
                assert stored.state == again.state, (group.code, subject_id)
                assert stored.history == again.history, (group.code, subject_id)
                checked += 1
    return checked


def _told(record: HistoryRecord) -> tuple[Any, ...]:
    return (record.at.isoformat(), record.from_tier_id, record.to_tier_id, record.reason.value)


def _as_told(events: list[OutboxEvent]) -> dict[int, list[tuple[Any, ...]]]:
    """One subject's changes by group, as a subscriber keeps them: it appends each change event
    and takes back the changes a run of `tier.retracted` events names, which must be the last
    it was told, in order."""
    told: dict[int, list[tuple[Any, ...]]] = {}
    retracted: dict[int, list[tuple[Any, ...]]] = {}

    def take_back(group_id: int) -> None:
        run, changes = retracted.pop(group_id, []), told[group_id]
        assert changes[len(changes) - len(run) :] == run, run
        del changes[len(changes) - len(run) :]

    for event in events:
        p = event.payload
        change = (p["at"], p["from_tier_id"], p["to_tier_id"], p["reason"])
        told.setdefault(event.group_id, [])
        if event.type == RETRACTED:
            retracted.setdefault(event.group_id, []).append(change)
        else:
            take_back(event.group_id)
            told[event.group_id].append(change)
    for group_id in list(retracted):
        take_back(group_id)
    return told


def _assert_events_tell_the_history(uow_factory: SqlUnitOfWorkFactory, tenant: str) -> int:
    """Every subject's events, as a subscriber keeps them, give its stored history."""
    checked = 0
    with uow_factory(write=False) as uow:
        for subject_id in (*MEMBERS, "h1", "h2"):
            told = _as_told(uow.outbox.for_subject(tenant, subject_id))
            for group_id, changes in told.items():
                stored = uow.states.get(tenant, group_id, subject_id)
                assert stored is not None
                assert changes == [_told(r) for r in stored.history], (group_id, subject_id)
                checked += 1
    return checked


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=st.lists(st.tuples(st.integers(0, 60), step), min_size=1, max_size=14))
# A back-dated purchase that moves an upgrade earlier: the stored history is rewritten.
@example(
    plan=[(50, ("buy", "ann", 600, 0)), (1, ("buy", "ann", 600, 0)), (5, ("buy", "ann", 900, 40))]
)
def test_stored_state_always_equals_a_replay_of_the_ledger(
    uow_factory: SqlUnitOfWorkFactory, plan: list[tuple[int, tuple[str, str, Any, int]]]
) -> None:
    tenant = f"t{uuid.uuid4().hex[:12]}"
    clock = FixedClock(START)
    _setup(uow_factory, clock, tenant)
    entries: dict[str, list[str]] = {}
    for days, op in plan:
        clock.set(clock.now() + timedelta(days=days, hours=days % 7))
        _apply(uow_factory, clock, tenant, op, entries)
    assert _assert_stored_equals_replay(uow_factory, tenant) >= 3
    assert _assert_events_tell_the_history(uow_factory, tenant) >= 3
    later = clock.now() + timedelta(days=400)
    with uow_factory(write=False) as uow:
        program = load_program(uow, tenant, 1)
        for name in MEMBERS:
            for instant in (clock.now(), later):
                views = queries.member_tiers(
                    uow, clock, tenant_id=tenant, member_id=name, as_of=instant
                )
                for view in views:
                    subject = subject_by_id(uow, tenant, program, view.group, view.subject_id)
                    assert subject is not None
                    replayed = replay(uow, tenant, program, subject, instant).state
                    assert state_as_read(view) == replayed


def test_sweeping_twice_changes_nothing(uow_factory: SqlUnitOfWorkFactory) -> None:
    clock = FixedClock(START)
    _setup(uow_factory, clock, "acme")
    entries: dict[str, list[str]] = {}
    _apply(uow_factory, clock, "acme", ("buy", "ann", 1500, 0), entries)
    clock.set(START + timedelta(days=800))
    first = sweeping.sweep(uow_factory, clock)
    second = sweeping.sweep(uow_factory, clock)
    assert first.states > 0
    assert first.changes > 0
    assert (second.states, second.changes) == (0, 0)
    assert _assert_stored_equals_replay(uow_factory, "acme") >= 3


def test_a_sweep_resumes_each_due_state_from_the_stored_one(
    uow_factory: SqlUnitOfWorkFactory, clock_runs: list[str]
) -> None:
    clock = FixedClock(START)
    _setup(uow_factory, clock, "acme")
    _apply(uow_factory, clock, "acme", ("buy", "ann", 1500, 0), {})
    clock_runs.clear()
    clock.set(START + timedelta(days=800))
    report = sweeping.sweep(uow_factory, clock)
    assert report.states > 0
    assert clock_runs == ["restore"] * report.states
    assert _assert_stored_equals_replay(uow_factory, "acme") >= 3


def test_a_sweep_in_worker_processes_stores_there_what_a_replay_gives(
    uow_factory: SqlUnitOfWorkFactory, database_url: str
) -> None:
    clock = FixedClock(START)
    _setup(uow_factory, clock, "acme")
    entries: dict[str, list[str]] = {}
    for i, name in enumerate(MEMBERS):
        _apply(uow_factory, clock, "acme", ("buy", name, 900 + 700 * i, i), entries)
    clock.set(START + timedelta(days=800))
    sweeper = ProcessSweeper(Settings(database_url=database_url), workers=2)
    opened: list[bool] = []

    def watched(write: bool = True) -> SqlUnitOfWork:
        opened.append(write)
        return uow_factory(write=write)

    try:
        first = sweeping.sweep(watched, clock, page=2, sweeper=sweeper, parallel_from=1)
    finally:
        sweeper.close()
    assert opened  # the sweeping process reads what is due
    assert not any(opened), "the workers store the pages, not the sweeping process"
    assert first.states >= 3
    assert first.changes > 0
    assert _assert_stored_equals_replay(uow_factory, "acme") >= 3
    again = sweeping.sweep(uow_factory, clock)
    assert (again.states, again.changes) == (0, 0)


def test_a_state_written_after_its_page_was_read_is_evaluated_again(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    clock = FixedClock(START)
    _setup(uow_factory, clock, "acme")
    clock.set(START + timedelta(days=400))
    with uow_factory(write=False) as uow:
        due = [d for d in uow.states.due(clock.now(), 100) if d[3] == "ann"]
    assert due
    page = sweeping.SweepPage("acme", 1, tuple((d[2], d[3]) for d in due), clock.now())
    read = sweeping.evaluate_page(uow_factory, page)
    # An entry lands between the sweep's read and its write.
    _apply(uow_factory, clock, "acme", ("buy", "ann", 1200, 1), {})
    with uow_factory() as uow:
        sweeping.store_page(uow, read)
        uow.commit()
    with uow_factory(write=False) as uow:
        stored = uow.states.get("acme", 10, "ann")
    assert stored is not None
    assert stored.state.figures.window_value == 1200
    assert _assert_stored_equals_replay(uow_factory, "acme") >= 3


def test_concurrent_writers_for_one_member_lose_nothing(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    clock = FixedClock(START)
    _setup(uow_factory, clock, "acme")
    threads, per_thread = 6, 5
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(per_thread):
                with uow_factory() as uow:
                    command = RecordActivity(
                        member_id="ann",
                        occurred_at=START - timedelta(minutes=n * per_thread + i),
                        idempotency_key=f"w{n}-{i}",
                        points=Decimal(100),
                    )
                    activities.record(uow, clock, tenant_id="acme", commands=[command])
                    uow.commit()
        except BaseException as exc:  # reported below, with the thread's failure
            failures.append(exc)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    with uow_factory(write=False) as uow:
        stored = uow.states.get("acme", 10, "ann")
        assert stored is not None
        assert stored.state.figures.window_value == 100 * threads * per_thread
        # 3000 points reach gold's minimum, but gold wants 30 days in silver first.
        assert stored.state.tier_id == 2
        assert stored.state.pending_promotion_at == START + timedelta(days=30)
    assert _assert_stored_equals_replay(uow_factory, "acme") >= 3


@pytest.mark.parametrize("bad", ["unknown-member", "positive-refund"])
def test_a_bad_entry_in_a_batch_writes_nothing(uow_factory: SqlUnitOfWorkFactory, bad: str) -> None:
    clock = FixedClock(START)
    _setup(uow_factory, clock, "acme")
    good = RecordActivity(member_id="ann", occurred_at=START, points=Decimal(1200))
    broken = (
        RecordActivity(member_id="nobody", occurred_at=START, points=Decimal(1))
        if bad == "unknown-member"
        else RecordActivity(
            member_id="bob", occurred_at=START, kind=EntryKind.REFUND, points=Decimal(5)
        )
    )
    with uow_factory() as uow, pytest.raises(InvalidEntry, match=r"entries\[1\]"):
        activities.record(uow, clock, tenant_id="acme", commands=[good, broken])
    with uow_factory(write=False) as uow:
        assert uow.ledger.for_members("acme", 1, ["ann", "bob"]) == []
        stored = uow.states.get("acme", 10, "ann")
        assert stored is not None
        assert stored.state.tier_id == 1
