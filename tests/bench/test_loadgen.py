"""The load generator: requests cycled, or each sent once (a check of what it counts, not a
speed)."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from bench.apps import FLOOR_BODIES
from bench.loadgen import Request, run, serve


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    bodies = tmp_path_factory.mktemp("bodies")
    for name in ("native", "omneo"):
        (bodies / f"{name}.json").write_bytes(orjson.dumps({"body": name}))
    with serve("bench.apps:floor_asgi", env={FLOOR_BODIES: str(bodies)}) as port:
        yield port


def _requests(count: int) -> list[Request]:
    return [Request("GET", f"/v1/members/m{i}/tiers") for i in range(count)]


def test_requests_sent_once_end_the_run_when_all_are_answered(port: int) -> None:
    report = run("127.0.0.1", port, _requests(40), connections=4, seconds=30, warmup=0, cycle=False)
    assert report.requests == 40
    assert report.statuses == {200: 40}
    assert 0 < report.seconds < 30


def test_cycled_requests_go_on_for_the_time_given(port: int) -> None:
    report = run("127.0.0.1", port, _requests(3), connections=2, seconds=0.5, warmup=0)
    assert report.requests > 3
    assert report.seconds == 0.5
    assert set(report.statuses) == {200}
