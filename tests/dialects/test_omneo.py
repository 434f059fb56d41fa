"""Omneo (`/api/v3`) over HTTP: the seed's profile tier, calculate, assign, tier definitions."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.dialects.conftest import (
    SESSIONM,
    SPEND,
    STATUS,
    Keys,
    at,
    golden,
    record,
)
from tests.dialects.shapes import FORMATS, assert_same_shape
from tierbook.bootstrap import Container

NULLABLE = {
    "current_tier": "object",
    "next_tier": "object",
    "prev_tier": "object",
    "total_points_achievement": "number",
    "assigned_at": "string",
    "internal_notes": "string",
    "description": "string",
    "terms_conditions": "string",
    "icon": "string",
    "image_url": "string",
    "earn_instructions": "string",
    "short_description": "string",
    "long_description": "string",
}
EXTRA = frozenset({"$.maintained_at", "$.next_progress_change_at"})


def profile(client: TestClient, keys: Keys, member: str, **params: str) -> dict[str, Any]:
    response = client.get(
        f"/api/v3/profiles/{member}/tiers", params=params, headers=keys.bearer(keys.read)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data"}
    return dict(body["data"])


def assert_profile_shape(data: dict[str, Any]) -> None:
    seed = golden("omneo_profile_tier.json")
    assert_same_shape(data, seed, nullable=NULLABLE, extra=EXTRA)
    assert set(data) == set(seed) | {"maintained_at", "next_progress_change_at"}
    for name in ("current_tier", "next_tier", "prev_tier"):
        if data[name] is not None:
            assert_same_shape(data[name], seed["current_tier"], nullable=NULLABLE)
    for name in ("assigned_at", "maintained_at", "next_progress_change_at"):
        assert data[name] is None or FORMATS["omneo date-time"].match(data[name])


def test_a_new_profile_reads_as_the_seed_example(
    client: TestClient, keys: Keys, member: str
) -> None:
    data = profile(client, keys, member)
    assert_profile_shape(data)
    assert data["profile_id"] == member
    assert isinstance(data["id"], int)
    assert (data["current_tier"]["handle"], data["next_tier"]["handle"]) == ("bronze", "silver")
    assert data["prev_tier"] is None
    assert data["is_floor"] is True
    assert data["next_remain"] == 1000
    assert data["total_points_achievement"] is None
    assert data["achieved_at"] == "2025-01-01 00:00:00"
    assert data["anniversary_at"] == "2026-01-01 23:59:59"
    assert data["next_tier"]["short_description"] == "★"
    assert data["next_tier"]["tags"] == ["vip"]


def test_the_worked_example_reads_in_omneo_figures(
    client: TestClient, keys: Keys, container: Container, member: str
) -> None:
    record(container, member, at("2025-03-01 10:00"), points=600)
    record(container, member, at("2025-05-01 10:00"), points=600)
    record(container, member, at("2025-09-01 10:00"), points=500)
    data = profile(client, keys, member)
    assert_profile_shape(data)
    assert data["current_tier"]["handle"] == "silver"
    assert data["prev_tier"]["handle"] == "bronze"
    assert data["is_floor"] is False
    assert {k: data[k] for k in ("current_credit", "current_progress", "current_remain")} == {
        "current_credit": 200,
        "current_progress": 500,
        "current_remain": 300,
    }
    assert (data["next_progress"], data["next_remain"]) == (1700, 800)
    assert data["total_points_12m"] == 1700
    assert data["total_points_achievement"] == 500
    assert data["achieved_at"] == "2025-05-01 10:00:00"
    assert data["anniversary_at"] == "2026-05-01 23:59:59"
    assert data["next_progress_change_at"] == "2026-03-01 10:00:00"


@pytest.mark.parametrize("as_of", ["2026-03-02 12:00:00", "2026-03-02T12:00:00Z"])
def test_as_of_reads_any_instant_in_either_format(
    client: TestClient, keys: Keys, container: Container, member: str, as_of: str
) -> None:
    for when, points in (("2025-03-01 10:00", 600), ("2025-05-01 10:00", 600)):
        record(container, member, at(when), points=points)
    record(container, member, at("2025-09-01 10:00"), points=500)
    assert profile(client, keys, member, as_of=as_of)["next_progress"] == 1100


@pytest.mark.parametrize("group", [str(SESSIONM), "CLUB"])
def test_group_picks_another_tier_group_by_id_or_code(
    client: TestClient, keys: Keys, member: str, group: str
) -> None:
    data = profile(client, keys, member, group=group)
    assert data["current_tier"]["id"] == 21
    assert data["id"] != profile(client, keys, member)["id"]


def test_the_record_id_is_stable(client: TestClient, keys: Keys, member: str) -> None:
    first = profile(client, keys, member)["id"]
    assert profile(client, keys, member)["id"] == first


def test_calculate_returns_the_same_object(client: TestClient, keys: Keys, member: str) -> None:
    response = client.get(
        f"/api/v3/profiles/{member}/tiers/calculate", headers=keys.bearer(keys.write)
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == profile(client, keys, member)


def test_assign_overrides_the_tier_by_handle(client: TestClient, keys: Keys, member: str) -> None:
    response = client.post(
        f"/api/v3/profiles/{member}/tiers/assign",
        json={"tier": "gold"},
        headers=keys.bearer(keys.write),
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert_profile_shape(data)
    assert data["current_tier"]["handle"] == "gold"
    assert data["assigned_at"] == "2025-01-01 00:00:00"
    assert data["prev_tier"]["handle"] == "bronze"


def test_batch_calculate_is_queued(client: TestClient, keys: Keys, member: str) -> None:
    response = client.post(
        "/api/v3/profile/tiers/calculate/batch.json",
        json={"profiles": [{"profile_id": member}, {"profile_id": "nobody"}]},
        headers=keys.bearer(keys.write),
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"message": "Queued for processing."}


# -- tier definitions ---------------------------------------------------------------------------


def test_definitions_list_every_tier_in_the_seed_shape(
    client: TestClient, keys: Keys, program: dict[str, Any]
) -> None:
    del program
    response = client.get("/api/v3/tiers/definitions", headers=keys.bearer(keys.read))
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [d["id"] for d in data] == [1, 2, 3, 21, 22, 31, 32, 41, 42]
    seed = golden("omneo_profile_tier.json")["current_tier"]
    for definition in data:
        assert_same_shape(definition, seed, nullable=NULLABLE)


def test_definitions_are_created_read_changed_and_deleted(
    client: TestClient, keys: Keys, program: dict[str, Any]
) -> None:
    del program
    admin = keys.bearer(keys.admin)
    created = client.post(
        "/api/v3/tiers/definitions",
        json={
            "group_id": STATUS,
            "handle": "platinum",
            "name": "Platinum",
            "value_min": 5000,
            "value_maintain": 4000,
            "short_description": "Top",
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    tier = created.json()["data"]
    assert (tier["id"], tier["handle"], tier["value_min"]) == (43, "platinum", 5000)
    assert tier["created_at"] == "2025-01-01 00:00:00"
    url = f"/api/v3/tiers/definitions/{tier['id']}"
    assert client.get(url, headers=keys.bearer(keys.read)).json()["data"] == tier

    changed = client.put(url, json=tier | {"name": "Platinum Elite"}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["name"] == "Platinum Elite"

    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(url, headers=keys.bearer(keys.read)).status_code == 404


def test_a_definition_does_not_move_to_another_group(
    client: TestClient, keys: Keys, program: dict[str, Any]
) -> None:
    del program
    url = "/api/v3/tiers/definitions/2"
    before = client.get(url, headers=keys.bearer(keys.read)).json()["data"]
    moved = client.put(
        url, json={"group_id": SPEND, "name": "Moved"}, headers=keys.bearer(keys.admin)
    )
    assert moved.status_code == 422, moved.text
    assert list(moved.json()["errors"]) == ["group_id"]
    assert client.get(url, headers=keys.bearer(keys.read)).json()["data"] == before
    same = client.put(
        url, json={"group_id": STATUS, "name": "Silver+"}, headers=keys.bearer(keys.admin)
    )
    assert same.status_code == 200, same.text
    assert same.json()["data"]["name"] == "Silver+"


def test_a_definition_without_group_goes_to_the_default_group_by_value_min(
    client: TestClient, keys: Keys, program: dict[str, Any]
) -> None:
    del program
    response = client.post(
        "/api/v3/tiers/definitions",
        json={"handle": "diamond", "name": "Diamond", "value_min": 9000},
        headers=keys.bearer(keys.admin),
    )
    assert response.status_code == 201, response.text
    listed = client.get("/api/v3/tiers/definitions", headers=keys.bearer(keys.read)).json()
    assert [d["handle"] for d in listed["data"][:4]] == ["bronze", "silver", "gold", "diamond"]


def test_inserting_below_existing_tiers_is_refused_unless_forced(
    client: TestClient, keys: Keys, program: dict[str, Any]
) -> None:
    del program
    body = {"group_id": STATUS, "handle": "steel", "name": "Steel", "value_min": 500}
    refused = client.post("/api/v3/tiers/definitions", json=body, headers=keys.bearer(keys.admin))
    assert refused.status_code == 409, refused.text
    assert set(refused.json()) == {"message"}
    forced = client.post(
        "/api/v3/tiers/definitions?force=true", json=body, headers=keys.bearer(keys.admin)
    )
    assert forced.status_code == 201, forced.text
