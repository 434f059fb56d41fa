"""Fresh benchmark databases, and a bulk loader for millions of members and entries.

The loader writes straight into the tables tierbook's migrations create (the same columns, the
same encodings: every value goes through the column type's own bind processor), in large
transactions: `executemany` in big chunks on SQLite, `COPY` on PostgreSQL. What it measures is
loading, which no benchmark times.

Besides members and their ledgers it writes one stale tier state per subject (member, or
household in household groups): the state as of enrolment, marked due at once and stable until
then, so that no read trusts it and `tierbook sweep` re-evaluates every subject from its ledger.
That is what a database holds after a migration that imported members and history directly.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench import generate as gen
from bench.common import say
from tierbook.adapters.db.engine import make_engine
from tierbook.adapters.db.migrate import upgrade
from tierbook.adapters.db.repositories import bind_processors
from tierbook.adapters.db.repositories_state import HISTORY_COLUMNS, STATE_COLUMNS
from tierbook.adapters.db.serialize import custom_digest, custom_text, state_to_dict
from tierbook.adapters.db.tables import (
    AMOUNT_SCALE,
    ledger,
    member_custom,
    members,
    tier_history,
    tier_states,
)
from tierbook.adapters.db.uow import SqlUnitOfWorkFactory
from tierbook.domain.clock import evaluate
from tierbook.domain.rules import Context
from tierbook.service import auth, programs
from tierbook.service.clocks import FixedClock
from tierbook.service.documents import parse_document
from tierbook.service.model import ProgramConfig

POSTGRES_SERVER = os.environ.get(
    "TIERBOOK_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
"""The PostgreSQL server for benchmark databases (they are created and dropped there)."""
CHUNK = 20_000
LOADED_AT = datetime(2026, 11, 1, 12, tzinfo=UTC)

Log = Callable[[str], None]


# -- databases ----------------------------------------------------------------------------------


def fresh_sqlite(path: Path) -> str:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


def fresh_postgres(name: str) -> str:
    """Drop and create database `name` on the benchmark server; the migrated database's URL."""
    admin = sa.create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    url = f"{POSTGRES_SERVER}/{name}"
    upgrade(url)
    return url


def drop_postgres(name: str) -> None:
    admin = sa.create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def settle(engine: sa.Engine) -> None:
    """On PostgreSQL, `VACUUM ANALYZE` what was just written, before anything is timed.

    Autovacuum would do it within a minute or so in production; a server that runs without it
    (or a benchmark that starts at once) never gives the planner statistics and keeps every
    row a sweep or a write replaced. See "Benchmarks" in `docs/decisions.md`. SQLite needs
    nothing.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")


def fresh_database(backend: str, where: Path, name: str) -> str:
    """A new, migrated, empty database: a SQLite file under `where`, or a PostgreSQL database."""
    if backend == "sqlite":
        return fresh_sqlite(where / f"{name}.db")
    return fresh_postgres(name)


def backend_of(url: str) -> str:
    return make_url(url).get_backend_name()


def install_program(url: str) -> ProgramConfig:
    engine = make_engine(url)
    try:
        with SqlUnitOfWorkFactory(engine)() as uow:
            applied = programs.put_program(
                uow,
                FixedClock(LOADED_AT),
                tenant_id=gen.TENANT,
                document=parse_document(gen.program_document()),
            )
            uow.commit()
    finally:
        engine.dispose()
    return applied.program


def create_key(url: str, scopes: frozenset[str] = frozenset({"admin"})) -> str:
    """A new API key for the benchmark tenant; its token (`ID.SECRET`)."""
    engine = make_engine(url)
    try:
        with SqlUnitOfWorkFactory(engine)() as uow:
            _, token = auth.create_key(
                uow, FixedClock(LOADED_AT), tenant_id=gen.TENANT, name="bench", scopes=scopes
            )
            uow.commit()
    finally:
        engine.dispose()
    return token


# -- rows ---------------------------------------------------------------------------------------


class _Rows:
    """Values in a table's column order, through each column's bind processor."""

    def __init__(self, engine: sa.Engine, table: sa.Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self._processors = bind_processors(table, columns, engine.dialect)

    def __call__(self, values: Sequence[Any]) -> tuple[Any, ...]:
        row = list(values)
        for i, process in self._processors:
            if row[i] is not None:
                row[i] = process(row[i])
        return tuple(row)


def _writer(engine: sa.Engine) -> Callable[[sa.Table, Sequence[str], list[tuple[Any, ...]]], None]:
    """A function that appends rows to a table on a raw connection in one open transaction."""
    raw = engine.raw_connection()
    postgres = engine.dialect.name == "postgresql"
    cursor = raw.cursor()
    if not postgres:
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-1000000")
        cursor.execute("BEGIN")

    def write(table: sa.Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        names = ", ".join(columns)
        if postgres:
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)

    def commit() -> None:
        if postgres:
            raw.commit()
        else:
            cursor.execute("COMMIT")
            cursor.execute("PRAGMA synchronous=NORMAL")
        raw.close()

    write.commit = commit  # type: ignore[attr-defined]
    return write


MEMBER_COLUMNS = (
    "tenant_id",
    "id",
    "program_id",
    "email",
    "phone",
    "custom",
    "household_id",
    "enrolled_at",
    "created_at",
    "updated_at",
)
CUSTOM_COLUMNS = ("tenant_id", "member_id", "name", "value", "digest")
LEDGER_COLUMNS = (
    "tenant_id",
    "id",
    "program_id",
    "member_id",
    "kind",
    "occurred_at",
    "recorded_at",
    "idempotency_key",
    "points",
    "spend",
    "units",
    "business_unit",
    "behaviour_type",
    "achievement_id",
    "reverses",
    "items",
    "meta",
)
_CENT = AMOUNT_SCALE // 100
_EMPTY: dict[str, Any] = {}


def member_values(person: gen.GenMember) -> tuple[Any, ...]:
    """A member as the `members` columns hold it (before bind processing)."""
    return (
        gen.TENANT,
        person.id,
        gen.PROGRAM_ID,
        person.email,
        person.phone,
        person.custom,
        person.household_id,
        person.enrolled_at,
        LOADED_AT,
        LOADED_AT,
    )


def custom_values(person: gen.GenMember) -> list[tuple[Any, ...]]:
    """The member's `member_custom` rows: one per custom field that can be looked up."""
    found = []
    for name, value in person.custom.items():
        text = custom_text(value)
        if text is not None:
            found.append((gen.TENANT, person.id, name, text, custom_digest(text)))
    return found


def ledger_values(entry: gen.GenEntry) -> tuple[Any, ...]:
    """An entry as the `ledger` columns hold it (before bind processing), id = key."""
    items = [
        {"sku": s, "category": c, "quantity": str(q), "amount": _money(a)}
        for s, c, q, a in entry.items
    ]
    return (
        gen.TENANT,
        entry.key,
        gen.PROGRAM_ID,
        entry.member_id,
        entry.kind.value,
        entry.occurred_at,
        entry.occurred_at,
        entry.key,
        entry.points * AMOUNT_SCALE,
        entry.spend_cents * _CENT,
        entry.units * AMOUNT_SCALE,
        entry.business_unit,
        entry.behaviour_type,
        entry.achievement_id,
        entry.reverses,
        items,
        _EMPTY,
    )


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


# -- stale states -------------------------------------------------------------------------------


@dataclass
class _Stubs:
    """Per group, the enrolment state's stored body, with its instants replaced per subject."""

    program: ProgramConfig
    templates: dict[int, tuple[dict[str, Any], dict[str, Any], int | None]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        probe = datetime(2024, 1, 1, tzinfo=UTC)
        for group in self.program.groups:
            evaluation = evaluate(
                group.rules, subject_id="-", enrolled_at=probe, entries=(), as_of=probe
            )
            body = state_to_dict(evaluation.state)
            record = evaluation.history[0]
            self.templates[group.id] = (
                body,
                {"from": record.from_tier_id, "to": record.to_tier_id, "reason": record.reason},
                evaluation.state.tier_id,
            )

    def rows(
        self, group_id: int, subject_id: str, enrolled_at: datetime
    ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        body, record, tier_id = self.templates[group_id]
        text = enrolled_at.astimezone(UTC).isoformat()
        stub = dict(body)
        stub.update(
            subject_id=subject_id,
            as_of=text,
            enrolled_at=text,
            achieved_at=text,
            tier_year_start=text,
            # Stale on purpose: due now, trusted by no read (see the module docstring), and
            # with no basis, so the tier clock never resumes from it.
            anniversary_at=None,
            next_due_at=text,
            stable_until=text,
            basis=None,
        )
        stub["figures"] = dict(body["figures"], window_from=None, window_to=text)
        stub["figures"]["next_progress_change_at"] = None
        state = (
            gen.TENANT,
            group_id,
            subject_id,
            gen.PROGRAM_ID,
            tier_id,
            enrolled_at,
            enrolled_at,
            enrolled_at,
            stub,
            LOADED_AT,
            LOADED_AT,
        )
        history = (
            gen.TENANT,
            group_id,
            subject_id,
            0,
            enrolled_at,
            record["from"],
            record["to"],
            record["reason"].value,
            _EMPTY,
        )
        return state, history


# -- the load -----------------------------------------------------------------------------------


@dataclass
class LoadReport:
    members: int = 0
    households: int = 0
    entries: int = 0
    states: int = 0
    points_scaled: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "households": self.households,
            "entries": self.entries,
            "states": self.states,
            "seconds": round(self.seconds, 1),
        }


@dataclass
class _Slice:
    """The encoded rows of a slice of members, made in a worker process."""

    members: int = 0
    entries: int = 0
    states: int = 0
    households: int = 0
    points: int = 0
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    csv: list[tuple[Any, ...]] = field(default_factory=list)


_maker: tuple[Any, ...] | None = None


def _start_maker(url: str, program: ProgramConfig, ledger_csv: bool) -> None:
    global _maker
    engine = make_engine(url)  # for its dialect's bind processors; it never connects
    _maker = (
        _Rows(engine, members, MEMBER_COLUMNS),
        _Rows(engine, member_custom, CUSTOM_COLUMNS),
        _Rows(engine, ledger, LEDGER_COLUMNS),
        _Rows(engine, tier_states, STATE_COLUMNS),
        _Rows(engine, tier_history, HISTORY_COLUMNS),
        _Stubs(program),
        [g.id for g in program.groups if g.active and g.rules.context is Context.INDIVIDUAL],
        [g.id for g in program.groups if g.active and g.rules.context is Context.HOUSEHOLD],
        ledger_csv,
    )


def _make_slice(shape: gen.Shape) -> _Slice:
    """Every row of `shape`'s members (a slice that starts on a household pair)."""
    assert _maker is not None
    member_rows, custom_rows, ledger_rows, state_rows, history_rows, stubs = _maker[:6]
    individual, pooled, with_csv = _maker[6:]
    out = _Slice(rows={"m": [], "c": [], "l": [], "s": [], "h": []})
    rows = out.rows
    household_enrolled: dict[str, datetime] = {}
    for person in gen.members(shape):
        rows["m"].append(member_rows(member_values(person)))
        rows["c"] += [custom_rows(values) for values in custom_values(person)]
        entries = gen.member_entries(shape, person)
        for entry in entries:
            rows["l"].append(ledger_rows(ledger_values(entry)))
            out.points += entry.points
            if with_csv:
                out.csv.append(
                    (
                        entry.member_id,
                        entry.occurred_at.isoformat(),
                        entry.kind.value,
                        entry.points,
                        entry.spend_cents,
                        entry.units,
                    )
                )
        subjects = [(g, person.id, person.enrolled_at) for g in individual]
        if person.household_id is None:
            subjects += [(g, person.id, person.enrolled_at) for g in pooled]
        else:
            first = household_enrolled.get(person.household_id)
            household_enrolled[person.household_id] = (
                person.enrolled_at if first is None else min(first, person.enrolled_at)
            )
        if person.index % 2 or person.index == shape.first + shape.members - 1:
            # A household is a pair (2k, 2k + 1), so it lies in one slice and is complete here;
            # its enrolment is its first member's.
            subjects += [(g, h, at) for h, at in household_enrolled.items() for g in pooled]
            out.households += len(household_enrolled)
            household_enrolled = {}
        for group_id, subject_id, enrolled_at in subjects:
            state, history = stubs.rows(group_id, subject_id, enrolled_at)
            rows["s"].append(state_rows(state))
            rows["h"].append(history_rows(history))
        out.members += 1
        out.entries += len(entries)
        out.states += len(subjects)
    return out


def bulk_load(
    url: str,
    shape: gen.Shape,
    program: ProgramConfig,
    *,
    ledger_csv: Path | None = None,
    log: Log = say,
    every: int = 100_000,
    processes: int | None = None,
) -> LoadReport:
    """Write `shape`'s members, ledgers and stale states into a migrated database.

    Rows are made in `processes` worker processes (default: one per CPU), a slice of members
    each, and written here, in one transaction. `ledger_csv`, if given, receives
    (member_id, occurred_at, kind, points, spend, units) of every entry written, for the
    DuckDB reference query.
    """
    began = time.perf_counter()
    engine = make_engine(url)
    report = LoadReport()
    write = _writer(engine)
    size = 2_000  # even, so that a household pair never spans two slices
    slices = [
        replace(shape, first=first, members=min(size, shape.first + shape.members - first))
        for first in range(shape.first, shape.first + shape.members, size)
    ]
    assert shape.first % 2 == 0, "a load starts on a household pair"
    sink = ledger_csv.open("w", newline="") if ledger_csv is not None else None
    out = csv.writer(sink) if sink is not None else None
    context = get_context("spawn")
    workers = processes or os.cpu_count() or 1
    try:
        with context.Pool(
            workers, initializer=_start_maker, initargs=(url, program, sink is not None)
        ) as pool:
            logged = 0
            for part in pool.imap(_make_slice, slices):
                write(members, MEMBER_COLUMNS, part.rows["m"])
                write(member_custom, CUSTOM_COLUMNS, part.rows["c"])
                write(ledger, LEDGER_COLUMNS, part.rows["l"])
                write(tier_states, STATE_COLUMNS, part.rows["s"])
                write(tier_history, HISTORY_COLUMNS, part.rows["h"])
                if out is not None:
                    out.writerows(part.csv)
                report.members += part.members
                report.entries += part.entries
                report.states += part.states
                report.households += part.households
                report.points_scaled += part.points
                if report.members - logged >= every:
                    logged = report.members
                    rate = report.entries / (time.perf_counter() - began)
                    log(
                        f"loaded {report.members:,} members, {report.entries:,} entries "
                        f"({rate:,.0f}/s)"
                    )
        write.commit()  # type: ignore[attr-defined]
        settle(engine)
    finally:
        if sink is not None:
            sink.close()
        engine.dispose()
    report.seconds = time.perf_counter() - began
    log(
        f"loaded {report.members:,} members, {report.households:,} households, "
        f"{report.entries:,} entries, {report.states:,} states in {report.seconds:,.0f} s"
    )
    return report


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
