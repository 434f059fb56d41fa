"""The storage under the hot reads, on SQLite and on PostgreSQL: stored states with their rows'
timestamps, a member read with its program, and the parsed programs kept between reads."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import psycopg
import pytest
import sqlalchemy as sa
from psycopg.conninfo import make_conninfo

from tierbook.adapters.db.engine import make_engine
from tierbook.adapters.db.hot import SNAPSHOT, SqlHotReads, _Prepared
from tierbook.adapters.db.migrate import upgrade
from tierbook.adapters.db.repositories_catalog import _PROGRAM_ROWS, ParsedPrograms
from tierbook.adapters.db.tables import programs
from tierbook.adapters.db.uow import SqlUnitOfWorkFactory
from tierbook.domain.state import Figures, Reason, TierState
from tierbook.service.clocks import FixedClock
from tierbook.service.documents import program_from_document
from tierbook.service.model import Member, ProgramConfig

T1, T2 = "tenant-1", "tenant-2"
PROGRAM = 7
JAN = datetime(2025, 1, 10, 10, 0, tzinfo=UTC)


def make_program(*, tier_name: str = "Silver", groups: tuple[int, ...] = (10,)) -> ProgramConfig:
    return program_from_document(
        {
            "program": {"id": PROGRAM, "code": "acme", "name": "ACME Rewards"},
            "groups": [
                {
                    "id": group,
                    "code": f"G{group}",
                    "name": f"Group {group}",
                    "tiers": [
                        {"id": group * 10 + 1, "handle": "bronze", "name": "Bronze", "rank": 0},
                        {
                            "id": group * 10 + 2,
                            "handle": "silver",
                            "name": tier_name,
                            "rank": 1,
                            "value_min": 1000,
                        },
                    ],
                }
                for group in groups
            ],
        }
    )


def make_state(group_id: int, subject_id: str, **kw: Any) -> TierState:
    figures = Figures(
        window_value=Decimal("12.5"),
        window_from=JAN - timedelta(days=365),
        window_to=JAN,
        progress=Decimal(0),
        remain_to_keep=Decimal(0),
        next_tier_id=None,
        remain_to_next=Decimal("987.5"),
        total_points_12m=Decimal("12.5"),
        total_points_achievement=None,
        next_progress_change_at=None,
    )
    fields: dict[str, Any] = {
        "group_id": group_id,
        "subject_id": subject_id,
        "as_of": JAN,
        "enrolled_at": JAN,
        "tier_id": group_id * 10 + 1,
        "prev_tier_id": None,
        "achieved_at": JAN,
        "last_reason": Reason.ENROLLED,
        "anniversary_at": None,
        "maintained_at": None,
        "tier_year_start": JAN,
        "credit": Decimal(0),
        "grace_until": None,
        "assigned_at": None,
        "assignment": None,
        "last_activity_at": None,
        "pending_promotion_at": None,
        "inactivity_base": None,
        "figures": figures,
        "next_due_at": None,
        "stable_until": None,
    }
    return TierState(**(fields | kw))


@pytest.fixture
def factory(uow_factory: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
    """Program 7 in both tenants (tenant 2's with other tier names), member m1 in each."""
    with uow_factory() as uow:
        uow.programs.save(T1, make_program(groups=(10, 11)))
        uow.programs.save(T2, make_program(tier_name="Argent", groups=(10, 11)))
        for tenant in (T1, T2):
            uow.members.add(Member(tenant_id=tenant, id="m1", program_id=PROGRAM, enrolled_at=JAN))
        uow.commit()
    return uow_factory


def test_records_are_the_states_asked_for_with_their_rows_timestamps(
    factory: SqlUnitOfWorkFactory,
) -> None:
    states = {
        (10, "m1"): make_state(10, "m1"),
        (11, "m1"): make_state(11, "m1"),
        (10, "h1"): make_state(10, "h1"),
        (11, "h1"): make_state(11, "h1", tier_id=112),
    }
    with factory() as uow:
        for state in states.values():
            uow.states.save(T1, PROGRAM, state, [])
        uow.commit()
    with factory(write=False) as uow:
        # Asked for two subjects in two groups, but not every pair: no other pair comes back.
        found = uow.states.get_records(T1, [(10, "m1"), (11, "h1"), (11, "nobody")])
        assert set(found) == {(10, "m1"), (11, "h1")}
        assert found[(11, "h1")].state == states[(11, "h1")]
        assert found[(10, "m1")].created_at <= found[(10, "m1")].updated_at
        assert uow.states.get_states(T1, [(10, "m1"), (11, "h1")]) == {
            (10, "m1"): states[(10, "m1")],
            (11, "h1"): states[(11, "h1")],
        }
        assert uow.states.get_records(T2, [(10, "m1")]) == {}
        assert uow.states.get_records(T1, []) == {}


def test_a_records_timestamps_follow_its_row(uow_factory: SqlUnitOfWorkFactory) -> None:
    clock = FixedClock(JAN)
    factory = SqlUnitOfWorkFactory(uow_factory.engine, clock=clock)
    with factory() as uow:
        uow.programs.save(T1, make_program())
        uow.states.save(T1, PROGRAM, make_state(10, "m1"), [])
        uow.commit()
    clock.set(JAN + timedelta(days=1))
    with factory() as uow:
        uow.states.save(T1, PROGRAM, make_state(10, "m1", tier_id=102), [])
        uow.commit()
    with factory(write=False) as uow:
        record = uow.states.get_records(T1, [(10, "m1")])[(10, "m1")]
    assert (record.created_at, record.updated_at) == (JAN, JAN + timedelta(days=1))
    assert record.state.tier_id == 102


def test_a_member_is_read_with_its_tenants_program(factory: SqlUnitOfWorkFactory) -> None:
    with factory(write=False) as uow:
        found = uow.members.get_with_program(T1, "m1")
        theirs = uow.members.get_with_program(T2, "m1")
        assert uow.members.get_with_program(T1, "m2") is None
        assert found is not None
        assert theirs is not None
        member, program = found
        assert member == uow.members.get(T1, "m1")
        assert program == uow.programs.get(T1, PROGRAM)
        assert program.updated_at is not None
        assert theirs[1].groups[0].rules.tiers[1].name == "Argent"


def test_a_household_lists_its_members_by_id(factory: SqlUnitOfWorkFactory) -> None:
    with factory() as uow:
        for member_id in ("m9", "m3", "m5"):
            uow.members.add(
                Member(
                    tenant_id=T1,
                    id=member_id,
                    program_id=PROGRAM,
                    enrolled_at=JAN,
                    household_id="h1",
                )
            )
        uow.commit()
    with factory(write=False) as uow:
        assert [m.id for m in uow.members.household(T1, PROGRAM, "h1")] == ["m3", "m5", "m9"]


# -- parsed programs ------------------------------------------------------------------------------


def test_a_program_is_parsed_once_while_it_is_unchanged(factory: SqlUnitOfWorkFactory) -> None:
    with factory(write=False) as uow:
        first = uow.programs.get(T1, PROGRAM)
    with factory(write=False) as uow:
        again = uow.programs.get(T1, PROGRAM)
        found = uow.members.get_with_program(T1, "m1")
    assert first is not None
    assert found is not None
    assert again is first
    assert found[1] is first


def test_a_changed_program_is_read_as_changed(factory: SqlUnitOfWorkFactory) -> None:
    with factory(write=False) as uow:
        before = uow.programs.get(T1, PROGRAM)
    # Saved at the same instant as before (a fixed clock): the document alone differs.
    assert before is not None
    with factory() as uow:
        changed = make_program(tier_name="Sterling", groups=(10, 11))
        stamps = {"created_at": before.created_at, "updated_at": before.updated_at}
        uow.programs.save(T1, dataclasses.replace(changed, **stamps))
        uow.commit()
    with factory(write=False) as uow:
        after = uow.programs.get(T1, PROGRAM)
        found = uow.members.get_with_program(T1, "m1")
    assert after is not None
    assert found is not None
    assert after.groups[0].rules.tiers[1].name == "Sterling"
    assert found[1] == after


def test_a_program_changed_by_another_process_is_read_as_changed(
    factory: SqlUnitOfWorkFactory, database_url: str
) -> None:
    with factory(write=False) as uow:
        assert uow.programs.get(T1, PROGRAM) is not None
    other = make_engine(database_url)
    try:
        with SqlUnitOfWorkFactory(other)() as uow:
            uow.programs.save(T1, make_program(tier_name="Plata", groups=(10, 11)))
            uow.commit()
    finally:
        other.dispose()
    with factory(write=False) as uow:
        program = uow.programs.get(T1, PROGRAM)
    assert program is not None
    assert program.groups[0].rules.tiers[1].name == "Plata"


def test_kept_programs_are_per_tenant(factory: SqlUnitOfWorkFactory) -> None:
    with factory(write=False) as uow:
        ours = uow.programs.get(T1, PROGRAM)
        theirs = uow.programs.get(T2, PROGRAM)
        ours_again = uow.programs.get(T1, PROGRAM)
    assert ours is not None
    assert theirs is not None
    assert ours.groups[0].rules.tiers[1].name == "Silver"
    assert theirs.groups[0].rules.tiers[1].name == "Argent"
    assert ours_again is ours


@pytest.mark.usefixtures("factory")
def test_parsed_programs_keep_a_bounded_number(engine: sa.Engine) -> None:
    parsed = ParsedPrograms(limit=1)
    with engine.connect() as connection:
        rows = {
            tenant: connection.execute(_PROGRAM_ROWS.where(programs.c.tenant_id == tenant)).one()
            for tenant in (T1, T2)
        }
    first = parsed.program(T1, rows[T1])
    assert parsed.program(T1, rows[T1]) is first
    assert parsed.program(T2, rows[T2]).groups[0].rules.tiers[1].name == "Argent"
    assert parsed.program(T1, rows[T1]) is not first  # dropped when the limit was passed
    assert parsed.program(T1, rows[T1]) == first


def test_a_reading_unit_of_work_on_sqlite_reads_one_snapshot(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'snapshot.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        factory = SqlUnitOfWorkFactory(engine)
        with factory() as uow:
            uow.programs.save(T1, make_program())
            uow.commit()
        with factory(write=False) as reader:
            before = reader.programs.get(T1, PROGRAM)
            with factory() as writer:
                writer.programs.save(T1, make_program(tier_name="Sterling"))
                writer.commit()
            assert reader.programs.get(T1, PROGRAM) == before
        with factory(write=False) as reader:
            after = reader.programs.get(T1, PROGRAM)
        assert after is not None
        assert after.groups[0].rules.tiers[1].name == "Sterling"
    finally:
        engine.dispose()


# -- the prepared snapshot on PostgreSQL ----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_prepared_snapshot_reads_what_a_cursor_reads(engine: sa.Engine) -> None:
    """The hot read's statement, prepared and run through libpq, gives the rows a cursor gives;
    a connection whose read fails (here: its prepared statement gone) is closed, and a new one
    is prepared afresh."""
    with SqlUnitOfWorkFactory(engine)() as uow:
        uow.programs.save(T1, make_program(groups=(10, 11)))
        uow.members.add(
            Member(tenant_id=T1, id="m1", program_id=PROGRAM, enrolled_at=JAN, household_id="h1")
        )
        uow.states.save(T1, PROGRAM, make_state(10, "m1"), [])
        uow.states.save(T1, PROGRAM, make_state(11, "h1", tier_id=112), [])
        uow.commit()
    cursor_sql = SqlHotReads(engine)._statement.sql
    prepared = _Prepared(SNAPSHOT)
    args, options = engine.dialect.create_connect_args(engine.url)
    options.pop("context", None)
    conninfo = make_conninfo(*args, **options)
    values = {"tenant_id": T1, "member_id": "m1"}

    async def connect() -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(conninfo, autocommit=True)

    def by_state(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return sorted(rows, key=lambda row: (row[-6], row[-5]))  # (group, subject)

    async def read() -> None:
        async with await connect() as other:
            expected = by_state(await (await other.execute(cursor_sql, values)).fetchall())
        assert [row[-6:-3] for row in expected] == [(10, "m1", mock.ANY), (11, "h1", mock.ANY)]
        connection = await connect()
        assert by_state(await prepared.rows(connection, values)) == expected
        # Prepared once, run again.
        assert by_state(await prepared.rows(connection, values)) == expected
        assert await prepared.rows(connection, {"tenant_id": T1, "member_id": "nobody"}) == []
        with pytest.raises(psycopg.DataError):  # not cut at the NUL: refused, as by a cursor
            await prepared.rows(connection, {"tenant_id": T1, "member_id": "m1\x00x"})
        assert not connection.closed
        await connection.execute("DEALLOCATE ALL")
        with pytest.raises(psycopg.Error, match="tierbook_hot_snapshot"):
            await prepared.rows(connection, values)
        assert connection.closed
        async with await connect() as fresh:
            assert by_state(await prepared.rows(fresh, values)) == expected

    asyncio.run(read())
