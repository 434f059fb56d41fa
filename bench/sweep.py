"""Sweep: how fast `tierbook sweep` moves every due tier state forward, against DuckDB.

The data: `--size` members with a year or more of activity each (about 20 entries a member),
bulk-loaded with one *stale* state per subject (member, or household in the household group):
the state as of enrolment, due at once. That is a database right after its members and their
history were imported directly, and the heaviest sweep there is: every state is replayed from
its ledger through the tier clock, and its history and outbox events are written.

Measured, on SQLite and PostgreSQL:
- **rebuild**: `tierbook sweep --as-of T` (the real command, in a subprocess) over every state;
  members/s, states/s and ledger entries/s.
- **next day** and **next week**: sweeps as of T + 1 day and T + 7 days over the states the
  rebuild left, the steady-state job (anniversaries, period ends, inactivity, pending
  promotions, and states whose figures moved as entries left their windows).
- **again**: the same sweep a second time, which must find nothing to do.

The reference (the aggregation limit): DuckDB, with the same ledger loaded into a table (not
timed), computing each member's rolling-365-day points as of T (`GROUP BY`), and, closer to
what the tier clock computes, the rolling value at every entry (a window function).

Checks: after the rebuild a sample of stored states is compared with a replay of the ledger,
and a second sweep changes nothing.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import generate as gen
from bench import load
from bench.common import (
    SIZES,
    WORK,
    Result,
    Stopwatch,
    backends,
    parser,
    say,
    write_result,
)
from tierbook.adapters.db.engine import make_engine
from tierbook.adapters.db.uow import SqlUnitOfWorkFactory
from tierbook.service.clocks import FixedClock
from tierbook.service.queries import member_tiers
from tierbook.service.subjects import replay, subject_for

AS_OF = load.LOADED_AT
"""The rebuild's instant: just after the last generated activity."""
GOAL_SECONDS = 60.0
GOAL_RATIO = 3.0
SAMPLE = 200


def _sweep(url: str, as_of: str) -> tuple[float, str]:
    """Run `tierbook sweep --as-of` as a user would; (seconds, its last line)."""
    env = {**os.environ, "TIERBOOK_DATABASE_URL": url}
    command = [str(Path(sys.executable).with_name("tierbook")), "sweep", "--as-of", as_of]
    with Stopwatch() as watch:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tierbook sweep failed: {done.stderr.strip()}")
    return watch.seconds, done.stdout.strip().splitlines()[-1]


def _settle(url: str) -> None:
    engine = make_engine(url)
    try:
        load.settle(engine)
    finally:
        engine.dispose()


def _moved(line: str) -> tuple[int, int]:
    """(states, changes) from `sweep …: N states moved forward, M tier changes`."""
    words = line.replace(",", "").split()
    return int(words[words.index("states") - 1]), int(words[words.index("tier") - 1])


def _check_sample(url: str, members: int) -> int:
    """Compare a sample of stored states with a replay of their ledgers; the number compared."""
    engine = make_engine(url)
    clock = FixedClock(AS_OF)
    picks = random.Random(7).sample(range(members), min(SAMPLE, members))
    compared = 0
    try:
        with SqlUnitOfWorkFactory(engine)(write=False) as uow:
            for index in picks:
                views = member_tiers(
                    uow, clock, tenant_id=gen.TENANT, member_id=gen.member_id(index)
                )
                for view in views:
                    subject = subject_for(uow, view.group, view.member)
                    replayed = replay(uow, gen.TENANT, view.program, subject, AS_OF).state
                    if replayed != view.state:
                        raise AssertionError(
                            f"stored state of {subject.id} in group {view.group.id} differs "
                            f"from a replay of its ledger"
                        )
                    compared += 1
    finally:
        engine.dispose()
    return compared


def _duckdb(ledger_csv: Path) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    with Stopwatch() as loading:
        con.execute(
            "CREATE TABLE ledger AS SELECT * FROM read_csv(?, header=false, columns={"
            "'member_id': 'VARCHAR', 'occurred_at': 'TIMESTAMPTZ', 'kind': 'VARCHAR', "
            "'points': 'BIGINT', 'spend_cents': 'BIGINT', 'units': 'BIGINT'})",
            [str(ledger_csv)],
        )
    as_of = AS_OF.isoformat()
    with Stopwatch() as as_of_query:
        con.execute(
            "CREATE OR REPLACE TABLE value_as_of AS SELECT member_id, sum(points) AS points "
            "FROM ledger WHERE kind <> 'sponsor' "
            "AND occurred_at > ?::TIMESTAMPTZ - INTERVAL 365 DAY AND occurred_at <= ?::TIMESTAMPTZ "
            "GROUP BY member_id",
            [as_of, as_of],
        )
    with Stopwatch() as per_entry_query:
        con.execute(
            "CREATE OR REPLACE TABLE value_per_entry AS SELECT member_id, occurred_at, "
            "sum(points) OVER (PARTITION BY member_id ORDER BY occurred_at "
            "RANGE BETWEEN INTERVAL 365 DAY PRECEDING AND CURRENT ROW) AS points "
            "FROM ledger WHERE kind <> 'sponsor'"
        )
    (rows,) = con.execute("SELECT count(*) FROM ledger").fetchone() or (0,)
    (members,) = con.execute("SELECT count(*) FROM value_as_of").fetchone() or (0,)
    threads = con.execute("SELECT current_setting('threads')").fetchone()
    con.close()
    return {
        "duckdb_version": duckdb.__version__,
        "threads": threads[0] if threads else None,
        "ledger_rows": rows,
        "members_with_value": members,
        "load_seconds": round(loading.seconds, 3),
        "value_as_of_seconds": round(as_of_query.seconds, 3),
        "value_per_entry_seconds": round(per_entry_query.seconds, 3),
    }


def measure(backend: str, size: str, result: Result) -> None:
    shape = gen.Shape(
        members=SIZES[size].members, entries_per_member=SIZES[size].entries_per_member
    )
    where = WORK / "sweep"
    where.mkdir(parents=True, exist_ok=True)
    name = f"tierbook_bench_sweep_{size}"
    url = load.fresh_database(backend, where, name)
    program = load.install_program(url)
    ledger_csv = where / f"ledger-{size}.csv"
    say(f"{backend}: loading {shape.members:,} members")
    loaded = load.bulk_load(url, shape, program, ledger_csv=ledger_csv)

    say(f"{backend}: tierbook sweep --as-of {AS_OF.isoformat()} (rebuild: every state due)")
    seconds, line = _sweep(url, AS_OF.isoformat())
    states, changes = _moved(line)
    say(f"{backend}: {line} in {seconds:,.1f} s")
    figures: dict[str, Any] = {
        "data": loaded.as_dict(),
        "rebuild": {
            "seconds": round(seconds, 2),
            "states": states,
            "changes": changes,
            "members_per_s": round(loaded.members / seconds),
            "states_per_s": round(states / seconds),
            "entries_per_s": round(loaded.entries / seconds),
        },
    }
    again_seconds, again = _sweep(url, AS_OF.isoformat())
    figures["again"] = {"seconds": round(again_seconds, 2), "states": _moved(again)[0]}
    if _moved(again) != (0, 0):
        raise AssertionError(f"a second sweep as of the same instant moved states: {again}")
    figures["checked_states"] = _check_sample(url, loaded.members)

    for label, days in (("next_day", 1), ("next_week", 7)):
        _settle(url)  # what the time between two sweeps gives a production database
        later = (AS_OF + timedelta(days=days)).isoformat()
        later_seconds, later_line = _sweep(url, later)
        moved, changed = _moved(later_line)
        say(f"{backend}: {label}: {later_line} in {later_seconds:,.1f} s")
        figures[label] = {
            "seconds": round(later_seconds, 2),
            "states": moved,
            "changes": changed,
            "states_per_s": round(moved / later_seconds) if later_seconds else None,
        }

    if backend == "sqlite" or "reference" not in result.figures:
        say("duckdb: the reference queries over the same ledger")
        result.figures["reference"] = _duckdb(ledger_csv)
    reference = result.figures["reference"]
    ratio = seconds / reference["value_as_of_seconds"]
    figures["ratio_to_duckdb_value_as_of"] = round(ratio, 1)
    figures["ratio_to_duckdb_value_per_entry"] = round(
        seconds / reference["value_per_entry_seconds"], 1
    )
    result.figures[backend] = figures
    result.goal(f"{backend} rebuild within {GOAL_RATIO:g}x of DuckDB", f"<= {GOAL_RATIO}", ratio,
                ratio <= GOAL_RATIO)  # fmt: skip
    if size == "full":
        result.goal(f"{backend} rebuild under {GOAL_SECONDS:g} s", f"<= {GOAL_SECONDS}", seconds,
                    seconds <= GOAL_SECONDS)  # fmt: skip
    if backend == "postgres":
        load.drop_postgres(name)


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__ or "", default="small").parse_args(argv)
    result = Result("sweep", args.size)
    for backend in backends(args.backend):
        measure(backend, args.size, result)
    (WORK / "sweep" / f"ledger-{args.size}.csv").unlink(missing_ok=True)
    write_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
