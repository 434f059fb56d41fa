"""Single activities recorded together: `activities.record_together` and the group commit
(`service.writer.ActivityWriter`) that serves `POST /v1/activities` with it.

Recording requests together must never change what any of them gets: each outcome, tier
change, error and stored state is compared with recording the same commands one after another.
Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tests.integration.test_recording import HOUSEHOLDS, START, _enrolled, stored_states

from tierbook.adapters.db.tables import outbox
from tierbook.adapters.db.uow import SqlUnitOfWorkFactory
from tierbook.domain.errors import InvalidEntry, TierbookError
from tierbook.domain.ledger import EntryKind
from tierbook.service import activities
from tierbook.service.clocks import FixedClock
from tierbook.service.commands import RecordActivity
from tierbook.service.ports import UnitOfWork
from tierbook.service.writer import ActivityWriter

Result = activities.Outcome | TierbookError


def _command(
    member_id: str,
    day: int,
    points: int = 300,
    key: str | None = None,
    reverses: str | None = None,
) -> RecordActivity:
    return RecordActivity(
        member_id=member_id,
        occurred_at=START + timedelta(days=day),
        idempotency_key=key,
        kind=EntryKind.REFUND if reverses is not None else EntryKind.PURCHASE,
        points=Decimal(-points if reverses is not None else points),
        spend=Decimal(points) / 2,
        reverses=reverses,
    )


def _alone(
    uow_factory: SqlUnitOfWorkFactory, clock: FixedClock, tenant: str, commands: Sequence[Any]
) -> list[Result]:
    """Each command recorded by `record` in a transaction of its own, one after another."""
    results: list[Result] = []
    for command in commands:
        try:
            with uow_factory() as uow:
                outcome = activities.record(uow, clock, tenant_id=tenant, commands=[command])
                uow.commit()
        except TierbookError as exc:
            results.append(exc)
        else:
            results.append(outcome)
    return results


def _together(
    uow_factory: SqlUnitOfWorkFactory, clock: FixedClock, tenant: str, commands: Sequence[Any]
) -> tuple[list[Result], int]:
    """The commands through `record_together`, those it leaves out again in the next
    transaction, as the writer does; (results, transactions)."""
    results: dict[int, Result] = {}
    pending = list(range(len(commands)))
    transactions = 0
    while pending:
        with uow_factory() as uow:
            done = activities.record_together(
                uow, clock, tenant_id=tenant, commands=[commands[i] for i in pending]
            )
            uow.commit()
        transactions += 1
        assert done[0] is not None, "the first command is always recorded"
        results.update({i: r for i, r in zip(pending, done, strict=True) if r is not None})
        pending = [i for i, r in zip(pending, done, strict=True) if r is None]
    return [results[i] for i in range(len(commands))], transactions


def _seen(result: Result) -> Any:
    """What a caller sees of a result, without the entry ids each tenant draws afresh."""
    if isinstance(result, TierbookError):
        return (type(result).__name__, result.message, result.field)
    return (
        [
            # An entry without a key of its own is keyed by its id.
            (
                dataclasses.replace(
                    r.entry,
                    id="",
                    reverses=None,
                    idempotency_key=None if r.entry.idempotency_key == r.entry.id else "key",
                ),
                r.entry.idempotency_key if r.entry.idempotency_key != r.entry.id else None,
                r.created,
            )
            for r in result.entries
        ],
        list(result.changes),
        sorted(result.programs),
    )


def _events(engine: sa.Engine, tenant: str) -> list[Any]:
    query = sa.select(outbox.c.type, outbox.c.subject_id, outbox.c.group_id, outbox.c.payload)
    with engine.connect() as connection:
        rows = connection.execute(query.where(outbox.c.tenant_id == tenant)).all()
    return sorted(map(repr, rows))


def _same_either_way(
    uow_factory: SqlUnitOfWorkFactory,
    engine: sa.Engine,
    clock: FixedClock,
    commands: Sequence[RecordActivity],
) -> int:
    """Record the commands both ways, each in a tenant of its own, and compare everything;
    the number of transactions `record_together` took."""
    run = uuid.uuid4().hex[:8]
    tenants = {way: f"{way}-{run}" for way in ("alone", "together")}
    for tenant in tenants.values():
        _enrolled(uow_factory, clock, tenant)
    alone = _alone(uow_factory, clock, tenants["alone"], commands)
    together, transactions = _together(uow_factory, clock, tenants["together"], commands)
    assert [_seen(r) for r in together] == [_seen(r) for r in alone]
    with uow_factory(write=False) as uow:
        assert stored_states(uow, tenants["together"]) == stored_states(uow, tenants["alone"])
    assert _events(engine, tenants["together"]) == _events(engine, tenants["alone"])
    return transactions


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START + timedelta(days=200))


def test_commands_recorded_together_get_what_each_gets_alone(
    uow_factory: SqlUnitOfWorkFactory, engine: sa.Engine, clock: FixedClock
) -> None:
    commands = [
        _command("ann", 1, 700, key="a1"),
        _command("cyd", 2, 1200, key="c1"),  # promotes cyd
        _command("bob", 3, 500, key="b1"),  # ann's household: left out at first
        _command("zed", 4, key="z1"),  # no such member: its own error
        _command("cyd", 5, 1200, key="c1"),  # c1 again: a repeat
        _command("ann", 6, 700, reverses="a1"),  # refunds an entry of the same call
        _command("cyd", 400),  # in the future: its own error
        _command("ann", 7, 10, reverses="b1"),  # bob's entry: not ann's to refund
    ]
    transactions = _same_either_way(uow_factory, engine, clock, commands)
    assert 1 < transactions < len(commands)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([*HOUSEHOLDS, "zed"]),
            st.integers(min_value=0, max_value=210),
            st.integers(min_value=1, max_value=1500),
            st.sampled_from([None, "k1", "k2", "k3"]),
            st.sampled_from([None, None, None, "k1", "k2"]),
        ),
        min_size=1,
        max_size=8,
    )
)
@example(
    # A key repeated by another member: its replayed changes read that member's states, which
    # the command after it moves.
    drawn=[("cyd", 0, 1, "k2", None), ("ann", 0, 1, "k2", None), ("ann", 0, 1, None, None)]
)
def test_recording_together_never_changes_an_outcome(
    uow_factory: SqlUnitOfWorkFactory,
    engine: sa.Engine,
    clock: FixedClock,
    drawn: list[tuple[str, int, int, str | None, str | None]],
) -> None:
    commands = [_command(m, d, p, key=k, reverses=r) for m, d, p, k, r in drawn]
    _same_either_way(uow_factory, engine, clock, commands)


# -- the writer ---------------------------------------------------------------------------------


class _Gated:
    """A unit-of-work factory whose first writing unit waits until `release` is set."""

    def __init__(self, inner: SqlUnitOfWorkFactory) -> None:
        self.inner = inner
        self.release = threading.Event()
        self.first = True

    def __call__(self, *, write: bool = True) -> Any:
        if write and self.first:
            self.first = False
            assert self.release.wait(30)
        return self.inner(write=write)


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the writer never got there"
        time.sleep(0.005)


def _concurrently(
    writer: ActivityWriter, gate: _Gated, commands: Sequence[RecordActivity]
) -> list[Result]:
    """The first command leads and waits at the gate while the others queue behind it."""

    def one(command: RecordActivity) -> Result:
        try:
            return writer.record("t1", command)
        except TierbookError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        first = pool.submit(one, commands[0])
        _until(lambda: writer._leading and not writer._queue)  # it leads, its request taken
        rest = [pool.submit(one, c) for c in commands[1:]]
        _until(lambda: len(writer._queue) == len(commands) - 1)
        gate.release.set()
        return [first.result(30), *(f.result(30) for f in rest)]


def test_the_writer_records_requests_that_queued_meanwhile_in_one_transaction(
    uow_factory: SqlUnitOfWorkFactory, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _enrolled(uow_factory, clock, "t1")
    calls: list[int] = []
    real = activities.record_together

    def counted(uow: UnitOfWork, clock: Any, **kwargs: Any) -> Any:
        calls.append(len(kwargs["commands"]))
        return real(uow, clock, **kwargs)

    monkeypatch.setattr(activities, "record_together", counted)
    gate = _Gated(uow_factory)
    writer = ActivityWriter(gate, clock)  # type: ignore[arg-type]
    commands = [
        _command("cyd", 1, key="first"),
        _command("ann", 2, 1200, key="a"),
        _command("zed", 3),
        _command("bob", 4, key="b"),  # ann's household
        _command("cyd", 5, key="c"),
    ]
    results = _concurrently(writer, gate, commands)
    # The leader alone, then the four queued meanwhile, up to bob (ann's household): bob and
    # the one after him in the next transaction.
    assert calls == [4, 2]
    assert isinstance(results[2], InvalidEntry)
    assert "zed" in results[2].message
    for i in (0, 1, 3, 4):
        outcome = results[i]
        assert isinstance(outcome, activities.Outcome)
        assert [r.created for r in outcome.entries] == [True]
        assert outcome.entries[0].entry.idempotency_key == commands[i].idempotency_key
    ann = results[1]
    assert isinstance(ann, activities.Outcome)
    assert {(c.group_id, c.subject_id) for c in ann.changes} == {(10, "ann"), (20, "h1")}
    with uow_factory(write=False) as uow:
        stored_states(uow, "t1")


def test_a_shared_transaction_that_fails_records_each_request_alone(
    uow_factory: SqlUnitOfWorkFactory, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _enrolled(uow_factory, clock, "t1")

    def failing(*_: Any, **__: Any) -> Any:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("the database went away"))

    monkeypatch.setattr(activities, "record_together", failing)
    gate = _Gated(uow_factory)
    writer = ActivityWriter(gate, clock)  # type: ignore[arg-type]
    commands = [_command("cyd", 1), _command("ann", 2), _command("zed", 3), _command("cyd", 4)]
    results = _concurrently(writer, gate, commands)
    assert isinstance(results[2], InvalidEntry)
    assert all(isinstance(results[i], activities.Outcome) for i in (0, 1, 3))
    with uow_factory(write=False) as uow:
        assert len(uow.ledger.ledgers("t1", 1, {"ann", "cyd"})["cyd"]) == 2
        stored_states(uow, "t1")


def test_a_request_that_arrives_alone_is_recorded_as_without_the_writer(
    uow_factory: SqlUnitOfWorkFactory, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _enrolled(uow_factory, clock, "t1")

    def never(*_: Any, **__: Any) -> Any:
        raise AssertionError("a lone request went through record_together")

    monkeypatch.setattr(activities, "record_together", never)
    writer = ActivityWriter(uow_factory, clock)
    first = writer.record("t1", _command("cyd", 1, 1200, key="c1"))
    again = writer.record("t1", _command("cyd", 1, 1200, key="c1"))
    assert [r.created for r in first.entries + again.entries] == [True, False]
    assert again.changes == first.changes != ()
    with pytest.raises(InvalidEntry, match="zed"):
        writer.record("t1", _command("zed", 2))
