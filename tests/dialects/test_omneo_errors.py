"""Every Omneo error in Omneo's envelope: 401, 403, 404, 409, 422 with errors by field."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.dialects.conftest import Keys


def assert_message(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = dict(response.json())
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


def assert_invalid(response: Any, field: str) -> None:
    body = assert_message(response, 422)
    assert set(body) == {"message", "errors"}
    assert field in body["errors"], body
    assert all(isinstance(m, str) for m in body["errors"][field])


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/api/v3/profiles/ada/tiers"),
        ("GET", "/api/v3/profiles/ada/tiers/calculate"),
        ("POST", "/api/v3/profiles/ada/tiers/assign"),
        ("POST", "/api/v3/profile/tiers/calculate/batch.json"),
        ("GET", "/api/v3/tiers/definitions"),
        ("POST", "/api/v3/tiers/definitions"),
        ("GET", "/api/v3/tiers/definitions/1"),
        ("PUT", "/api/v3/tiers/definitions/1"),
        ("DELETE", "/api/v3/tiers/definitions/1"),
    ],
)
@pytest.mark.parametrize("token", [None, "tb_0000000000000000.wrong", "nonsense"])
def test_no_key_or_a_wrong_one_is_unauthenticated(
    client: TestClient, method: str, url: str, token: str | None
) -> None:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = client.request(method, url, headers=headers, json={})
    assert response.status_code == 401, response.text
    assert response.json() == {"message": "Unauthenticated."}


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/api/v3/profiles/ada/tiers/calculate", None),
        ("POST", "/api/v3/profiles/ada/tiers/assign", {"tier": "gold"}),
        ("POST", "/api/v3/profile/tiers/calculate/batch.json", {"profiles": []}),
        ("POST", "/api/v3/tiers/definitions", {"handle": "x", "name": "X"}),
        ("DELETE", "/api/v3/tiers/definitions/3", None),
    ],
)
def test_a_read_key_may_not_write(
    client: TestClient, keys: Keys, member: str, method: str, url: str, body: Any
) -> None:
    del member
    response = client.request(method, url, json=body, headers=keys.bearer(keys.read))
    assert set(assert_message(response, 403)) == {"message"}


def test_a_write_key_may_not_change_definitions(
    client: TestClient, keys: Keys, member: str
) -> None:
    del member
    response = client.put(
        "/api/v3/tiers/definitions/3", json={"name": "Au"}, headers=keys.bearer(keys.write)
    )
    assert_message(response, 403)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v3/profiles/nobody/tiers",
        "/api/v3/profiles/ada/tiers?group=NOPE",
        "/api/v3/tiers/definitions/999",
        "/api/v3/tiers/definitions/abc",
        "/api/v3/tiers/definitions/-1",
        "/api/v3/no/such/route",
    ],
)
def test_what_does_not_exist_is_404(client: TestClient, keys: Keys, member: str, url: str) -> None:
    del member
    body = assert_message(client.get(url, headers=keys.bearer(keys.read)), 404)
    assert set(body) == {"message"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tier": "bronze"}, "tier"),  # not assignable
        ({"tier": "nope"}, "tier"),  # no such tier
        ({"tier": ""}, "tier"),
        ({"tier": ["gold"]}, "tier"),
        ({}, "tier"),
    ],
)
def test_a_bad_assignment_is_422_naming_the_field(
    client: TestClient, keys: Keys, member: str, body: dict[str, Any], field: str
) -> None:
    response = client.post(
        f"/api/v3/profiles/{member}/tiers/assign", json=body, headers=keys.bearer(keys.write)
    )
    assert_invalid(response, field)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"as_of": "yesterday"}, "as_of"),
        ({"as_of": "2025-13-01 00:00:00"}, "as_of"),
        ({"as_of": "2025-01-01T00:00:00"}, "as_of"),
        ({"as_of": "0001-01-01T00:00:00+14:00"}, "as_of"),
    ],
)
def test_a_bad_as_of_is_422(
    client: TestClient, keys: Keys, member: str, params: dict[str, str], field: str
) -> None:
    response = client.get(
        f"/api/v3/profiles/{member}/tiers", params=params, headers=keys.bearer(keys.read)
    )
    assert_invalid(response, field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"profiles": []}, "profiles"),
        ({"profiles": [{"profile_id": ""}]}, "profiles[0].profile_id"),
        ({"profiles": "ada"}, "profiles"),
        ({}, "profiles"),
    ],
)
def test_a_bad_batch_is_422(
    client: TestClient, keys: Keys, member: str, body: dict[str, Any], field: str
) -> None:
    del member
    response = client.post(
        "/api/v3/profile/tiers/calculate/batch.json", json=body, headers=keys.bearer(keys.write)
    )
    assert_invalid(response, field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"handle": "x", "name": "X", "value_min": "lots"}, "value_min"),
        ({"handle": "x", "name": "X", "value_min": -5}, "value_min"),
        ({"handle": "x"}, "name"),
        ({"handle": "x", "name": "X", "colour": "red"}, "colour"),
        ({"handle": "x", "name": "X", "group_id": 999}, "group_id"),
        ({"handle": "x", "name": "X", "group_id": "ten"}, "group_id"),
        ({"handle": "x", "name": "X", "rank": -1}, "rank"),
        ({"handle": "x", "name": "X", "value_min": 9000, "multiplier": "lots"}, "multiplier"),
        ({"handle": "bronze", "name": "Again", "value_min": 9000}, "tiers"),
        ({"handle": "x", "name": "X", "value_min": 9000, "is_floor": True}, "tiers"),
    ],
)
def test_a_bad_definition_is_422_naming_the_field(
    client: TestClient, keys: Keys, member: str, body: dict[str, Any], field: str
) -> None:
    del member
    response = client.post("/api/v3/tiers/definitions", json=body, headers=keys.bearer(keys.admin))
    assert_invalid(response, field)


def test_malformed_json_is_422_and_not_json_is_415(
    client: TestClient, keys: Keys, member: str
) -> None:
    headers = keys.bearer(keys.write) | {"Content-Type": "application/json"}
    url = f"/api/v3/profiles/{member}/tiers/assign"
    assert_invalid(client.post(url, content=b'{"tier": ', headers=headers), "body")
    plain = keys.bearer(keys.write) | {"Content-Type": "text/plain"}
    assert set(assert_message(client.post(url, content=b"gold", headers=plain), 415)) == {"message"}


def test_a_held_tier_cannot_be_deleted(client: TestClient, keys: Keys, member: str) -> None:
    del member
    response = client.delete("/api/v3/tiers/definitions/1", headers=keys.bearer(keys.admin))
    assert_message(response, 409)
