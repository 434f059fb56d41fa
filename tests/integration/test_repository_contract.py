"""The repository contract: every test here runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from tierbook.adapters.db import serialize
from tierbook.adapters.db.repositories import ManyRows
from tierbook.adapters.db.repositories_ops import EVENT_COLUMNS
from tierbook.adapters.db.tables import (
    ledger,
    metadata,
    outbox,
    sqlite_instant_text,
    utc_instant,
)
from tierbook.adapters.db.uow import SqlUnitOfWork, SqlUnitOfWorkFactory
from tierbook.domain.errors import (
    DuplicateMember,
    InvalidEntry,
    UnknownMember,
    UnknownProgram,
)
from tierbook.domain.ledger import Entries, Entry, EntryKind, Item
from tierbook.domain.state import (
    ActiveAssignment,
    Assignment,
    AssignmentMode,
    Figures,
    HistoryRecord,
    Reason,
    TierState,
)
from tierbook.service.documents import program_from_document, program_to_document
from tierbook.service.model import (
    ApiKey,
    Member,
    OutboxEvent,
    ProgramConfig,
    StoredAssignment,
)

T1, T2 = "tenant-1", "tenant-2"
PROGRAM = 7
GROUP = 10
JAN = datetime(2025, 1, 10, 10, 0, tzinfo=UTC)


def at(days: float) -> datetime:
    return JAN + timedelta(days=days)


def make_program(program_id: int = PROGRAM, name: str = "ACME Rewards") -> ProgramConfig:
    return program_from_document(
        {
            "program": {"id": program_id, "code": f"acme{program_id}", "name": name},
            "groups": [
                {
                    "id": GROUP,
                    "code": "STATUS",
                    "name": "Status",
                    "tiers": [
                        {
                            "id": 1,
                            "handle": "bronze",
                            "name": "Bronze",
                            "rank": 0,
                            "is_floor": True,
                        },
                        {
                            "id": 2,
                            "handle": "silver",
                            "name": "Silver",
                            "rank": 1,
                            "value_min": 1000,
                        },
                    ],
                }
            ],
        }
    )


def make_member(member_id: str = "m1", tenant_id: str = T1, **kw: Any) -> Member:
    fields: dict[str, Any] = {"program_id": PROGRAM, "enrolled_at": JAN} | kw
    return Member(tenant_id=tenant_id, id=member_id, **fields)


def make_entry(entry_id: str, member_id: str = "m1", days: float = 1, **kw: Any) -> Entry:
    return Entry(id=entry_id, member_id=member_id, occurred_at=at(days), **kw)


def make_state(subject_id: str = "m1", **kw: Any) -> TierState:
    figures = Figures(
        window_value=Decimal("1200.5"),
        window_from=at(-365),
        window_to=at(30),
        progress=Decimal(0),
        remain_to_keep=Decimal("800"),
        next_tier_id=None,
        remain_to_next=Decimal(0),
        total_points_12m=Decimal("1200.5"),
        total_points_achievement=None,
        next_progress_change_at=at(60),
    )
    fields: dict[str, Any] = {
        "group_id": GROUP,
        "subject_id": subject_id,
        "as_of": at(30),
        "enrolled_at": JAN,
        "tier_id": 2,
        "prev_tier_id": 1,
        "achieved_at": at(20),
        "last_reason": Reason.QUALIFIED,
        "anniversary_at": at(385),
        "maintained_at": None,
        "tier_year_start": at(20),
        "credit": Decimal("200.5"),
        "grace_until": None,
        "assigned_at": None,
        "assignment": None,
        "last_activity_at": at(20),
        "pending_promotion_at": None,
        "inactivity_base": None,
        "figures": figures,
        "next_due_at": at(385),
        "stable_until": at(60),
    }
    return TierState(**(fields | kw))


def record(days: float, to_tier: int | None, reason: Reason = Reason.QUALIFIED) -> HistoryRecord:
    return HistoryRecord(
        at=at(days), from_tier_id=1, to_tier_id=to_tier, reason=reason, figures={"v": str(days)}
    )


@pytest.fixture
def seeded(uow_factory: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
    """The program and member m1 in both tenants."""
    with uow_factory() as uow:
        for tenant in (T1, T2):
            uow.programs.save(tenant, make_program())
            uow.members.add(make_member(tenant_id=tenant))
        uow.commit()
    return uow_factory


@pytest.fixture
def uow(seeded: SqlUnitOfWorkFactory) -> Iterator[SqlUnitOfWork]:
    with seeded() as unit:
        yield unit


# -- schema and unit of work ----------------------------------------------------------------


def test_migrations_create_exactly_the_tables_module(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, metadata) == []


def test_leaving_without_commit_writes_nothing(uow_factory: SqlUnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.programs.save(T1, make_program())
    with uow_factory(write=False) as uow:
        assert uow.programs.list(T1) == []


def test_an_error_inside_the_block_rolls_back(uow_factory: SqlUnitOfWorkFactory) -> None:
    def save_then_fail() -> None:
        with uow_factory() as uow:
            uow.programs.save(T1, make_program())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        save_then_fail()
    with uow_factory(write=False) as uow:
        assert uow.programs.get(T1, PROGRAM) is None


def test_rollback_discards_only_what_follows_the_last_commit(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    with uow_factory() as uow:
        uow.programs.save(T1, make_program(1))
        uow.commit()
        uow.programs.save(T1, make_program(2))
        uow.rollback()
        uow.programs.save(T1, make_program(3))
    with uow_factory(write=False) as uow:
        assert [p.id for p in uow.programs.list(T1)] == [1]


def test_a_reading_unit_of_work_cannot_take_locks(uow_factory: SqlUnitOfWorkFactory) -> None:
    with uow_factory(write=False) as uow, pytest.raises(RuntimeError, match="write=True"):
        uow.states.lock(T1, [(GROUP, "m1")])


def test_instants_come_back_as_utc(seeded: SqlUnitOfWorkFactory) -> None:
    melbourne = timezone(timedelta(hours=11))
    local = datetime(2025, 3, 1, 21, 30, 0, 123456, tzinfo=melbourne)
    with seeded() as uow:
        uow.members.add(make_member("m2", enrolled_at=local))
        got = uow.members.get(T1, "m2")
    assert got is not None
    assert got.enrolled_at == local
    assert got.enrolled_at.tzinfo is UTC


def test_a_naive_instant_is_refused(seeded: SqlUnitOfWorkFactory) -> None:
    with seeded() as uow, pytest.raises(sa.exc.StatementError, match="naive datetime"):
        uow.members.add(make_member("m2", enrolled_at=datetime(2025, 1, 1)))


# -- programs -------------------------------------------------------------------------------


def test_a_program_is_stored_as_its_document(uow_factory: SqlUnitOfWorkFactory) -> None:
    program = make_program()
    with uow_factory() as uow:
        uow.programs.save(T1, program)
        got = uow.programs.get(T1, PROGRAM)
    assert got is not None
    assert program_to_document(got) == program_to_document(program)
    assert got.created_at is not None
    assert got.updated_at is not None


def test_saving_a_program_again_replaces_it_and_keeps_its_creation_time(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    created = datetime(2024, 1, 1, tzinfo=UTC)
    with uow_factory() as uow:
        uow.programs.save(T1, dataclasses.replace(make_program(), created_at=created))
        uow.programs.save(T1, make_program(name="ACME Plus"))
        uow.programs.save(T1, make_program(3))
        programs = uow.programs.list(T1)
    assert [(p.id, p.name) for p in programs] == [(3, "ACME Rewards"), (PROGRAM, "ACME Plus")]
    assert programs[1].created_at == created


# -- members --------------------------------------------------------------------------------


def test_a_member_round_trips(uow: SqlUnitOfWork) -> None:
    member = make_member(
        "m2",
        email="ann@example.com",
        phone="+61400000000",
        custom={"loyalty_id": "L-1", "visits": 3, "vip": True, "prefs": {"sms": False}},
        household_id="h1",
        created_at=at(1),
        updated_at=at(2),
    )
    uow.members.add(member)
    assert uow.members.get(T1, "m2") == member
    assert uow.members.get(T1, "nobody") is None


def test_a_taken_member_id_is_refused_and_the_transaction_goes_on(
    seeded: SqlUnitOfWorkFactory,
) -> None:
    with seeded() as uow:
        with pytest.raises(DuplicateMember):
            uow.members.add(make_member("m1", email="other@example.com"))
        uow.members.add(make_member("m2"))
        uow.commit()
    with seeded(write=False) as uow:
        assert uow.members.ids(T1, PROGRAM) == ["m1", "m2"]
        m1 = uow.members.get(T1, "m1")
    assert m1 is not None
    assert m1.email is None


def test_a_member_of_an_unknown_program_is_refused(uow: SqlUnitOfWork) -> None:
    with pytest.raises(UnknownProgram):
        uow.members.add(make_member("m2", program_id=999))


def test_update_rewrites_the_member_and_its_custom_index(uow: SqlUnitOfWork) -> None:
    uow.members.add(make_member("m2", custom={"tier_code": "A"}))
    updated = make_member("m2", email="new@example.com", custom={"tier_code": "B"})
    uow.members.update(updated)
    got = uow.members.get(T1, "m2")
    assert got is not None
    assert (got.email, got.custom) == ("new@example.com", {"tier_code": "B"})
    assert uow.members.find(T1, custom={"tier_code": "A"}) == []
    assert [m.id for m in uow.members.find(T1, custom={"tier_code": "B"})] == ["m2"]


def test_updating_an_unknown_member_fails(uow: SqlUnitOfWork) -> None:
    with pytest.raises(UnknownMember):
        uow.members.update(make_member("ghost"))


def test_find_matches_every_criterion_given(uow: SqlUnitOfWork) -> None:
    uow.programs.save(T1, make_program(8))
    uow.members.add(make_member("a", email="a@x.io", phone="+1", custom={"n": 42, "vip": True}))
    uow.members.add(make_member("b", email="b@x.io", phone="+1", custom={"n": "42"}))
    uow.members.add(make_member("c", email="a@x.io", program_id=8, custom={"n": 7}))

    def ids(**criteria: Any) -> list[str]:
        return [m.id for m in uow.members.find(T1, **criteria)]

    assert ids(email="a@x.io") == ["a", "c"]
    assert ids(email="a@x.io", program_id=PROGRAM) == ["a"]
    assert ids(phone="+1") == ["a", "b"]
    assert ids(custom={"n": "42"}) == ["a", "b"]
    assert ids(custom={"n": "42", "vip": "true"}) == ["a"]
    assert ids(custom={"n": "42"}, email="b@x.io") == ["b"]
    assert ids(custom={"missing": "42"}) == []
    assert ids(phone="+1", limit=1) == ["a"]


def test_find_by_a_long_custom_value(uow: SqlUnitOfWork) -> None:
    long_value = "x" * 5000
    uow.members.add(make_member("m2", custom={"note": long_value}))
    assert [m.id for m in uow.members.find(T1, custom={"note": long_value})] == ["m2"]


def test_household_and_ids_list_a_programs_members(uow: SqlUnitOfWork) -> None:
    uow.programs.save(T1, make_program(8))
    uow.members.add(make_member("m3", household_id="h1"))
    uow.members.add(make_member("m2", household_id="h1"))
    uow.members.add(make_member("m4", household_id="h1", program_id=8))
    assert [m.id for m in uow.members.household(T1, PROGRAM, "h1")] == ["m2", "m3"]
    assert uow.members.ids(T1, PROGRAM) == ["m1", "m2", "m3"]


def test_households_list_each_households_members_by_id(uow: SqlUnitOfWork) -> None:
    for member_id, household_id in (("m4", "h2"), ("m3", "h1"), ("m2", "h1"), ("m5", None)):
        uow.members.add(make_member(member_id, household_id=household_id))
    found = uow.members.households(T1, PROGRAM, ["h2", "h1", "h9"])
    assert {h: [m.id for m in pool] for h, pool in found.items()} == {
        "h1": ["m2", "m3"],
        "h2": ["m4"],
    }
    assert [m.id for m in uow.members.households(T1, PROGRAM, ["h1"])["h1"]] == ["m2", "m3"]
    assert uow.members.households(T2, PROGRAM, ["h1"]) == {}


# -- ledger ---------------------------------------------------------------------------------


def test_entries_round_trip_exactly(uow: SqlUnitOfWork) -> None:
    purchase = make_entry(
        "e1",
        points=Decimal("600.1234"),
        spend=Decimal("99.95"),
        units=Decimal(3),
        business_unit="online",
        behaviour_type="checkout",
        items=(Item(sku="A", category="shoes", quantity=Decimal(2), amount=Decimal("49.975")),),
        idempotency_key="tx-1",
        recorded_at=at(1.5),
        meta={"channel": "web", "n": 1},
    )
    refund = make_entry(
        "e2",
        days=2,
        kind=EntryKind.REFUND,
        points=Decimal(-600),
        reverses="e1",
        idempotency_key="tx-2",
    )
    badge = make_entry("e3", days=3, kind=EntryKind.ACHIEVEMENT, achievement_id="first-visit")
    uow.ledger.append(T1, PROGRAM, [purchase, refund, badge])
    got = uow.ledger.for_members(T1, PROGRAM, ["m1"])
    assert got == [purchase, refund, badge]
    assert got[0].meta == {"channel": "web", "n": 1}


def test_amounts_are_stored_as_summable_integers(uow: SqlUnitOfWork, engine: sa.Engine) -> None:
    uow.ledger.append(
        T1,
        PROGRAM,
        [make_entry("e1", points=Decimal("0.0001")), make_entry("e2", points=Decimal("2.5"))],
    )
    uow.commit()
    with engine.connect() as connection:
        total = connection.scalar(sa.select(sa.func.sum(ledger.c.points)))
    assert total == 25_001


def test_an_amount_with_more_than_four_places_is_refused(uow: SqlUnitOfWork) -> None:
    with pytest.raises(InvalidEntry, match="4 decimal places"):
        uow.ledger.append(T1, PROGRAM, [make_entry("e1", spend=Decimal("1.00001"))])
    assert uow.ledger.for_members(T1, PROGRAM, ["m1"]) == []


def test_an_entry_of_an_unknown_member_is_refused(uow: SqlUnitOfWork) -> None:
    with pytest.raises(UnknownMember, match="ghost"):
        uow.ledger.append(T1, PROGRAM, [make_entry("e1", member_id="ghost")])


def test_a_used_key_is_not_written_again_and_names_the_first_entry(
    seeded: SqlUnitOfWorkFactory,
) -> None:
    with seeded() as uow:
        first = uow.ledger.append(T1, PROGRAM, [make_entry("e1", idempotency_key="tx")])
        uow.commit()
    with seeded() as uow:
        again = uow.ledger.append(
            T1,
            PROGRAM,
            [make_entry("e2", idempotency_key="tx", points=Decimal(5)), make_entry("e3")],
        )
        uow.commit()
    with seeded(write=False) as uow:
        stored = uow.ledger.for_members(T1, PROGRAM, ["m1"])
    assert [(r.entry_id, r.created) for r in first] == [("e1", True)]
    assert [(r.entry_id, r.created) for r in again] == [("e1", False), ("e3", True)]
    assert [e.id for e in stored] == ["e1", "e3"]


def test_a_key_repeated_within_one_append_is_written_once(uow: SqlUnitOfWork) -> None:
    results = uow.ledger.append(
        T1,
        PROGRAM,
        [make_entry("e1", idempotency_key="k"), make_entry("e2", days=2, idempotency_key="k")],
    )
    assert [(r.entry_id, r.created) for r in results] == [("e1", True), ("e1", False)]
    assert [e.id for e in uow.ledger.for_members(T1, PROGRAM, ["m1"])] == ["e1"]


def test_a_retry_that_reuses_the_entry_id_is_not_reported_as_created(uow: SqlUnitOfWork) -> None:
    entry = make_entry("e1", idempotency_key="k")
    uow.ledger.append(T1, PROGRAM, [entry])
    assert [r.created for r in uow.ledger.append(T1, PROGRAM, [entry])] == [False]


def test_keys_are_per_tenant(uow: SqlUnitOfWork) -> None:
    uow.ledger.append(T1, PROGRAM, [make_entry("e1", idempotency_key="k")])
    results = uow.ledger.append(T2, PROGRAM, [make_entry("e1", idempotency_key="k")])
    assert [r.created for r in results] == [True]


def test_get_finds_an_entry_by_id_or_by_key(uow: SqlUnitOfWork) -> None:
    entry = make_entry("e1", idempotency_key="tx-9")
    uow.ledger.append(T1, PROGRAM, [entry, make_entry("tx-9b", idempotency_key="e1")])
    assert uow.ledger.get(T1, "e1") == entry
    assert uow.ledger.get(T1, "tx-9") == entry
    assert uow.ledger.get(T1, "nope") is None
    assert uow.ledger.get(T2, "e1") is None


def test_get_many_finds_each_ref_as_get_does(uow: SqlUnitOfWork) -> None:
    entry = make_entry("e1", idempotency_key="tx-9")
    other = make_entry("tx-9b", days=2, idempotency_key="e1")
    uow.ledger.append(T1, PROGRAM, [entry, other])
    found = uow.ledger.get_many(T1, ["e1", "tx-9", "tx-9b", "nope"])
    # "e1" is one entry's id and the other's key: the id wins, as in `get`.
    assert found == {"e1": entry, "tx-9": entry, "tx-9b": other}
    assert uow.ledger.get_many(T2, ["e1", "tx-9"]) == {}
    assert uow.ledger.get_many(T1, []) == {}


def test_ledgers_leave_out_what_the_clock_never_reads(uow: SqlUnitOfWork) -> None:
    item = Item(sku="A", category="shoes", quantity=Decimal(2), amount=Decimal("9.5"))
    entry = make_entry(
        "e1", items=(item,), idempotency_key="k", recorded_at=at(2), meta={"channel": "web"}
    )
    uow.ledger.append(T1, PROGRAM, [entry])
    bare = dataclasses.replace(entry, recorded_at=None, meta={})
    found = uow.ledger.ledgers(T1, PROGRAM, ["m1"])
    assert found == {"m1": Entries.of([bare])}
    assert found["m1"].entry(0) == bare
    without_items = uow.ledger.ledgers(T1, PROGRAM, ["m1", "m2"], items=False)
    assert list(without_items) == ["m1"]
    assert len(without_items["m1"]) == 1
    read = without_items["m1"].entry(0)
    assert read == dataclasses.replace(bare, items=())
    assert (read.recorded_at, read.meta) == (None, {})


def test_entries_come_in_occurrence_then_recorded_order(uow: SqlUnitOfWork) -> None:
    uow.members.add(make_member("m2"))
    uow.programs.save(T1, make_program(8))
    uow.ledger.append(T1, PROGRAM, [make_entry("late", days=5), make_entry("b", days=2)])
    uow.ledger.append(T1, PROGRAM, [make_entry("a", days=2, member_id="m2")])
    uow.ledger.append(T1, 8, [make_entry("other-program", days=1)])
    got = uow.ledger.for_members(T1, PROGRAM, ["m2", "m1", "m1"])
    assert [e.id for e in got] == ["b", "a", "late"]
    assert [e.id for e in uow.ledger.for_members(T1, PROGRAM, ["m2"])] == ["a"]


def test_a_large_batch_is_appended_and_replayed(uow: SqlUnitOfWork) -> None:
    entries = [
        make_entry(f"e{i:05}", days=i / 100, points=Decimal(i), idempotency_key=f"k{i}")
        for i in range(2500)
    ]
    assert all(r.created for r in uow.ledger.append(T1, PROGRAM, entries))
    assert not any(r.created for r in uow.ledger.append(T1, PROGRAM, entries))
    assert uow.ledger.for_members(T1, PROGRAM, ["m1"]) == entries


# -- assignments ----------------------------------------------------------------------------


def assignment(assignment_id: str, start: float, until: float | None = None) -> Assignment:
    return Assignment(
        id=assignment_id,
        tier_id=2,
        mode=AssignmentMode.FLOOR,
        effective_at=at(start),
        until=None if until is None else at(until),
        reason="imported",
        assigned_at=at(0),
    )


def test_assignments_are_listed_by_effective_time(uow: SqlUnitOfWork) -> None:
    later, earlier = assignment("a1", 10), assignment("a2", 5)
    for a in (later, earlier):
        uow.assignments.add(T1, StoredAssignment(PROGRAM, GROUP, "m1", a))
    uow.assignments.add(T1, StoredAssignment(PROGRAM, GROUP, "m2", assignment("a3", 1)))
    assert uow.assignments.for_subject(T1, GROUP, "m1") == [earlier, later]
    assert uow.assignments.for_subject(T2, GROUP, "m1") == []


def test_end_stops_only_the_assignments_running_then(uow: SqlUnitOfWork) -> None:
    for a in (
        assignment("running", 1),
        assignment("bounded", 2, until=50),
        assignment("expired", 1, until=5),
        assignment("future", 40),
    ):
        uow.assignments.add(T1, StoredAssignment(PROGRAM, GROUP, "m1", a))
    assert uow.assignments.end(T1, GROUP, "m1", at(10)) == 2
    ended = {a.id: a.ended_at for a in uow.assignments.for_subject(T1, GROUP, "m1")}
    assert ended == {"running": at(10), "bounded": at(10), "expired": None, "future": None}


# -- tier states ----------------------------------------------------------------------------


def test_a_state_and_its_history_round_trip(uow: SqlUnitOfWork) -> None:
    state = make_state(
        assignment=ActiveAssignment(
            id="a1", tier_id=2, mode=AssignmentMode.LOCK, assigned_at=at(3), until=None, reason=None
        ),
        assigned_at=at(3),
    )
    history = [record(0, 1, Reason.ENROLLED), record(20, 2)]
    uow.states.lock(T1, [(GROUP, "m1")])
    uow.states.save(T1, PROGRAM, state, history)
    stored = uow.states.get(T1, GROUP, "m1")
    assert stored is not None
    assert (stored.program_id, stored.state, stored.history) == (PROGRAM, state, tuple(history))
    assert stored.created_at is not None
    assert uow.states.get(T1, GROUP, "m2") is None
    assert uow.states.get(T2, GROUP, "m1") is None


def test_get_states_returns_the_states_asked_for_that_exist(uow: SqlUnitOfWork) -> None:
    m1, m2 = make_state("m1"), make_state("m2", tier_id=None)
    uow.states.save(T1, PROGRAM, m1, [])
    uow.states.save(T1, PROGRAM, m2, [])
    found = uow.states.get_states(T1, [(GROUP, "m1"), (GROUP, "m2"), (GROUP, "m3"), (11, "m1")])
    assert found == {(GROUP, "m1"): m1, (GROUP, "m2"): m2}
    assert uow.states.get_states(T2, [(GROUP, "m1")]) == {}


def test_lookups_by_keys_find_exactly_the_keys_asked_for(uow: SqlUnitOfWork) -> None:
    # Asked for (10, m1) and (11, m2): the states and histories of (10, m2) and (11, m1) exist
    # too, and must not be returned.
    for group_id in (GROUP, 11):
        for subject_id in ("m1", "m2"):
            state = make_state(subject_id, group_id=group_id)
            uow.states.save(T1, PROGRAM, state, [record(group_id, 1, Reason.ENROLLED)])
            uow.assignments.add(
                T1,
                StoredAssignment(
                    PROGRAM, group_id, subject_id, assignment(f"a-{group_id}-{subject_id}", 1)
                ),
            )
    keys = [(GROUP, "m1"), (11, "m2")]
    assert set(uow.states.get_states(T1, keys)) == set(keys)
    histories = uow.states.histories(T1, keys)
    assert histories == {
        (GROUP, "m1"): (record(GROUP, 1, Reason.ENROLLED),),
        (11, "m2"): (record(11, 1, Reason.ENROLLED),),
    }
    found = uow.assignments.for_subjects(T1, keys)
    assert {key: [a.id for a in listed] for key, listed in found.items()} == {
        (GROUP, "m1"): ["a-10-m1"],
        (11, "m2"): ["a-11-m2"],
    }


def test_save_rewrites_only_the_divergent_tail_of_the_history(
    uow: SqlUnitOfWork, engine: sa.Engine
) -> None:
    h1, h2, h3 = record(0, 1, Reason.ENROLLED), record(20, 2), record(30, 1, Reason.REVERSAL)
    uow.states.save(T1, PROGRAM, make_state(), [h1, h2])
    written: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if "tier_history" in statement and not statement.lstrip().startswith("SELECT"):
            written.append((statement.split()[0], params))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        uow.states.save(T1, PROGRAM, make_state(as_of=at(31)), [h1, h2, h3])
        assert [verb for verb, _ in written] == ["INSERT"]
        written.clear()
        h2b = dataclasses.replace(h2, at=at(21))
        uow.states.save(T1, PROGRAM, make_state(as_of=at(32)), [h1, h2b])
        assert [verb for verb, _ in written] == ["DELETE", "INSERT"]
        written.clear()
        uow.states.save(T1, PROGRAM, make_state(as_of=at(33)), [h1, h2b])
        assert written == []
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    stored = uow.states.get(T1, GROUP, "m1")
    assert stored is not None
    assert stored.history == (h1, h2b)
    assert stored.state.as_of == at(33)
    uow.states.save(T1, PROGRAM, make_state(), [])
    stored = uow.states.get(T1, GROUP, "m1")
    assert stored is not None
    assert stored.history == ()


def test_due_lists_states_whose_span_ends_by_then_in_that_order_across_tenants(
    uow: SqlUnitOfWork,
) -> None:
    def state(subject_id: str, ends: float | None, due: float | None) -> TierState:
        return make_state(
            subject_id,
            stable_until=None if ends is None else at(ends),
            next_due_at=None if due is None else at(due),
        )

    uow.states.save(T1, PROGRAM, state("late", 50, 50), [])
    uow.states.save(T1, PROGRAM, state("never", None, None), [])
    uow.states.save(T2, PROGRAM, state("early", 10, 400), [])  # its figures move first
    uow.states.save(T1, PROGRAM, state("later", 60, 60), [])
    uow.states.save(T1, PROGRAM, state("future", 90, 90), [])
    assert uow.states.due(at(60), limit=10) == [
        (T2, PROGRAM, GROUP, "early"),
        (T1, PROGRAM, GROUP, "late"),
        (T1, PROGRAM, GROUP, "later"),
    ]
    assert uow.states.due(at(60), limit=1) == [(T2, PROGRAM, GROUP, "early")]
    assert uow.states.due(at(9), limit=10) == []


def test_held_tier_ids_are_the_tiers_some_state_holds(uow: SqlUnitOfWork) -> None:
    uow.states.save(T1, PROGRAM, make_state("a", tier_id=2), [])
    uow.states.save(T1, PROGRAM, make_state("b", tier_id=2), [])
    uow.states.save(T1, PROGRAM, make_state("c", tier_id=None), [])
    uow.states.save(T1, 8, make_state("d", tier_id=1), [])
    uow.states.save(T2, PROGRAM, make_state("e", tier_id=1), [])
    assert uow.states.held_tier_ids(T1, PROGRAM) == {2}


# -- outbox, keys, checkpoints --------------------------------------------------------------


def event(event_id: str, tenant_id: str = T1, subject_id: str = "m1") -> OutboxEvent:
    return OutboxEvent(
        id=event_id,
        tenant_id=tenant_id,
        type="tier.upgraded",
        subject_id=subject_id,
        program_id=PROGRAM,
        group_id=GROUP,
        occurred_at=at(20),
        payload={"to": {"id": 2, "handle": "silver"}, "credit": "200"},
        created_at=at(21),
    )


def test_outbox_hands_out_pending_events_in_order_until_delivered(uow: SqlUnitOfWork) -> None:
    uow.outbox.add([event("ev2"), event("ev1", tenant_id=T2), event("ev3", subject_id="m2")])
    uow.outbox.add([])
    assert [e.id for e in uow.outbox.pending(limit=10)] == ["ev2", "ev1", "ev3"]
    assert uow.outbox.pending(limit=10)[0] == event("ev2")
    uow.outbox.mark_delivered(["ev2", "ev1"], at(22))
    uow.outbox.mark_delivered(["ev2"], at(23))
    assert [e.id for e in uow.outbox.pending(limit=10)] == ["ev3"]
    assert uow.outbox.for_subject(T1, "m1") == [
        dataclasses.replace(event("ev2"), delivered_at=at(22))
    ]
    assert [e.id for e in uow.outbox.for_subject(T2, "m1")] == ["ev1"]


def test_api_keys_are_listed_per_tenant_and_revoked_once(uow: SqlUnitOfWork) -> None:
    def key(key_id: str, tenant_id: str, created: float) -> ApiKey:
        return ApiKey(key_id, tenant_id, "ci", frozenset({"read", "write"}), "hash", at(created))

    k1, k2, k3 = key("k1", T1, 2), key("k2", T2, 1), key("k3", T1, 1)
    for k in (k1, k2, k3):
        uow.keys.add(k)
    assert uow.keys.get("k1") == k1
    assert uow.keys.get("zz") is None
    assert uow.keys.list(T1) == [k3, k1]
    assert [k.id for k in uow.keys.list()] == ["k2", "k3", "k1"]
    assert uow.keys.revoke("k1", at(5)) is True
    assert uow.keys.revoke("k1", at(6)) is False
    assert uow.keys.revoke("zz", at(6)) is False
    assert uow.keys.get("k1") == dataclasses.replace(k1, revoked_at=at(5))


def test_checkpoints_are_overwritten_per_tenant_and_name(uow: SqlUnitOfWork) -> None:
    assert uow.checkpoints.get(T1, "import:a.csv") is None
    uow.checkpoints.put(T1, "import:a.csv", {"line": 10})
    uow.checkpoints.put(T1, "import:a.csv", {"line": 20, "sha": "abc"})
    uow.checkpoints.put(T2, "import:a.csv", {"line": 1})
    assert uow.checkpoints.get(T1, "import:a.csv") == {"line": 20, "sha": "abc"}
    assert uow.checkpoints.get(T2, "import:a.csv") == {"line": 1}


# -- tenant isolation -----------------------------------------------------------------------


def test_another_tenant_sees_none_of_a_tenants_rows(uow: SqlUnitOfWork) -> None:
    uow.members.add(
        make_member("m9", email="a@x.io", phone="+1", household_id="h", custom={"c": "1"})
    )
    uow.ledger.append(T1, PROGRAM, [make_entry("e1", member_id="m9", idempotency_key="k")])
    uow.assignments.add(T1, StoredAssignment(PROGRAM, GROUP, "m9", assignment("a1", 1)))
    uow.states.save(T1, PROGRAM, make_state("m9"), [record(0, 1)])
    uow.outbox.add([event("ev1", subject_id="m9")])
    uow.keys.add(ApiKey("k1", T1, "ci", frozenset({"read"}), "hash", at(1)))
    uow.checkpoints.put(T1, "job", {"n": 1})
    other = "tenant-3"
    assert uow.programs.list(other) == []
    assert uow.programs.get(other, PROGRAM) is None
    assert uow.members.get(other, "m9") is None
    assert uow.members.find(other, email="a@x.io") == []
    assert uow.members.find(other, phone="+1") == []
    assert uow.members.find(other, custom={"c": "1"}) == []
    assert uow.members.household(other, PROGRAM, "h") == []
    assert uow.members.ids(other, PROGRAM) == []
    assert uow.ledger.get(other, "e1") is None
    assert uow.ledger.get(other, "k") is None
    assert uow.ledger.for_members(other, PROGRAM, ["m9"]) == []
    assert uow.assignments.for_subject(other, GROUP, "m9") == []
    assert uow.assignments.end(other, GROUP, "m9", at(5)) == 0
    assert uow.states.get(other, GROUP, "m9") is None
    assert uow.states.get_states(other, [(GROUP, "m9")]) == {}
    assert uow.states.held_tier_ids(other, PROGRAM) == set()
    assert uow.outbox.for_subject(other, "m9") == []
    assert uow.keys.list(other) == []
    assert uow.checkpoints.get(other, "job") is None


# -- serialization (no database) ------------------------------------------------------------


def _through_json(body: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(body))
    return loaded


def test_a_state_survives_json_exactly() -> None:
    state = make_state(
        credit=Decimal("0.1000"),
        assignment=ActiveAssignment("a", 2, AssignmentMode.OVERRIDE, at(1), at(400), "vip"),
    )
    body = _through_json(serialize.state_to_dict(state))
    assert (body["credit"], body["as_of"]) == ("0.1000", "2025-02-09T10:00:00Z")
    again = serialize.state_from_json(orjson.dumps(body))
    assert again == state
    # SQLite gives the text back as the engine wrote it.
    assert serialize.state_from_json(orjson.dumps(body).decode()) == state
    # PostgreSQL gives a `jsonb` body back as its own text, spaced.
    assert serialize.state_from_json(json.dumps(body, indent=1)) == state
    # Bodies written before instants were written with `Z` read the same.
    written_before = {
        k: v.replace("Z", "+00:00") if isinstance(v, str) and v.endswith("Z") else v
        for k, v in body.items()
    }
    assert serialize.state_from_json(orjson.dumps(written_before)) == state
    assert str(again.credit) == "0.1000"
    assert serialize.figures_from_dict(serialize.figures_to_dict(state.figures)) == state.figures
    assert state.assignment is not None
    assert (
        serialize.active_assignment_from_dict(serialize.active_assignment_to_dict(state.assignment))
        == state.assignment
    )
    h = record(3, None, Reason.DOWNGRADED)
    assert serialize.history_from_dict(_through_json(serialize.history_to_dict(h))) == h


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2025-02-09 10:00:00.000005", datetime(2025, 2, 9, 10, 0, 0, 5, tzinfo=UTC)),
        ("2025-02-09 10:00:00", datetime(2025, 2, 9, 10, tzinfo=UTC)),
        ("2025-02-09T12:00:00+02:00", datetime(2025, 2, 9, 10, tzinfo=UTC)),
        ("2025-02-09", datetime(2025, 2, 9, tzinfo=UTC)),
    ],
)
def test_an_instant_read_from_sqlite_text_is_in_utc(text: str, instant: datetime) -> None:
    read = utc_instant(text)
    assert read == instant
    assert read is not None
    assert read.tzinfo is UTC


SQLITE = sqlite.dialect()  # type: ignore[no-untyped-call]
ZONES = [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=13))]


@given(
    instant=st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(ZONES),
    )
)
def test_sqlite_instant_text_is_what_the_driver_type_writes(instant: datetime) -> None:
    """Instants are bound on SQLite as text in one step: the same text SQLAlchemy's DATETIME
    writes from the naive UTC value, so it sorts, compares and reads back the same."""
    naive = instant.astimezone(UTC).replace(tzinfo=None)
    written = sa.DateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert written is not None
    assert sqlite_instant_text(instant) == written(naive)
    assert utc_instant(sqlite_instant_text(instant)) == instant


def test_many_rows_writes_what_sqlalchemys_executemany_writes(engine: sa.Engine) -> None:
    """The same rows written through `ManyRows` and through `Connection.execute` read back
    the same, column for column, as the database holds them (instants in other zones, JSON,
    NULLs)."""
    writer = ManyRows(sa.insert(outbox), outbox, EVENT_COLUMNS)
    paris = timezone(timedelta(hours=1))
    rows = [
        (
            f"{way}-{i}",
            T1,
            "tier.upgraded",
            f"s{i}",
            PROGRAM,
            GROUP,
            at(i).astimezone(paris),
            {"figures": {"window_value": "12.5"}, "to": i, "none": None, "é": [1, 2]},
            at(i + 0.5),
            None if i % 2 else at(i + 1),
        )
        for way in ("plain", "sqlalchemy")
        for i in range(3)
    ]
    with engine.begin() as connection:
        writer(connection, rows[:3])
        connection.execute(
            sa.insert(outbox), [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in rows[3:]]
        )
    as_text = [sa.cast(outbox.c[name], sa.Text) for name in EVENT_COLUMNS[1:]]
    with engine.connect() as connection:
        stored = {
            row[0]: tuple(row[1:])
            for row in connection.execute(sa.select(outbox.c.id, *as_text).order_by(outbox.c.id))
        }
    for i in range(3):
        assert stored[f"plain-{i}"] == stored[f"sqlalchemy-{i}"]


def test_many_rows_refuses_a_statement_that_binds_other_columns(engine: sa.Engine) -> None:
    writer = ManyRows(
        sa.insert(outbox).values(attempts=sa.bindparam("tries")), outbox, EVENT_COLUMNS
    )
    with engine.begin() as connection, pytest.raises(ValueError, match="binds"):
        writer(connection, [("e1", T1, "t", "s", PROGRAM, GROUP, JAN, {}, JAN, None)])


@pytest.mark.parametrize("as_text", [False, True])
@pytest.mark.parametrize("found", [0, 10, 99])
def test_a_stored_state_of_an_unknown_format_is_refused(found: int, as_text: bool) -> None:
    written = orjson.dumps(serialize.state_to_dict(make_state()) | {"format": found})
    with pytest.raises(ValueError, match="format"):
        serialize.state_from_json(written.decode() if as_text else written)


def test_an_entry_survives_its_row_exactly() -> None:
    entry = make_entry(
        "e1",
        points=Decimal("-0.0001"),
        kind=EntryKind.ADJUSTMENT,
        items=(Item(quantity=Decimal("1.5"), amount=Decimal("-2")),),
    )
    row = serialize.entry_to_row(T1, PROGRAM, entry)
    assert row["points"] == -1
    assert (
        serialize.entry_from_row(row | {"items": _through_json({"i": row["items"]})["i"]}) == entry
    )


@pytest.mark.parametrize(
    ("amount", "scaled"),
    [("600", 6_000_000), ("1.5000", 15_000), ("1E+3", 10_000_000), ("-0.0001", -1)],
)
def test_amounts_scale_exactly(amount: str, scaled: int) -> None:
    assert serialize.to_scaled(Decimal(amount), "points") == scaled
    assert serialize.from_scaled(scaled) == Decimal(amount)


@pytest.mark.parametrize("amount", ["0.00001", "1.000000000000000000000000000001", "NaN", "1E+20"])
def test_amounts_that_cannot_be_stored_exactly_are_refused(amount: str) -> None:
    with pytest.raises(InvalidEntry):
        serialize.to_scaled(Decimal(amount), "points")


def test_an_instant_the_driver_gives_in_another_zone_is_read_in_utc() -> None:
    """A session whose time zone is not UTC (tierbook sets its own sessions to UTC) still reads
    every instant in UTC."""
    read = utc_instant(datetime(2025, 2, 9, 21, tzinfo=timezone(timedelta(hours=11))))
    assert read == datetime(2025, 2, 9, 10, tzinfo=UTC)
    assert read is not None
    assert read.tzinfo is UTC
    assert utc_instant(datetime(2025, 2, 9, 10)) == datetime(2025, 2, 9, 10, tzinfo=UTC)
