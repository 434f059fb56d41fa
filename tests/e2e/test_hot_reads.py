"""The hot reads' fast lane (`api.hot`) answers exactly what their routes answer, and leaves
every request it cannot answer to them.

A route is made to answer by asking it `as_of` the clock's instant: a query string is never
taken by the fast lane. A read the fast lane answers opens no unit of work."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from tierbook.adapters.db.hot import SqlHotReads
from tierbook.bootstrap import Container
from tierbook.service.clocks import FixedClock
from tierbook.service.ports import UnitOfWork

from .conftest import Api, at, program_document


class CountingUnits:
    """A unit-of-work factory that counts the units it opens."""

    def __init__(self, inner: Callable[..., UnitOfWork]) -> None:
        self.inner = inner
        self.opened = 0

    def __call__(self, *, write: bool = True) -> UnitOfWork:
        self.opened += 1
        return self.inner(write=write)


@pytest.fixture
def units(container: Container) -> CountingUnits:
    counting = CountingUnits(container.uow_factory)
    container.uow_factory = counting
    return counting


@pytest.fixture
def members(api: Api, clock: FixedClock) -> list[str]:
    """Members of SPEC §3's program, with a second group that pools households: one on the
    floor, one promoted, one with an assigned tier, one whose promotion a refund took back,
    the first two in one household."""
    document = program_document(timezone="Australia/Sydney")
    pooled = copy.deepcopy(document["groups"][0])
    pooled.update(id=20, code="HOUSEHOLD", name="Household", context="household")
    for tier in pooled["tiers"]:
        tier["id"] += 20
    document["groups"].append(pooled)
    api.put_program(document)
    clock.set(at("2025-01-10 10:00"))
    floor, promoted = (api.enrol(household_id="h-1")["id"] for _ in range(2))
    assigned, refunded = (api.enrol()["id"] for _ in range(2))
    clock.set(at("2025-02-01 09:30"))
    api.record(member_id=promoted, points=1200)
    api.record(member_id=refunded, points=1200, idempotency_key="P-1")
    response = api.post(
        f"/v1/members/{assigned}/tiers/10/assign", json={"tier": "gold", "mode": "floor"}
    )
    assert response.status_code == 201, response.text
    clock.set(at("2025-02-02 09:30"))
    api.record(
        member_id=refunded, kind="refund", points=-1200, reverses="P-1", idempotency_key="R-1"
    )
    clock.set(at("2025-03-03 17:45:30.25"))
    return [floor, promoted, assigned, refunded]


def _as_of(clock: FixedClock) -> str:
    return clock.now().isoformat()


def _both(api: Api, path: str, clock: FixedClock, units: CountingUnits) -> tuple[Any, Any]:
    api.get(path)  # the fast lane's first read may need the route (a key to verify, an id to give)
    before = units.opened
    fast = api.get(path)
    assert units.opened == before, f"the route answered {path}"
    routed = api.get(path, params={"as_of": _as_of(clock)})
    assert units.opened > before
    return fast, routed


@pytest.mark.parametrize("path", ["/v1/members/{}/tiers", "/api/v3/profiles/{}/tiers"])
def test_the_fast_lane_answers_as_the_route(
    api: Api, members: list[str], clock: FixedClock, units: CountingUnits, path: str
) -> None:
    for member_id in members:
        fast, routed = _both(api, path.format(member_id), clock, units)
        assert fast.status_code == routed.status_code == 200
        assert fast.content == routed.content
        assert fast.headers["content-type"] == routed.headers["content-type"]
        assert member_id in fast.text
    pooled = api.get(f"/v1/members/{members[0]}/tiers").json()["tiers"]
    assert [t["subject_id"] for t in pooled] == [members[0], "h-1"]


def test_a_first_omneo_read_gives_the_record_its_id_through_the_route(
    api: Api, members: list[str], units: CountingUnits
) -> None:
    path = f"/api/v3/profiles/{members[1]}/tiers"
    api.get(f"/v1/members/{members[1]}/tiers")  # the key is verified and cached
    before = units.opened
    first = api.get(path).json()["data"]
    assert units.opened > before  # the id was written
    before = units.opened
    assert api.get(path).json()["data"]["id"] == first["id"]
    assert units.opened == before


def test_a_state_past_its_stable_span_is_replayed_by_the_route(
    api: Api, members: list[str], clock: FixedClock, units: CountingUnits
) -> None:
    promoted = members[1]
    path = f"/v1/members/{promoted}/tiers"
    state = api.get(path).json()["tiers"][0]
    clock.set(at("2027-06-01 00:00"))  # past the anniversary: no sweep has moved the state
    before = units.opened
    later = api.get(path).json()["tiers"]
    assert units.opened > before
    assert (state["reason"], later[0]["reason"]) == ("qualified", "downgraded")
    assert later == api.get(path, params={"as_of": _as_of(clock)}).json()["tiers"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/members/nobody/tiers", 404),
        ("/v1/members/no%20body/tiers", 404),
        ("/v1/members/" + "x" * 129 + "/tiers", 422),
        ("/api/v3/profiles/nobody/tiers", 404),
    ],
)
def test_what_the_fast_lane_cannot_answer_the_route_reports(
    api: Api, members: list[str], path: str, status: int
) -> None:
    assert api.get(f"/v1/members/{members[0]}/tiers").status_code == 200  # caches the key
    response = api.get(path)
    assert response.status_code == status, response.text


def test_the_fast_lane_needs_a_cached_key_that_may_read(
    make_api: Callable[..., Api], members: list[str], units: CountingUnits
) -> None:
    reader = make_api(scopes="read")
    path = f"/v1/members/{members[0]}/tiers"
    assert reader.get(path).status_code == 200  # verified by the route, then cached
    before = units.opened
    assert reader.get(path).status_code == 200
    assert units.opened == before
    assert Api(reader.client, None).get(path).status_code == 401
    assert Api(reader.client, "nope").get(path).status_code == 401
    assert Api(reader.client, reader.token + "x").get(path).status_code == 401


@pytest.mark.parametrize("raised_by", ["driver", "pool"])
def test_a_read_the_driver_fails_is_answered_by_the_route(
    api: Api,
    members: list[str],
    container: Container,
    units: CountingUnits,
    monkeypatch: pytest.MonkeyPatch,
    raised_by: str,
) -> None:
    path = f"/v1/members/{members[1]}/tiers"
    expected = api.get(path).json()
    hot = container.hot_reads
    assert isinstance(hot, SqlHotReads)
    broken = container.engine.dialect.loaded_dbapi.OperationalError("the connection broke")

    def fail(*_: Any) -> list[Any]:
        if raised_by == "driver":
            raise broken
        raise sa.exc.OperationalError("connect", {}, broken)

    async def fail_async(*args: Any) -> list[Any]:
        return fail(*args)

    monkeypatch.setattr(hot._statement, "rows", fail)
    if hot._prepared is not None:
        monkeypatch.setattr(hot._prepared, "rows", fail_async)
    before = units.opened
    assert api.get(path).json() == expected
    assert units.opened > before
    monkeypatch.undo()
    before = units.opened
    assert api.get(path).json() == expected
    assert units.opened == before


def test_postgresql_reads_wait_on_the_event_loops_own_connections(
    api: Api, members: list[str], container: Container, units: CountingUnits
) -> None:
    """While the application runs, a PostgreSQL hot read takes an asynchronous connection of
    the hot reads' pool, and no worker thread or connection of an engine; SQLite reads in the
    event loop's thread, with no pool."""
    path = f"/v1/members/{members[1]}/tiers"
    api.get(path)  # caches the key
    hot = container.hot_reads
    assert isinstance(hot, SqlHotReads)
    engines = [container.engine] + ([container.hot_engine] if container.hot_engine else [])
    checkouts: list[object] = []
    for engine in engines:
        sa.event.listen(engine, "checkout", lambda *args: checkouts.append(args))
    before = units.opened
    assert api.get(path).status_code == 200
    assert units.opened == before
    if container.engine.dialect.name == "postgresql":
        (pool,) = hot._pools.values()
        assert pool.get_stats()["requests_num"] > 0
        assert checkouts == []
    else:
        assert hot._pools == {}
        assert len(checkouts) <= 1  # the event loop thread's own connection, taken once


def test_outside_the_applications_event_loop_a_read_still_answers(
    api: Api, members: list[str], container: Container, units: CountingUnits
) -> None:
    """Another application on the same container, never started (no lifespan, so no pool in
    its event loop): its fast lane reads on a worker thread instead."""
    from starlette.testclient import TestClient

    from tierbook.api.app import create_app

    path = f"/v1/members/{members[2]}/tiers"
    expected = api.get(path)
    other = TestClient(create_app(container))
    headers = {"Authorization": f"Bearer {api.token}"}
    assert other.get(path, headers=headers).status_code == 200  # its own key cache
    before = units.opened
    again = other.get(path, headers=headers)
    assert units.opened == before
    assert again.content == expected.content


def test_a_failure_the_fast_lane_did_not_expect_is_answered_by_the_route(
    api: Api,
    members: list[str],
    container: Container,
    units: CountingUnits,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The fast lane runs ahead of the framework's error handling: a failure it did not
    expect is logged and the route answers, never the server with a bare 500."""
    path = f"/v1/members/{members[1]}/tiers"
    expected = api.get(path).json()

    async def broken(*_: Any) -> None:
        raise RuntimeError("a bug in the fast lane")

    monkeypatch.setattr(container.hot_reads, "snapshot", broken)
    before = units.opened
    response = api.get(path)
    assert (response.status_code, response.json()) == (200, expected)
    assert units.opened > before
    assert "the hot read of /v1/members/" in caplog.text
