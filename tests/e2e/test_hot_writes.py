"""The hot write's fast lane (`api.hot.HotWrites`) answers `POST /v1/activities` exactly as
its route does, and hands every request it does not take to the framework, body and all.

A route is made to answer by adding a query string, which the fast lane never takes (and the
route ignores). Which of the two answered is seen by counting the requests that reach the
framework behind the fast lane."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from tierbook.api.app import create_app
from tierbook.api.hot import HotReads, HotWrites
from tierbook.bootstrap import Container
from tierbook.service.clocks import FixedClock

from .conftest import Api, at, new_key

TENANT = "acme"


class Counting:
    """An ASGI app that counts the requests it passes on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await self.app(scope, receive, send)


@pytest.fixture
def framework(client: TestClient) -> Counting:
    """The framework behind the hot write, counting what reaches it."""
    app = client.app
    hot_reads = getattr(app, "hot_reads")  # noqa: B009 - the Application's fast lane
    assert isinstance(hot_reads, HotReads)
    hot_writes = hot_reads.app
    assert isinstance(hot_writes, HotWrites)
    counting = Counting(hot_writes.app)
    hot_writes.app = counting
    return counting


@pytest.fixture
def twins(api: Api, program: dict[str, Any], clock: FixedClock) -> tuple[str, str]:
    """Two members with the same enrolment and history, one for each lane."""
    del program
    clock.set(at("2025-01-10 10:00"))
    first, second = (api.enrol()["id"] for _ in range(2))
    clock.set(at("2025-02-01 09:30"))
    for member_id in (first, second):
        api.record(member_id=member_id, points=700, idempotency_key=f"{member_id}-1")
    clock.set(at("2025-03-03 17:45:30.25"))
    return first, second


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    """A recorded activity's answer without what names its member and entry."""
    entry = {k: v for k, v in body["entry"].items() if k not in ("id", "member_id")}
    entry["idempotency_key"] = entry["idempotency_key"].rpartition("-")[2]
    changes = [{k: v for k, v in c.items() if k != "subject_id"} for c in body["changes"]]
    return {"entry": entry, "created": body["created"], "changes": changes}


def test_an_ordinary_activity_is_recorded_by_the_fast_lane_as_by_the_route(
    api: Api, twins: tuple[str, str], framework: Counting
) -> None:
    fast_member, routed_member = twins
    sent = {"points": 400, "spend": "12.50", "business_unit": "online", "meta": {"till": 4}}
    before = framework.calls
    fast = api.post(
        "/v1/activities",
        json={"member_id": fast_member, "idempotency_key": f"{fast_member}-2", **sent},
    )
    assert framework.calls == before, "the route answered an ordinary activity"
    routed = api.post(
        "/v1/activities?lane=route",
        json={"member_id": routed_member, "idempotency_key": f"{routed_member}-2", **sent},
    )
    assert framework.calls == before + 1
    assert fast.status_code == routed.status_code == 201
    assert fast.headers["content-type"] == routed.headers["content-type"]
    assert _comparable(fast.json()) == _comparable(routed.json())
    assert [c["to"]["handle"] for c in fast.json()["changes"]] == ["silver"]
    assert api.state(fast_member) == {**api.state(routed_member), "subject_id": fast_member}

    repeated = api.post(
        "/v1/activities",
        json={"member_id": fast_member, "idempotency_key": f"{fast_member}-2", **sent},
    )
    assert framework.calls == before + 1
    assert repeated.status_code == 200
    assert repeated.json()["entry"] == fast.json()["entry"]
    assert repeated.json()["created"] is False


def test_an_error_the_route_raises_is_answered_in_the_native_envelope(
    api: Api, twins: tuple[str, str], framework: Counting
) -> None:
    before = framework.calls
    body = {"member_id": "nobody", "points": 10}
    fast = api.post("/v1/activities", json=body)
    assert framework.calls == before
    routed = api.post("/v1/activities?lane=route", json=body)
    assert fast.status_code == routed.status_code == 422
    assert fast.json() == routed.json()
    assert fast.json()["error"]["details"] == {"field": "member_id"}
    future = {"member_id": twins[0], "points": 10, "occurred_at": "2030-01-01T00:00:00Z"}
    fast, routed = (api.post(p, json=future) for p in ("/v1/activities", "/v1/activities?x=1"))
    assert (fast.status_code, fast.json()) == (routed.status_code, routed.json())


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"member_id": "M", "points": 1, "colour": "red"}', "application/json", 422),
        (b'{"member_id": "M", "points": ', "application/json", 422),
        (b'{"member_id": "M\\u0000", "points": 1}', "application/json", 422),
        (b'{"member_id": "M", "points": 1, "meta": {"n": 1e999}}', "application/json", 422),
        (b'{"member_id": "M", "meta": {"n": 18446744073709551616}}', "application/json", 422),
        (b'["member_id"]', "application/json", 422),
        (b"", "application/json", 422),
        (b'{"member_id": "M", "points": 1}', "text/plain", 415),
        (b'{"member_id": "M", "points": 1}', "application/merge-patch+json", 422),
    ],
)
def test_a_body_the_fast_lane_does_not_take_goes_to_the_route_whole(
    api: Api,
    program: dict[str, Any],
    framework: Counting,
    content: bytes,
    content_type: str,
    status: int,
) -> None:
    del program  # put with the key, which the key cache now holds
    before = framework.calls
    response = api.post("/v1/activities", content=content, headers={"content-type": content_type})
    assert framework.calls == before + 1
    routed = api.post(
        "/v1/activities?lane=route", content=content, headers={"content-type": content_type}
    )
    assert response.status_code == routed.status_code == status, response.text
    assert response.json() == routed.json()
    assert "error" in response.json()


def test_a_body_over_the_limit_goes_to_the_route_which_refuses_it(
    container: Container, twins: tuple[str, str]
) -> None:
    container.settings = container.settings.model_copy(update={"max_body_bytes": 200})
    token = new_key(container, TENANT, "write")
    with TestClient(create_app(container)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        small = {"member_id": twins[0], "points": 5}
        assert client.post("/v1/activities", json=small, headers=headers).status_code == 201
        large = {**small, "meta": {"note": "x" * 300}}
        response = client.post("/v1/activities", json=large, headers=headers)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
        chunks = iter([b'{"member_id": "', twins[0].encode(), b'", "meta": {"n": "', b"y" * 300])
        streamed = client.post(
            "/v1/activities",
            content=chunks,
            headers={**headers, "content-type": "application/json"},
        )
        assert streamed.status_code == 413


def test_a_key_the_cache_does_not_hold_or_without_the_scope_goes_to_the_route(
    container: Container, client: TestClient, twins: tuple[str, str], framework: Counting
) -> None:
    body = {"member_id": twins[0], "points": 5}
    writer = {"Authorization": f"Bearer {new_key(container, TENANT, 'write')}"}
    before = framework.calls
    assert client.post("/v1/activities", json=body, headers=writer).status_code == 201
    assert framework.calls == before + 1  # the key was verified there, and is cached now
    assert client.post("/v1/activities", json=body, headers=writer).status_code == 201
    assert framework.calls == before + 1
    reader = {"Authorization": f"Bearer {new_key(container, TENANT, 'read')}"}
    client.get(f"/v1/members/{twins[0]}", headers=reader)  # cached, but may not write
    refused = client.post("/v1/activities", json=body, headers=reader)
    assert refused.status_code == 403
    assert framework.calls == before + 3
    anonymous = client.post("/v1/activities", json=body)
    assert anonymous.status_code == 401


def test_a_failure_the_route_did_not_expect_is_answered_as_the_framework_would(
    api: Api,
    twins: tuple[str, str],
    container: Container,
    framework: Counting,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*_: Any) -> None:
        raise RuntimeError("a bug behind the route")

    monkeypatch.setattr(container.activity_writer, "record", broken)
    before = framework.calls
    with caplog.at_level(logging.ERROR, logger="tierbook.api"):
        response = api.post("/v1/activities", json={"member_id": twins[0], "points": 5})
    assert framework.calls == before
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": "internal error"}}
    assert "unexpected error on POST /v1/activities" in caplog.text
