"""Read API: requests/s and latency of the hot tier reads against the framework's floor.

`python -m bench.read_api [--size S] [--backend sqlite|postgres|both] [--seconds N]`

For each backend: a fresh database with the size's members and ledgers (`bench.load`), swept
once as of now so that every stored state is current, and a read-scoped key. One uvicorn worker
serves the real app (`bench.apps.tierbook_app`), and the load generator (`bench.loadgen`, on
loopback, `--connections` keep-alive connections, one request in flight on each) asks it for
the tiers of a random sample of the loaded members:

- native: `GET /v1/members/{id}/tiers` (the member's state in every active group);
- Omneo:  `GET /api/v3/profiles/{id}/tiers` (the program's default group).

The floors answer the same requests with the same bodies (real responses, encoded with orjson
per request) and touch no database: an `async` FastAPI route (the goal's reference: "a bare
Starlette/FastAPI endpoint"), a Starlette route and a raw ASGI callable. The FastAPI floor is
measured before and after the endpoints, and the ratios use the mean of the two. Goals (from
the issue): each endpoint serves at least half the floor's requests/s, with p99 under 10 ms.

The app's clock is the real one, so reads happen now: the sweep as of now makes each stored
state's `[as_of, stable_until)` cover now, so reads are answered from the stored state (the
share of states whose span covers the next hour is reported). The sweep is `tierbook sweep`,
run as a user would. Omneo gives a profile's tier
record its id on the first read (a write); the sampled profiles get theirs before timing, so
the figures are those of a steady state.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench import generate as gen
from bench import load
from bench.common import (
    SIZES,
    WORK,
    Result,
    Size,
    Stopwatch,
    backends,
    latency_ms,
    parser,
    say,
    write_result,
)
from bench.loadgen import LoadReport, Request, run, serve, server_name
from tierbook.adapters.db.engine import make_engine
from tierbook.adapters.db.tables import tier_states
from tierbook.adapters.db.uow import SqlUnitOfWorkFactory
from tierbook.service.clocks import FixedClock

NAME = "read_api"
DATABASE = "tierbook_bench_read"
ENDPOINTS = {
    "native": "/v1/members/{}/tiers",
    "omneo": "/api/v3/profiles/{}/tiers",
}
FLOORS = ("fastapi", "starlette", "asgi")
GOAL_FLOOR = "fastapi"
GOAL_RATIO = 0.5
GOAL_P99_MS = 10.0


def main(argv: list[str] | None = None) -> int:
    parse = parser(__doc__.splitlines()[0])
    parse.add_argument(
        "--connections", type=int, default=16, help="keep-alive connections (default 16)"
    )
    parse.add_argument(
        "--sample", type=int, default=2000, help="members asked for, at random (default 2000)"
    )
    parse.add_argument(
        "--reuse",
        action="store_true",
        help="reuse the databases an earlier run loaded (sweeping them again as of now)",
    )
    args = parse.parse_args(argv)
    size = SIZES[args.size]
    smoke = size.name == "smoke"
    seconds = args.seconds or (1.0 if smoke else 10.0)
    load_options = {
        "connections": args.connections,
        "seconds": seconds,
        "warmup": 0.25 if smoke else 2.0,
    }
    floors = (GOAL_FLOOR,) if smoke else FLOORS
    result = Result(NAME, size.name)
    result.figures.update(
        connections=args.connections,
        seconds=seconds,
        warmup_seconds=load_options["warmup"],
        server=server_name(),
        members=size.members,
        load_average_before=_load_average(),
    )

    prepared = {
        b: _prepare(b, size, sample=args.sample, reuse=args.reuse) for b in backends(args.backend)
    }
    result.figures["data"] = {b: p["figures"] for b, p in prepared.items()}
    first = next(iter(prepared.values()))
    sample: list[str] = first["sample"]
    result.figures["sampled_members"] = len(sample)

    ok = True
    with tempfile.TemporaryDirectory(prefix="tierbook-read-") as folder:
        bodies = Path(folder)
        result.figures["body_bytes"] = _save_bodies(first["url"], first["token"], sample[0], bodies)
        floor_env = {"TIERBOOK_BENCH_FLOOR_BODIES": str(bodies)}
        requests = {e: _requests(e, sample, first["token"]) for e in ENDPOINTS}

        def measure_floor(floor: str) -> dict[str, dict[str, Any]]:
            measured = {}
            with serve(f"bench.apps:floor_{floor}", env=floor_env) as port:
                for endpoint in ENDPOINTS:
                    report = run("127.0.0.1", port, requests[endpoint], **load_options)
                    measured[endpoint] = _figures(report)
                    _say(f"floor {floor} {endpoint}", measured[endpoint])
            return measured

        floor_figures = {floor: measure_floor(floor) for floor in floors}

        measured: dict[str, dict[str, dict[str, Any]]] = {}
        for backend, prep in prepared.items():
            measured[backend] = {}
            with serve(
                "bench.apps:tierbook_app", env={"TIERBOOK_DATABASE_URL": prep["url"]}
            ) as port:
                for endpoint in ENDPOINTS:
                    report = run(
                        "127.0.0.1",
                        port,
                        _requests(endpoint, sample, prep["token"]),
                        **load_options,
                    )
                    measured[backend][endpoint] = _figures(report)
                    _say(f"{backend} {endpoint}", measured[backend][endpoint])
                    ok = ok and _all_ok(report)

        if not smoke:  # the floor again, to see how far the machine drifted meanwhile
            floor_figures[f"{GOAL_FLOOR}_after"] = measure_floor(GOAL_FLOOR)

    result.figures["floors"] = floor_figures
    reference = {
        endpoint: _mean(
            [
                floor_figures[name][endpoint]["rps"]
                for name in (GOAL_FLOOR, f"{GOAL_FLOOR}_after")
                if name in floor_figures
            ]
        )
        for endpoint in ENDPOINTS
    }
    result.figures["reference_floor_rps"] = reference
    for backend, endpoints in measured.items():
        for endpoint, figures in endpoints.items():
            figures["ratio_to_floor"] = {
                name: _ratio(figures["rps"], floor_figures[name][endpoint]["rps"])
                for name in floors
            } | {"reference": _ratio(figures["rps"], reference[endpoint])}
            ratio = figures["ratio_to_floor"]["reference"]
            say(f"{backend} {endpoint}: {ratio:.2f}x the FastAPI floor")
            result.goal(
                f"{backend} {endpoint} requests/s vs the FastAPI floor",
                f">= {GOAL_RATIO}x",
                ratio,
                ratio >= GOAL_RATIO,
            )
            result.goal(
                f"{backend} {endpoint} p99",
                f"< {GOAL_P99_MS} ms",
                figures["p99_ms"],
                figures["p99_ms"] < GOAL_P99_MS,
            )
    result.figures["endpoints"] = measured
    result.figures["load_average_after"] = _load_average()
    result.notes.append(
        f"The load generator shares the machine with the server ({args.connections} keep-alive "
        "connections on loopback, one request in flight on each). The machine is shared and "
        "noisy (see the load averages): compare figures within one run, not across runs."
    )
    if not ok:
        result.notes.append("Some responses were not 200: see the status counts.")
    write_result(result)
    return 0 if ok else 1


# -- preparing a database ----------------------------------------------------------------------


def _prepare(backend: str, size: Size, *, sample: int, reuse: bool) -> dict[str, Any]:
    """A loaded, swept database with a read key: its URL, the key, a sample of member ids."""
    name = f"{DATABASE}_{size.name}"
    shape = gen.Shape(members=size.members, entries_per_member=size.entries_per_member)
    figures: dict[str, Any] = {}
    url = _existing(backend, name) if reuse else None
    if url is None:
        say(f"{backend}: loading {size.members:,} members")
        url = load.fresh_database(backend, WORK, name)
        program = load.install_program(url)
        figures["load"] = load.bulk_load(url, shape, program).as_dict()
    else:
        figures["reused"] = True
    now = datetime.now(UTC).replace(microsecond=0)
    figures["sweep"] = _sweep(url, now)
    say(f"{backend}: {figures['sweep']['line']}")
    picked = random.Random(gen.SEED).sample(range(size.members), min(size.members, sample))
    member_ids = [gen.member_id(i) for i in picked]
    engine = make_engine(url)
    try:
        with SqlUnitOfWorkFactory(engine, clock=FixedClock(now))() as uow:
            # Omneo's record ids, as earlier reads of these profiles would have left them.
            for member_id in member_ids:
                uow.dialects.allocate_profile_tier_id(gen.TENANT, gen.STATUS, member_id)
            uow.commit()
        load.settle(engine)
        figures["stored_state_answers"] = _coverage(engine, now + timedelta(hours=1))
    finally:
        engine.dispose()
    token = load.create_key(url, frozenset({"read"}))
    return {"url": url, "token": token, "sample": member_ids, "figures": figures}


def _sweep(url: str, as_of: datetime) -> dict[str, Any]:
    """`tierbook sweep --as-of`, as a user would run it: its time and its last line."""
    env = {**os.environ, "TIERBOOK_DATABASE_URL": url}
    command = [
        str(Path(sys.executable).with_name("tierbook")), "sweep", "--as-of", as_of.isoformat()
    ]  # fmt: skip
    with Stopwatch() as watch:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tierbook sweep failed: {done.stderr.strip()}")
    line = done.stdout.strip().splitlines()[-1]
    return {"as_of": as_of.isoformat(), "seconds": round(watch.seconds, 1), "line": line}


def _existing(backend: str, name: str) -> str | None:
    if backend == "sqlite":
        path = WORK / f"{name}.db"
        return f"sqlite:///{path}" if path.exists() else None
    url = f"{load.POSTGRES_SERVER}/{name}"
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.select(sa.func.count()).select_from(tier_states)).scalar()
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    return url


def _coverage(engine: sa.Engine, until: datetime) -> float:
    """The share of stored states whose span covers now to `until` (reads need no replay)."""
    c = tier_states.c
    covering = sa.or_(c.stable_until.is_(None), c.stable_until > until)
    with engine.connect() as connection:
        total = connection.execute(sa.select(sa.func.count()).select_from(tier_states)).scalar()
        stable = connection.execute(sa.select(sa.func.count()).where(covering)).scalar()
    return round((stable or 0) / total, 4) if total else 0.0


# -- requests and figures ----------------------------------------------------------------------


def _requests(endpoint: str, sample: list[str], token: str) -> list[Request]:
    headers = (("Authorization", f"Bearer {token}"),)
    return [Request("GET", ENDPOINTS[endpoint].format(m), headers) for m in sample]


def _save_bodies(url: str, token: str, member_id: str, folder: Path) -> dict[str, int]:
    """A real response of each endpoint, saved for the floors to send; their sizes."""
    from tierbook.api.app import create_app
    from tierbook.bootstrap import bootstrap
    from tierbook.config import Settings

    container = bootstrap(Settings(database_url=url))

    async def fetch() -> dict[str, bytes]:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            found = {}
            for endpoint, path in ENDPOINTS.items():
                response = await client.get(
                    path.format(member_id), headers={"Authorization": f"Bearer {token}"}
                )
                if response.status_code != 200:
                    raise RuntimeError(
                        f"{endpoint} answered {response.status_code}: {response.text}"
                    )
                found[endpoint] = response.content
            return found

    try:
        found = asyncio.run(fetch())
    finally:
        container.close()
    for endpoint, body in found.items():
        (folder / f"{endpoint}.json").write_bytes(body)
    return {endpoint: len(body) for endpoint, body in found.items()}


def _figures(report: LoadReport) -> dict[str, Any]:
    return {
        "rps": round(report.rps, 1),
        "requests": report.requests,
        **latency_ms(report.latencies),
        "statuses": {str(k): v for k, v in sorted(report.statuses.items())},
        "errors": report.errors,
    }


def _all_ok(report: LoadReport) -> bool:
    return report.requests > 0 and report.errors == 0 and set(report.statuses) == {200}


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 1) if values else 0.0


def _ratio(rps: float, floor: float) -> float:
    return round(rps / floor, 3) if floor else 0.0


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _say(what: str, figures: dict[str, Any]) -> None:
    say(
        f"{what}: {figures['rps']:,.0f} req/s, p50 {figures['p50_ms']} ms, "
        f"p99 {figures['p99_ms']} ms, statuses {figures['statuses']}"
    )


if __name__ == "__main__":
    sys.exit(main())
