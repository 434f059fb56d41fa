"""Ingest: activities/s with the tier update in the same transaction, against a plain insert.

`python -m bench.ingest [--size S] [--backend sqlite|postgres|both] [--seconds N] [--entries N]`

For each backend, one base database is built and copied for every phase, so each phase starts
from the same place: the benchmark program, every member enrolled, the older part of each
member's history (`head`, the first 75% of all entries in time order) bulk-loaded, and every
tier state brought up to date through the service's own `refresh_many`. Each phase then
ingests the newest entries (`tail`, the rest; `--entries` takes only its first part, and does
so by default at the full size), in time order, into its own copy:

- `single`: `POST /v1/activities` over HTTP to one uvicorn worker, `CONNECTIONS` keep-alive
  connections, one request in flight on each; every request a distinct entry, each sent once.
  rps, latency, statuses (all should be 201) over `--seconds` after a warm-up, or until every
  entry was sent (`exhausted`). Live activity: the bodies carry no `occurred_at`, so each entry
  is dated when it arrives, as at a till.
- `batch`: `POST /v1/activities:batch` with `BATCH` entries per call, one call after another;
  live activity too (each call's entries dated when it arrives).
- `import`: `tierbook import FILE` of the same entries as JSON Lines, dated as generated: a
  back-fill of history, every entry older than the states it changes. The real CLI in a
  subprocess.
- `reference`: the same ledger rows bulk-inserted into the same kind of database by
  `bench.load`'s writer (executemany on SQLite, COPY on PostgreSQL), with no tier update: the
  storage limit.

Real-time tier update means what the product does on every write: each entry's subjects are
re-evaluated and their state, history tail and outbox events are written in the entry's
transaction. A live entry is dated after its subjects' stored states, so the tier clock resumes
from them; a back-filled one changes their past, so the clock replays each subject's ledger
from enrolment. After each phase a sample of the members it touched is checked: every
stored state and history must equal a replay of the ledger as of the stored instant, so a speed
can never come from skipped work. The ledger's row count is checked too.
"""

from __future__ import annotations

import os
import random
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from bench import generate as gen
from bench import load
from bench.common import (
    SIZES,
    WORK,
    Result,
    Stopwatch,
    backends,
    latency_ms,
    parser,
    say,
    write_result,
)
from bench.ingest_apps import CPU_PATH
from bench.loadgen import Request, run, serve
from tierbook.adapters.db.engine import make_engine
from tierbook.adapters.db.tables import ledger, member_custom, members, outbox
from tierbook.adapters.db.uow import SqlUnitOfWorkFactory
from tierbook.domain.clock import evaluate
from tierbook.domain.rules import Context
from tierbook.service.model import ProgramConfig
from tierbook.service.subjects import lock, refresh_many, subjects_by_keys

NAME = "ingest"
DB_PREFIX = "tierbook_bench_ingest"
URL_VARIABLE = "TIERBOOK_DATABASE_URL"
APP = "bench.ingest_apps:ingest_app"
HEAD_SHARE = 0.75
"""The share of all entries (oldest first) loaded before the phases; the rest is ingested."""
BATCH = 1_000
CONNECTIONS = 8
REFRESH_CHUNK = 2_000
SAMPLE = 300
"""Members whose stored states are compared with a replay after each phase."""
GOAL_BATCH = 20_000
GOAL_SINGLE = 1_500
DEFAULT_SECONDS = {"smoke": 1.0, "small": 20.0, "full": 30.0}
DEFAULT_ENTRIES = {"full": 200_000}
"""How many of the tail's entries the batch, import and reference phases take (default: all)."""


@dataclass(frozen=True)
class Workload:
    data: gen.Dataset
    head: list[gen.GenEntry]
    """Loaded before the phases."""
    tail: list[gen.GenEntry]
    """What single requests draw from (for as long as they run)."""
    batched: list[gen.GenEntry]
    """What the batch, import and reference phases ingest: the tail, or its first part."""


@dataclass(frozen=True)
class Base:
    """The database every phase copies, and what it was built with."""

    backend: str
    url: str
    program: ProgramConfig
    token: str


def workload(size: str, entries: int | None = None) -> Workload:
    spec = SIZES[size]
    data = gen.dataset(gen.Shape(members=spec.members, entries_per_member=spec.entries_per_member))
    split = int(len(data.entries) * HEAD_SHARE)
    tail = data.entries[split:]
    limit = entries if entries is not None else DEFAULT_ENTRIES.get(size)
    return Workload(
        data=data, head=data.entries[:split], tail=tail, batched=tail[:limit] if limit else tail
    )


# -- databases ------------------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path:
    database = sa.engine.make_url(url).database
    assert database, url
    return Path(database)


def _copy(base: Base, phase: str) -> str:
    """A copy of the base database for one phase; its URL."""
    name = f"{DB_PREFIX}_{phase}"
    if base.backend == "sqlite":
        source = _sqlite_path(base.url)
        target = source.with_name(f"{name}.db")
        for suffix in ("", "-wal", "-shm", "-journal"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        for suffix in ("", "-wal"):
            origin = source.with_name(source.name + suffix)
            if origin.exists():
                shutil.copyfile(origin, target.with_name(target.name + suffix))
        return f"sqlite:///{target}"
    load.drop_postgres(name)
    admin = sa.create_engine(f"{load.POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(
                f'CREATE DATABASE "{name}" TEMPLATE "{sa.engine.make_url(base.url).database}"'
            )
    finally:
        admin.dispose()
    return f"{load.POSTGRES_SERVER}/{name}"


def _drop(backend: str, url: str) -> None:
    if backend == "sqlite":
        path = _sqlite_path(url)
        for suffix in ("", "-wal", "-shm", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    else:
        load.drop_postgres(str(sa.engine.make_url(url).database))


def _subject_keys(program: ProgramConfig, people: Sequence[gen.GenMember]) -> list[tuple[int, str]]:
    keys: dict[tuple[int, str], None] = {}
    for person in people:
        for group in program.groups:
            if group.rules.context is Context.HOUSEHOLD and person.household_id:
                keys[(group.id, person.household_id)] = None
            else:
                keys[(group.id, person.id)] = None
    return list(keys)


def build_base(backend: str, work: Workload) -> Base:
    """Members enrolled, the head of their history loaded, and every state up to date."""
    url = load.fresh_database(backend, WORK, f"{DB_PREFIX}_base")
    program = load.install_program(url)
    token = load.create_key(url, frozenset({"write"}))
    engine = make_engine(url)
    try:
        with Stopwatch() as watch:
            write = load._writer(engine)
            member_rows = load._Rows(engine, members, load.MEMBER_COLUMNS)
            custom_rows = load._Rows(engine, member_custom, load.CUSTOM_COLUMNS)
            ledger_rows = load._Rows(engine, ledger, load.LEDGER_COLUMNS)
            people, customs = [], []
            for person in work.data.members:
                people.append(member_rows(load.member_values(person)))
                customs += [custom_rows(values) for values in load.custom_values(person)]
            write(members, load.MEMBER_COLUMNS, people)
            write(member_custom, load.CUSTOM_COLUMNS, customs)
            for chunk in load.chunks(work.head, load.CHUNK):
                write(
                    ledger, load.LEDGER_COLUMNS, [ledger_rows(load.ledger_values(e)) for e in chunk]
                )
            write.commit()  # type: ignore[attr-defined]
        say(
            f"{backend}: {len(work.data.members):,} members and {len(work.head):,} older entries "
            f"bulk-loaded in {watch.seconds:.1f} s"
        )
        # Without statistics the base step's ledger reads take a plan that is 20x slower.
        load.settle(engine)
        # Every subject's state through the service's own write path, as of now.
        keys = _subject_keys(program, work.data.members)
        now = datetime.now(UTC)
        uows = SqlUnitOfWorkFactory(engine)
        with Stopwatch() as watch:
            for start in range(0, len(keys), REFRESH_CHUNK):
                with uows() as uow:
                    subjects, orphans = subjects_by_keys(
                        uow, gen.TENANT, program, keys[start : start + REFRESH_CHUNK]
                    )
                    assert not orphans, orphans[:3]
                    lock(uow, gen.TENANT, subjects)
                    refresh_many(uow, gen.TENANT, program, subjects, now)
                    uow.commit()
        say(f"{backend}: {len(keys):,} tier states evaluated and stored in {watch.seconds:.1f} s")
        load.settle(engine)
    finally:
        engine.dispose()
    return Base(backend=backend, url=url, program=program, token=token)


# -- checks ---------------------------------------------------------------------------------------


def verify(url: str, base: Base, work: Workload, *, seed: int) -> dict[str, Any]:
    """Compare a sample of the ingested members' stored states with a replay of their ledgers.

    The replays also time the tier clock alone (`evaluate`, CPU seconds), on whole ledgers as
    they stand after the phase: what one evaluation of a subject costs.
    """
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            count = connection.scalar(sa.select(sa.func.count()).select_from(ledger))
            events = connection.scalar(sa.select(sa.func.count()).select_from(outbox))
            # Entries ingested by the phase were recorded now; the bulk-loaded ones in the past.
            touched = sorted(
                connection.scalars(
                    sa.select(ledger.c.member_id).distinct().where(ledger.c.recorded_at > gen.END)
                )
            )
            # A transaction records its entries at one instant: one `recorded_at` each.
            transactions = connection.scalar(
                sa.select(sa.func.count(sa.distinct(ledger.c.recorded_at))).where(
                    ledger.c.recorded_at > gen.END
                )
            )
        people = {p.id: p for p in work.data.members}
        sample = random.Random(seed).sample(touched, min(SAMPLE, len(touched)))
        keys = _subject_keys(base.program, [people[m] for m in sample])
        checked = mismatched = 0
        clock_s = 0.0
        with SqlUnitOfWorkFactory(engine)(write=False) as uow:
            subjects, orphans = subjects_by_keys(uow, gen.TENANT, base.program, keys)
            mismatched += len(orphans)
            for subject in subjects:
                stored = uow.states.get(gen.TENANT, subject.group.id, subject.id)
                checked += 1
                if stored is None:
                    mismatched += 1
                    continue
                entries = uow.ledger.for_members(gen.TENANT, base.program.id, subject.member_ids)
                assigned = uow.assignments.for_subject(gen.TENANT, subject.group.id, subject.id)
                began = time.process_time()
                again = evaluate(
                    subject.group.rules,
                    subject_id=subject.id,
                    enrolled_at=subject.enrolled_at,
                    entries=entries,
                    assignments=assigned,
                    as_of=stored.state.as_of,
                )
                clock_s += time.process_time() - began
                if again.state != stored.state or tuple(again.history) != stored.history:
                    mismatched += 1
                    say(f"MISMATCH: {subject.key} stored state differs from its replay")
    finally:
        engine.dispose()
    return {
        "ledger_rows": count,
        "ingested": int(count or 0) - len(work.head),
        "transactions": transactions,
        "outbox_events": events,
        "states_checked": checked,
        "states_wrong": mismatched,
        "clock_ms_per_evaluation": round(clock_s / checked * 1000, 4) if checked else None,
    }


def _server_cpu(port: int) -> float:
    """CPU seconds the server process has used (see `bench.ingest_apps`)."""
    reply = httpx.get(f"http://127.0.0.1:{port}{CPU_PATH}", timeout=30)
    reply.raise_for_status()
    cpu: float = reply.json()["cpu_s"]
    return cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _evaluations(base: Base, entries: Sequence[gen.GenEntry], work: Workload) -> int:
    """How many subject evaluations recording `entries` in one call takes: each subject an
    entry touches, once."""
    people = {p.id: p for p in work.data.members}
    return len(_subject_keys(base.program, [people[m] for m in {e.member_id for e in entries}]))


def _activity(entry: gen.GenEntry, *, live: bool) -> dict[str, Any]:
    """The entry's activity body; a live one has no `occurred_at`, so it is dated on arrival."""
    body = gen.activity_json(entry)
    if live:
        del body["occurred_at"]
    return body


def _bodies(entries: Sequence[gen.GenEntry], *, live: bool) -> list[bytes]:
    return [orjson.dumps(_activity(e, live=live)) for e in entries]


def _headers(token: str) -> tuple[tuple[str, str], ...]:
    return (("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"))


# -- phases ---------------------------------------------------------------------------------------


def striped(entries: Sequence[gen.GenEntry], lanes: int) -> list[gen.GenEntry]:
    """The entries laid out so that a refund goes out on the connection that sent its purchase.

    `bench.loadgen.run` gives connection `c` the requests `c`, `c + lanes`, `c + 2 * lanes`, …,
    one after another. Entries are dealt to the lanes in time order, each refund to its
    purchase's lane, so it is sent only once its purchase is answered: on separate connections
    it could overtake the purchase and be rightly refused (422). Lanes are kept level and cut to
    the shortest, so the last few entries may be left out.
    """
    queues: list[list[gen.GenEntry]] = [[] for _ in range(lanes)]
    lane_of: dict[str, int] = {}
    for entry in entries:
        lane = lane_of.get(entry.reverses) if entry.reverses is not None else None
        if lane is None:
            lane = min(range(lanes), key=lambda q: len(queues[q]))
        lane_of[entry.key] = lane
        queues[lane].append(entry)
    depth = min(len(queue) for queue in queues)
    return [queues[lane][k] for k in range(depth) for lane in range(lanes)]


def phase_single(base: Base, work: Workload, seconds: float, warmup: float) -> dict[str, Any]:
    url = _copy(base, "single")
    headers = _headers(base.token)
    ordered = striped(work.tail, CONNECTIONS)
    bodies = _bodies(ordered, live=True)
    requests = [Request("POST", "/v1/activities", headers, body) for body in bodies]
    try:
        with serve(APP, env={URL_VARIABLE: url}) as port:
            cpu = _server_cpu(port)
            report = run(
                "127.0.0.1",
                port,
                requests,
                connections=CONNECTIONS,
                seconds=seconds,
                warmup=warmup,
                cycle=False,  # each entry once: sent again, it would be a repeat
            )
            cpu = _server_cpu(port) - cpu
        check = verify(url, base, work, seed=1)
    finally:
        _drop(base.backend, url)
    statuses = {str(k): v for k, v in sorted(report.statuses.items())}
    figures = {
        "connections": CONNECTIONS,
        "seconds": round(report.seconds, 3),
        "requests": report.requests,
        "rps": round(report.rps, 1),
        **latency_ms(report.latencies),
        "statuses": statuses,
        "all_201": set(report.statuses) == {201} and report.errors == 0,
        "errors": report.errors,
        # Every entry sent before the time was up: the phase measured until the last answer.
        "exhausted": check["ingested"] >= len(ordered),
        # Every request written, the warm-up's too, shares the server's CPU.
        "server_cpu_ms_per_activity": round(cpu / max(1, check["ingested"]) * 1000, 4),
        # Requests that arrive while another is recorded share a transaction (group commit).
        "entries_per_transaction": round(check["ingested"] / max(1, check["transactions"]), 2),
        "evaluations_per_activity": len(base.program.groups),
        "check": check,
    }
    say(
        f"{base.backend} single: {report.rps:,.0f} rps, p50 {figures['p50_ms']} ms, "
        f"p99 {figures['p99_ms']} ms, statuses {statuses}"
    )
    return figures


def phase_batch(base: Base, work: Workload) -> dict[str, Any]:
    url = _copy(base, "batch")
    chunks = list(load.chunks(work.batched, BATCH))
    bodies = [orjson.dumps({"entries": [_activity(e, live=True) for e in c]}) for c in chunks]
    headers = dict(_headers(base.token))
    bad: list[str] = []
    try:
        with (
            serve(APP, env={URL_VARIABLE: url}) as port,
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=600
            ) as client,
        ):
            cpu = _server_cpu(port)
            with Stopwatch() as watch:
                for body, chunk in zip(bodies, chunks, strict=True):
                    response = client.post("/v1/activities:batch", content=body)
                    if response.status_code != 201 or response.json()["created"] != len(chunk):
                        bad.append(f"{response.status_code}: {response.text[:200]}")
            cpu = _server_cpu(port) - cpu
            # The same batch again writes nothing and says so.
            again = client.post("/v1/activities:batch", content=bodies[0])
            replayed = again.status_code == 200 and again.json()["replayed"] == len(chunks[0])
        check = verify(url, base, work, seed=2)
    finally:
        _drop(base.backend, url)
    rate = len(work.batched) / watch.seconds
    say(f"{base.backend} batch: {rate:,.0f} activities/s ({len(chunks)} calls of {BATCH})")
    return {
        "batch_size": BATCH,
        "calls": len(chunks),
        "activities": len(work.batched),
        "seconds": round(watch.seconds, 2),
        "activities_per_s": round(rate, 1),
        "per_call_ms": round(watch.seconds / len(chunks) * 1000, 1),
        "server_cpu_ms_per_activity": round(cpu / len(work.batched) * 1000, 4),
        "evaluations_per_activity": round(
            sum(_evaluations(base, c, work) for c in chunks) / len(work.batched), 3
        ),
        "failed_calls": bad[:5],
        "repeat_writes_nothing": replayed,
        "check": check,
    }


_CLI_RATE = re.compile(r"in ([\d.]+) s \(([\d,]+) rows/s\)")


def phase_import(base: Base, work: Workload) -> dict[str, Any]:
    url = _copy(base, "import")
    path = WORK / f"{DB_PREFIX}_tail.jsonl"
    path.write_bytes(b"".join(body + b"\n" for body in _bodies(work.batched, live=False)))
    tierbook = Path(sys.executable).with_name("tierbook")
    command = [str(tierbook), "import", str(path), "--tenant", gen.TENANT]
    command += ["--batch-size", str(BATCH)]
    try:
        cpu = _children_cpu()
        with Stopwatch() as watch:
            done = subprocess.run(
                command,
                env={**os.environ, URL_VARIABLE: url, "COLUMNS": "120"},
                capture_output=True,
                text=True,
                check=False,
            )
        cpu = _children_cpu() - cpu
        if done.returncode != 0:
            raise RuntimeError(f"tierbook import failed: {done.stderr[-2000:]}")
        check = verify(url, base, work, seed=3)
    finally:
        _drop(base.backend, url)
        path.unlink(missing_ok=True)
    rate = len(work.batched) / watch.seconds
    found = _CLI_RATE.search(done.stdout)
    own = float(found.group(2).replace(",", "")) if found else None
    say(
        f"{base.backend} import: {rate:,.0f} activities/s wall clock "
        f"({own or 0:,.0f}/s as the CLI counts, without interpreter start-up)"
    )
    return {
        "activities": len(work.batched),
        "batch_size": BATCH,
        "seconds": round(watch.seconds, 2),
        "activities_per_s": round(rate, 1),
        "cli_rows_per_s": own,
        "cli_cpu_ms_per_activity": round(cpu / len(work.batched) * 1000, 4),
        "cli_output": done.stdout.strip().splitlines()[-1:],
        "check": check,
    }


def phase_reference(base: Base, work: Workload) -> dict[str, Any]:
    url = _copy(base, "reference")
    engine = make_engine(url)
    try:
        encode = load._Rows(engine, ledger, load.LEDGER_COLUMNS)
        rows = [encode(load.ledger_values(e)) for e in work.batched]
        cpu = time.process_time()
        with Stopwatch() as watch:
            write = load._writer(engine)
            for start in range(0, len(rows), load.CHUNK):
                write(ledger, load.LEDGER_COLUMNS, rows[start : start + load.CHUNK])
            write.commit()  # type: ignore[attr-defined]
        cpu = time.process_time() - cpu
        with engine.connect() as connection:
            count = connection.scalar(sa.select(sa.func.count()).select_from(ledger))
    finally:
        engine.dispose()
        _drop(base.backend, url)
    rate = len(rows) / watch.seconds
    say(f"{base.backend} reference: {rate:,.0f} rows/s (plain bulk insert, no tier update)")
    return {
        "rows": len(rows),
        "seconds": round(watch.seconds, 3),
        "rows_per_s": round(rate, 1),
        # On PostgreSQL the server does most of the work, which this process does not count.
        "client_cpu_ms_per_row": round(cpu / len(rows) * 1000, 5),
        "ledger_rows": count,
    }


# -- the run --------------------------------------------------------------------------------------


def measure(backend: str, work: Workload, seconds: float, warmup: float) -> dict[str, Any]:
    base = build_base(backend, work)
    try:
        reference = phase_reference(base, work)
        single = phase_single(base, work, seconds, warmup)
        batch = phase_batch(base, work)
        imported = phase_import(base, work)
    finally:
        _drop(backend, base.url)
    limit = reference["rows_per_s"]
    for figures, rate in (
        (single, single["rps"]),
        (batch, batch["activities_per_s"]),
        (imported, imported["activities_per_s"]),
    ):
        figures["ratio_to_reference"] = round(rate / limit, 4) if limit else None
    return {"single": single, "batch": batch, "import": imported, "reference": reference}


def main(argv: list[str] | None = None) -> int:
    parse = parser(__doc__.splitlines()[0])
    parse.add_argument(
        "--entries",
        type=int,
        default=None,
        help="ingest only this many of the newest entries in the batch, import and reference "
        f"phases (default: all of them; {DEFAULT_ENTRIES['full']:,} at the full size)",
    )
    args = parse.parse_args(argv)
    seconds = args.seconds or DEFAULT_SECONDS[args.size]
    warmup = min(2.0, seconds / 2)
    began = time.perf_counter()
    work = workload(args.size, args.entries)
    say(
        f"ingest ({args.size}): {len(work.data.members):,} members, {len(work.head):,} entries "
        f"loaded first, {len(work.batched):,} of the {len(work.tail):,} newest ingested by the "
        "batch and import phases, single requests for as long as they run"
    )
    result = Result(NAME, args.size)
    result.figures["workload"] = {
        "members": len(work.data.members),
        "entries_loaded_first": len(work.head),
        "entries_ingested": len(work.batched),
        "entries_newest": len(work.tail),
        "batch_size": BATCH,
        "connections": CONNECTIONS,
    }
    ok = True
    for backend in backends(args.backend):
        figures = measure(backend, work, seconds, warmup)
        result.figures[backend] = figures
        single, batch, imported = figures["single"], figures["batch"], figures["import"]
        checks = [single["check"], batch["check"], imported["check"]]
        ok = ok and (
            single["all_201"]
            and not batch["failed_calls"]
            and batch["repeat_writes_nothing"]
            and all(c["states_wrong"] == 0 and c["states_checked"] > 0 for c in checks)
            and batch["check"]["ingested"] == len(work.batched)
            and imported["check"]["ingested"] == len(work.batched)
            and figures["reference"]["ledger_rows"] == len(work.head) + len(work.batched)
        )
        result.goal(
            f"single_{backend}",
            f">= {GOAL_SINGLE:,} requests/s (POST /v1/activities)",
            single["rps"],
            single["rps"] >= GOAL_SINGLE,
        )
        if backend == "sqlite":
            for label, rate in (
                ("batch", batch["activities_per_s"]),
                ("import", imported["activities_per_s"]),
            ):
                result.goal(
                    f"{label}_sqlite",
                    f">= {GOAL_BATCH:,} activities/s",
                    rate,
                    rate >= GOAL_BATCH,
                )
    result.notes += [
        "Each phase ingests the same newest entries, in time order, into its own copy of one "
        "base database (members enrolled, older history loaded, states up to date).",
        "single: one uvicorn worker, keep-alive connections, one request in flight on each; "
        "batch: one call at a time; import: wall clock of the CLI subprocess, start-up included.",
        "reference: bench.load's bulk writer (executemany on SQLite with synchronous=OFF, COPY "
        "on PostgreSQL), one transaction, no tier update.",
        "2-core machine shared with other work: figures are noisy; compare within one run.",
    ]
    if not ok:
        result.notes.append("A CHECK FAILED: see the figures' checks and statuses.")
    result.figures["seconds_total"] = round(time.perf_counter() - began, 1)
    write_result(result)
    if not ok:
        say("a check failed: some phase did not do all its work right")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
