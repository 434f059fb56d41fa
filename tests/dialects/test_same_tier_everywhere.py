"""End to end over HTTP: members enrolled and their activity recorded through the native API and
through Altcraft, then read through all four dialects and `/v1`: the same tier everywhere."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.dialects.conftest import PROGRAM, PROGRAM_ID, STATUS, Keys, at
from tierbook.service.clocks import FixedClock


def native_tier(client: TestClient, keys: Keys, member: str) -> tuple[int, str]:
    response = client.get(f"/v1/members/{member}/tiers", headers=keys.bearer(keys.read))
    assert response.status_code == 200, response.text
    (state,) = [s for s in response.json()["tiers"] if s["group"]["id"] == STATUS]
    return state["tier"]["id"], state["tier"]["handle"]


def omneo_tier(client: TestClient, keys: Keys, member: str) -> tuple[int, str]:
    response = client.get(f"/api/v3/profiles/{member}/tiers", headers=keys.bearer(keys.read))
    assert response.status_code == 200, response.text
    tier = response.json()["data"]["current_tier"]
    return tier["id"], tier["handle"]


def altcraft_tier(client: TestClient, keys: Keys, member: str) -> tuple[int, str]:
    response = client.post(
        "/api/v1.1/loyalty/account/tiers",
        content=(
            f"<xml><token>{keys.read}</token><loyalty_program_id>{PROGRAM_ID}"
            f"</loyalty_program_id><tiers_group_id>{STATUS}</tiers_group_id>"
            f"<matching>profile_id</matching><profile_id>{member}</profile_id></xml>"
        ).encode(),
        headers={"Content-Type": "application/xml"},
    )
    assert response.status_code == 200, response.text
    # Tiers reached, up to the current one: the last is the current one.
    last = ET.fromstring(response.content).findall("data")[-1]
    tier_id = int(last.findtext("tier_id") or 0)
    handles = {t["id"]: t["handle"] for t in PROGRAM["groups"][0]["tiers"]}
    return tier_id, handles[tier_id]


def sessionm_tier(client: TestClient, keys: Keys, tier_id: int) -> tuple[int, str]:
    api_key = keys.read.partition(".")[0]
    response = client.get(f"/priv/v1/apps/{api_key}/tiers/{tier_id}", headers=keys.basic(keys.read))
    assert response.status_code == 200, response.text
    tier = response.json()["tier"]
    return tier["id"], tier["identifier"]


def es_tier(client: TestClient, keys: Keys, member: str) -> tuple[int, str]:
    client_id, _, secret = keys.read.partition(".")
    access = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    opened = client.post(
        f"/client/users/{member}/sessions", json={"correlationId": f"s-{member}"}, headers=bearer
    )
    assert opened.status_code in (200, 201), opened.text
    response = client.get(f"/client/users/s-{member}/membership", headers=bearer)
    assert response.status_code == 200, response.text
    status = response.json()["STATUS"]
    tiers = {t["handle"]: t["id"] for t in PROGRAM["groups"][0]["tiers"]}
    return tiers[status["tierCode"]], status["tierCode"]


def every_dialect(client: TestClient, keys: Keys, member: str) -> set[tuple[int, str]]:
    native = native_tier(client, keys, member)
    return {
        native,
        omneo_tier(client, keys, member),
        altcraft_tier(client, keys, member),
        sessionm_tier(client, keys, native[0]),
        es_tier(client, keys, member),
    }


@pytest.fixture
def program_over_http(client: TestClient, keys: Keys) -> None:
    response = client.put(
        f"/v1/programs/{PROGRAM_ID}", json=PROGRAM, headers=keys.bearer(keys.admin)
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(("points", "tier"), [(1200, "silver"), (3000, "gold")])
def test_a_native_member_holds_the_same_tier_in_every_dialect(
    client: TestClient,
    keys: Keys,
    clock: FixedClock,
    program_over_http: None,
    points: int,
    tier: str,
) -> None:
    del program_over_http
    write = keys.bearer(keys.write)
    enrolled = client.post("/v1/members", json={"email": "dee@example.com"}, headers=write)
    assert enrolled.status_code == 201, enrolled.text
    member = enrolled.json()["id"]
    clock.set(at("2025-02-01 09:00"))
    recorded = client.post(
        "/v1/activities",
        json={"member_id": member, "points": points, "occurred_at": "2025-02-01T09:00:00Z"},
        headers=write,
    )
    assert recorded.status_code == 201, recorded.text
    found = every_dialect(client, keys, member)
    assert len(found) == 1, found
    assert next(iter(found))[1] == tier


def test_an_altcraft_member_holds_the_same_tier_in_every_dialect(
    client: TestClient, keys: Keys, clock: FixedClock, program_over_http: None
) -> None:
    del program_over_http
    who: dict[str, Any] = {
        "token": keys.write,
        "loyalty_program_id": PROGRAM_ID,
        "matching": "email",
        "email": "eve@example.com",
    }
    registered = client.post("/api/v1.1/loyalty/register_member", json=who)
    assert registered.status_code == 200, registered.text
    member = registered.json()["profile_id"]
    for day, amount in (("2025-02-01", "900"), ("2025-03-01", "1700")):
        clock.set(at(f"{day} 12:00"))
        accrued = client.post(
            "/api/v1.1/loyalty/accrue_points",
            json=who | {"amount": amount, "transaction_eid": f"T-{day}"},
        )
        assert accrued.status_code == 200, accrued.text
    assert every_dialect(client, keys, member) == {(3, "gold")}


def test_an_omneo_assignment_shows_in_every_dialect(
    client: TestClient, keys: Keys, clock: FixedClock, program_over_http: None
) -> None:
    del program_over_http
    write = keys.bearer(keys.write)
    member = client.post("/v1/members", json={"id": "fay"}, headers=write).json()["id"]
    clock.set(at("2025-02-01 09:00"))
    client.post(
        "/v1/activities",
        json={"member_id": member, "points": 1000, "occurred_at": "2025-02-01T09:00:00Z"},
        headers=write,
    )
    assigned = client.post(
        f"/api/v3/profiles/{member}/tiers/assign", json={"tier": "gold"}, headers=write
    )
    assert assigned.status_code == 200, assigned.text
    assert every_dialect(client, keys, member) == {(3, "gold")}
