"""SessionM Tiers API (`/priv/v1/apps/{api_key}`) over HTTP: the seed's shapes, its errors."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.dialects.conftest import SESSIONM, Keys, at, golden
from tests.dialects.shapes import assert_same_shape
from tierbook.service.clocks import FixedClock

NULLABLE = {
    "next_tier_id": "number",
    "max_inactive_days": "number",
    "required_application_achievement_id": "number",
    "num_days_to_earn_required_achievement": "number",
    "reset_at": "string",
    "last_reset_at": "string",
}


def app(keys: Keys, token: str | None = None) -> str:
    return "/priv/v1/apps/" + (token or keys.read).partition(".")[0]


def get(client: TestClient, keys: Keys, path: str) -> dict[str, Any]:
    response = client.get(app(keys) + path, headers=keys.basic(keys.read))
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_tiers_are_the_seed_shape_with_every_field(
    client: TestClient, keys: Keys, program: dict[str, Any]
) -> None:
    del program
    body = get(client, keys, "/tiers")
    assert_same_shape(body, golden("sessionm_tiers.json"), nullable=NULLABLE)
    by_id = {t["id"]: t for t in body["tiers"]}
    assert list(by_id) == [1, 2, 3, 21, 22, 31, 32, 41, 42]
    # The group built like the seed: every field set, so every value reads as the seed's.
    assert by_id[22] == {
        "id": 22,
        "name": "Silver",
        "identifier": "silver-club",
        "next_tier_id": None,
        "required_num_days_in_tier": 10,
        "required_points": 500,
        "required_application_achievement_ids": "1,2\n",
        "required_num_achievements": 3,
        "max_inactive_days": 10,
        "required_application_achievement_id": 1,
        "num_days_to_earn_required_achievement": 50,
        "required_sponsor_points": 10,
        "multiplier": "10.0",
        "tier_system_id": SESSIONM,
        "maintenance_required_points": 100,
    }
    assert by_id[21]["next_tier_id"] == 22
    assert by_id[21]["required_application_achievement_ids"] == ""
    assert by_id[3]["next_tier_id"] is None  # the top tier
    assert by_id[2]["multiplier"] == "1.5"


def test_tier_systems_carry_their_reset_calendar(
    client: TestClient, keys: Keys, clock: FixedClock, program: dict[str, Any]
) -> None:
    del program
    clock.set(at("2025-03-10 12:00"))
    body = get(client, keys, "/tier_systems")
    assert_same_shape(body, golden("sessionm_tier_systems.json"), nullable=NULLABLE)
    systems = {s["id"]: s for s in body["tier_systems"]}
    assert list(systems) == [10, 20, 30, 40]
    assert systems[SESSIONM] == {
        "id": SESSIONM,
        "name": "1",
        "external_id": "t1",
        "active": True,
        "reset_at": "2025-06-01T00:00:00Z",
        "reset_interval": "yearly",
        "last_reset_at": "2024-06-01T00:00:00Z",
    }
    assert (systems[10]["reset_interval"], systems[10]["reset_at"]) == ("never", None)
    assert systems[30]["external_id"] == "SPEND"  # no external id: the group's code


def test_one_tier_comes_with_its_tier_system(
    client: TestClient, keys: Keys, program: dict[str, Any]
) -> None:
    del program
    body = get(client, keys, "/tiers/21")
    assert_same_shape(body, golden("sessionm_tier.json"), nullable=NULLABLE)
    assert (body["tier"]["identifier"], body["tier_system"]["id"]) == ("bronze-club", SESSIONM)


def test_a_bearer_token_works_as_well(
    client: TestClient, keys: Keys, program: dict[str, Any]
) -> None:
    del program
    response = client.get(app(keys) + "/tiers", headers=keys.bearer(keys.read))
    assert response.status_code == 200, response.text


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tier_id", ["999", "abc", "0", "-3", "1.5", "9" * 30])
def test_an_unknown_tier_is_the_seeds_404(
    client: TestClient, keys: Keys, program: dict[str, Any], tier_id: str
) -> None:
    del program
    response = client.get(app(keys) + f"/tiers/{tier_id}", headers=keys.basic(keys.read))
    assert response.status_code == 404
    assert response.json() == golden("sessionm_not_found.json")


def test_an_unknown_route_is_not_found_in_the_envelope(client: TestClient, keys: Keys) -> None:
    response = client.get(app(keys) + "/nothing", headers=keys.basic(keys.read))
    assert response.status_code == 404
    assert response.json()["status"] == "error"
    assert response.json()["errors"]["code"] == "not_found"


def assert_invalid_key(response: Any) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["errors"]["code"] == "invalid_api_key"
    assert isinstance(body["errors"]["message"], str)


@pytest.mark.parametrize("path", ["/tiers", "/tier_systems", "/tiers/1"])
def test_no_credentials_is_invalid_api_key(client: TestClient, keys: Keys, path: str) -> None:
    assert_invalid_key(client.get(app(keys) + path))


def test_a_wrong_secret_is_invalid_api_key(client: TestClient, keys: Keys) -> None:
    wrong = keys.read.partition(".")[0] + ".not-the-secret"
    assert_invalid_key(client.get(app(keys) + "/tiers", headers=keys.basic(wrong)))


def test_another_keys_credentials_are_invalid_for_the_path(client: TestClient, keys: Keys) -> None:
    response = client.get(app(keys, keys.admin) + "/tiers", headers=keys.basic(keys.read))
    assert_invalid_key(response)


@pytest.mark.parametrize("api_key", ["tb_0000000000000000", "not a key", "x" * 200])
def test_an_unknown_api_key_is_invalid(client: TestClient, keys: Keys, api_key: str) -> None:
    token = f"{api_key}.secret"
    response = client.get(f"/priv/v1/apps/{api_key}/tiers", headers=keys.basic(token))
    assert_invalid_key(response)


def test_malformed_basic_credentials_are_invalid(client: TestClient, keys: Keys) -> None:
    response = client.get(app(keys) + "/tiers", headers={"Authorization": "Basic !!!"})
    assert_invalid_key(response)


def test_a_revoked_key_is_invalid(client: TestClient, keys: Keys, container: Any) -> None:
    with container.uow_factory() as uow:
        uow.keys.revoke(keys.read.partition(".")[0], container.clock.now())
        uow.commit()
    client.app.state.keys = type(client.app.state.keys)(container.uow_factory, 0)
    assert_invalid_key(client.get(app(keys) + "/tiers", headers=keys.basic(keys.read)))
