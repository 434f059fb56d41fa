"""Profiles: where a sweep, a hot read or a batch write spends its time, with pyinstrument.

`python -m bench.profile {sweep,read,single,ingest} [--members N] [--rounds N] [--html FILE]`

Each builds a fresh SQLite database in the benchmark folder with `--members` members and their
history (`bench.load`, every state stale), then runs one path in this process under
pyinstrument's sampling profiler and prints its call tree:

- `sweep`: `service.sweep.sweep` over every state (the rebuild the sweep benchmark times),
  its pages evaluated in this process;
- `read`: `--rounds` native hot reads (`GET /v1/members/{id}/tiers`) of random members through
  the ASGI application, with no network, after a sweep as of now;
- `single`: `--rounds` single `POST /v1/activities` of random members through the ASGI
  application, one after another, after a sweep as of now; each activity dated on arrival
  (live activity). The route runs in the profiled thread rather than a worker thread, so the
  profile shows it;
- `ingest`: `--rounds` batches of 1,000 new activities for random members through
  `service.activities.record` (the path of `activities:batch` and `tierbook import`), after a
  sweep; each batch a second after the last, its entries dated when it arrives (live activity,
  so the clock resumes from each stored state).

A profile is for reading, not for comparing runs: the profiler takes time of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest.mock import patch

import orjson
from pyinstrument import Profiler

from bench import generate as gen
from bench import load
from bench.common import WORK, say
from tierbook.adapters.db.engine import make_engine
from tierbook.adapters.db.uow import SqlUnitOfWorkFactory
from tierbook.service import activities, sweep
from tierbook.service.clocks import FixedClock
from tierbook.service.commands import RecordActivity

BATCH = 1_000
TIMING_THREAD = True
"""pyinstrument reads the time from its timing thread rather than the clock at every call and
return: with the clock, call-heavy code showed several times its share (state decoding 0.20 s
against 0.04 s of a 3 s batch profile). On a busy machine the thread may not run during a run
of a tenth of a second, which then records no samples."""
PATHS = ("sweep", "read", "single", "ingest")


def _database(what: str, members: int) -> str:
    where = WORK / "profile"
    where.mkdir(parents=True, exist_ok=True)
    url = load.fresh_database("sqlite", where, f"profile_{what}")
    program = load.install_program(url)
    load.bulk_load(url, gen.Shape(members=members), program)
    return url


def _sweep_to(url: str, at: datetime) -> None:
    engine = make_engine(url)
    try:
        clock = FixedClock(at)
        sweep.sweep(SqlUnitOfWorkFactory(engine, clock=clock), clock, as_of=at)
    finally:
        engine.dispose()


def profile_sweep(url: str, _members: int, _rounds: int) -> Callable[[], None]:
    engine = make_engine(url)
    clock = FixedClock(load.LOADED_AT)
    factory = SqlUnitOfWorkFactory(engine, clock=clock)

    def run() -> None:
        report = sweep.sweep(factory, clock, as_of=load.LOADED_AT)
        say(f"swept {report.states:,} states ({report.changes:,} tier changes)")

    return run


async def _call(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> int:
    """One request through the ASGI application, with no network; its status."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
        "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {},
    }  # fmt: skip
    await app(scope, receive, send)
    status: int = sent[0]["status"]
    return status


def profile_read(url: str, members: int, rounds: int) -> Callable[[], None]:
    from tierbook.api.app import create_app
    from tierbook.bootstrap import bootstrap
    from tierbook.config import Settings

    _sweep_to(url, datetime.now(UTC))
    token = load.create_key(url, frozenset({"read"}))
    app = create_app(bootstrap(Settings(database_url=url)))
    rng = random.Random(gen.SEED)
    paths = [f"/v1/members/{gen.member_id(rng.randrange(members))}/tiers" for _ in range(rounds)]
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"host", b"bench")]

    async def reads(count: int) -> list[int]:
        return [await _call(app, "GET", path, headers) for path in paths[:count]]

    # The first read verifies the key and parses the program: not what a hot read costs.
    assert asyncio.run(reads(1)) == [200]

    def run() -> None:
        statuses = asyncio.run(reads(rounds))
        say(f"{len(statuses):,} reads, statuses {sorted(set(statuses))}")

    return run


def profile_single(url: str, members: int, rounds: int) -> Callable[[], None]:
    from tierbook.api.app import create_app
    from tierbook.bootstrap import bootstrap
    from tierbook.config import Settings

    _sweep_to(url, datetime.now(UTC))
    token = load.create_key(url, frozenset({"write"}))
    app = create_app(bootstrap(Settings(database_url=url)))
    rng = random.Random(gen.SEED)
    bodies = [
        orjson.dumps(
            {
                "member_id": gen.member_id(rng.randrange(members)),
                "program_id": gen.PROGRAM_ID,
                "points": rng.randrange(1, 300),
                "spend": rng.randrange(1, 300),
                "idempotency_key": f"profile-{i}",
            }
        )
        for i in range(rounds + 1)
    ]
    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
        (b"host", b"bench"),
    ]

    async def posts(sent: list[bytes]) -> list[int]:
        return [await _call(app, "POST", "/v1/activities", headers, body) for body in sent]

    # The first write verifies the key and parses the program: not what a write costs.
    assert asyncio.run(posts(bodies[:1])) == [201]

    def run() -> None:
        # The route is a plain function, which FastAPI (or the hot write ahead of it) runs in
        # a worker thread; the profiler samples this thread only, so here the route runs in
        # it, where the profile sees it.
        with (
            patch("fastapi.routing.run_in_threadpool", _inline),
            patch("fastapi.dependencies.utils.run_in_threadpool", _inline),
            patch("tierbook.api.hot.run_in_threadpool", _inline),
        ):
            statuses = asyncio.run(posts(bodies[1:]))
        say(f"{len(statuses):,} activities, statuses {sorted(set(statuses))}")

    return run


async def _inline(call: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """`run_in_threadpool` without the thread."""
    return call(*args, **kwargs)


def profile_ingest(url: str, members: int, rounds: int) -> Callable[[], None]:
    now = datetime.now(UTC) - timedelta(minutes=1)
    _sweep_to(url, now)
    engine = make_engine(url)
    clock = FixedClock(now)
    factory = SqlUnitOfWorkFactory(engine, clock=clock)
    rng = random.Random(gen.SEED)
    # Live activity: each batch a second after the last, its entries dated when it arrives.
    batches = [
        [
            RecordActivity(
                member_id=gen.member_id(rng.randrange(members)),
                occurred_at=now + timedelta(seconds=b + 1),
                program_id=gen.PROGRAM_ID,
                points=Decimal(rng.randrange(1, 300)),
                spend=Decimal(rng.randrange(1, 300)),
                idempotency_key=f"profile-{b}-{i}",
            )
            for i in range(BATCH)
        ]
        for b in range(rounds)
    ]

    def run() -> None:
        for b, batch in enumerate(batches):
            clock.set(now + timedelta(seconds=b + 1))
            with factory() as uow:
                activities.record(uow, clock, tenant_id=gen.TENANT, commands=batch)
                uow.commit()
        say(f"recorded {rounds * BATCH:,} activities in batches of {BATCH:,}")

    return run


PROFILES = {
    "sweep": profile_sweep,
    "read": profile_read,
    "single": profile_single,
    "ingest": profile_ingest,
}


def main(argv: list[str] | None = None) -> int:
    parse = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parse.add_argument("path", choices=PATHS, help="what to profile")
    parse.add_argument("--members", type=int, default=4_000, help="members (default 4,000)")
    parse.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="reads or single writes (default 2,000), or batches (default 3)",
    )
    parse.add_argument("--html", type=Path, default=None, help="also write the profile as HTML")
    args = parse.parse_args(argv)
    rounds = args.rounds or (3 if args.path == "ingest" else 2_000)
    say(f"{args.path}: loading {args.members:,} members")
    url = _database(args.path, args.members)
    run = PROFILES[args.path](url, args.members, rounds)
    profiler = Profiler(use_timing_thread=TIMING_THREAD)
    with profiler:
        run()
    print(profiler.output_text(unicode=True, color=False))
    if args.html is not None:
        args.html.write_text(profiler.output_html())
        say(f"wrote {args.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
