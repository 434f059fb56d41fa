"""Concurrent writers, each in its own unit of work, on SQLite and on PostgreSQL.

The pattern under test is the service's write path: lock the subject, read its stored state,
append an entry, save a state derived from what was read, commit. If two writers could read
the same state, one's save would overwrite the other's and an entry would be lost from it.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tierbook.adapters.db.engine import make_engine
from tierbook.adapters.db.uow import SqlUnitOfWorkFactory
from tierbook.domain.errors import ConcurrentUpdate
from tierbook.domain.ledger import Entry
from tierbook.domain.state import Figures, HistoryRecord, Reason, TierState
from tierbook.service.documents import program_from_document
from tierbook.service.model import Member, StoredEntryResult

TENANT, PROGRAM, GROUP = "tenant-1", 7, 10
START = datetime(2025, 1, 10, 10, 0, tzinfo=UTC)
THREADS = 8


def _state(subject_id: str, credit: int) -> TierState:
    zero = Decimal(0)
    figures = Figures(zero, None, START, zero, zero, None, zero, zero, None, None)
    return TierState(
        group_id=GROUP,
        subject_id=subject_id,
        as_of=START,
        enrolled_at=START,
        tier_id=1,
        prev_tier_id=None,
        achieved_at=START,
        last_reason=Reason.ENROLLED,
        anniversary_at=None,
        maintained_at=None,
        tier_year_start=START,
        credit=Decimal(credit),
        grace_until=None,
        assigned_at=None,
        assignment=None,
        last_activity_at=None,
        pending_promotion_at=None,
        inactivity_base=None,
        figures=figures,
        next_due_at=None,
        stable_until=None,
    )


@pytest.fixture
def members(uow_factory: SqlUnitOfWorkFactory) -> list[str]:
    """Members m0…m3, each with a saved state of credit 0."""
    program = program_from_document(
        {
            "program": {"id": PROGRAM, "code": "acme", "name": "ACME"},
            "groups": [
                {
                    "id": GROUP,
                    "code": "STATUS",
                    "name": "Status",
                    "tiers": [{"id": 1, "handle": "base", "name": "Base", "rank": 0}],
                }
            ],
        }
    )
    ids = [f"m{i}" for i in range(4)]
    with uow_factory() as uow:
        uow.programs.save(TENANT, program)
        for member_id in ids:
            uow.members.add(Member(TENANT, member_id, PROGRAM, START))
            uow.states.save(TENANT, PROGRAM, _state(member_id, 0), [])
        uow.commit()
    return ids


def _in_threads(work: Callable[[int], None], jobs: int) -> None:
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for future in [pool.submit(work, job) for job in range(jobs)]:
            future.result()


def _record_visit(
    uow_factory: SqlUnitOfWorkFactory, entry_id: str, subjects: Sequence[str]
) -> None:
    """One writer: an entry for the first subject, +1 credit and a history record on each."""
    with uow_factory() as uow:
        uow.states.lock(TENANT, [(GROUP, s) for s in subjects])
        stored = {s: uow.states.get(TENANT, GROUP, s) for s in subjects}
        occurred = START + timedelta(minutes=random.randint(1, 10_000))
        uow.ledger.append(TENANT, PROGRAM, [Entry(entry_id, subjects[0], occurred)])
        for was in stored.values():
            assert was is not None
            state = dataclasses.replace(was.state, credit=was.state.credit + 1)
            record = HistoryRecord(occurred, 1, 1, Reason.MAINTAINED, {"by": entry_id})
            uow.states.save(TENANT, PROGRAM, state, [*was.history, record])
        uow.commit()


@pytest.mark.usefixtures("members")
def test_writers_of_one_subject_lose_nothing(uow_factory: SqlUnitOfWorkFactory) -> None:
    jobs = THREADS * 4
    _in_threads(lambda job: _record_visit(uow_factory, f"e{job}", ["m0"]), jobs)
    with uow_factory(write=False) as uow:
        stored = uow.states.get(TENANT, GROUP, "m0")
        entries = uow.ledger.for_members(TENANT, PROGRAM, ["m0"])
    assert stored is not None
    assert stored.state.credit == jobs == len(entries)
    assert sorted(r.figures["by"] for r in stored.history) == sorted(e.id for e in entries)


def test_writers_locking_overlapping_subjects_in_any_order_neither_deadlock_nor_lose(
    uow_factory: SqlUnitOfWorkFactory, members: list[str]
) -> None:
    rng = random.Random(7)
    plans = [rng.sample(members, rng.randint(2, len(members))) for _ in range(THREADS * 4)]
    _in_threads(lambda job: _record_visit(uow_factory, f"e{job}", plans[job]), len(plans))
    with uow_factory(write=False) as uow:
        states = uow.states.get_states(TENANT, [(GROUP, m) for m in members])
    assert {key[1]: int(s.credit) for key, s in states.items()} == {
        m: sum(m in plan for plan in plans) for m in members
    }


@pytest.mark.usefixtures("members")
def test_racing_appends_of_one_key_write_one_entry(uow_factory: SqlUnitOfWorkFactory) -> None:
    start = threading.Barrier(THREADS)
    results: list[StoredEntryResult] = []

    def append(job: int) -> None:
        start.wait(timeout=30)
        with uow_factory() as uow:
            entry = Entry(f"e{job}", "m1", START, points=Decimal(job), idempotency_key="tx-1")
            results.extend(uow.ledger.append(TENANT, PROGRAM, [entry]))
            uow.commit()

    _in_threads(append, THREADS)
    with uow_factory(write=False) as uow:
        entries = uow.ledger.for_members(TENANT, PROGRAM, ["m1"])
    assert len(entries) == 1
    assert {r.entry_id for r in results} == {entries[0].id}
    assert sum(r.created for r in results) == 1


@pytest.mark.usefixtures("members")
def test_a_writer_kept_waiting_too_long_gets_concurrent_update(
    database_url: str, uow_factory: SqlUnitOfWorkFactory
) -> None:
    impatient = make_engine(database_url, lock_timeout_s=0.05)
    try:
        with uow_factory() as holder:
            holder.states.lock(TENANT, [(GROUP, "m0")])
            with pytest.raises(ConcurrentUpdate), SqlUnitOfWorkFactory(impatient)() as waiter:
                waiter.states.lock(TENANT, [(GROUP, "m0")])
    finally:
        impatient.dispose()
