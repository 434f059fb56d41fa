"""Altcraft (`/api/v1.1`) over HTTP: reached tiers in JSON and XML, registration, accrual."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.dialects.conftest import (
    GOLDEN,
    PROGRAM_ID,
    SPEND,
    STATUS,
    Keys,
    at,
    golden,
    record,
)
from tests.dialects.shapes import assert_same_shape
from tierbook.bootstrap import Container
from tierbook.service.clocks import FixedClock

TIERS = "/api/v1.1/loyalty/account/tiers"
REGISTER = "/api/v1.1/loyalty/register_member"
ACCRUE = "/api/v1.1/loyalty/accrue_points"
XML = {"Content-Type": "application/xml"}


def request(token: str, **fields: Any) -> dict[str, Any]:
    """The seed's request example, with this test's key and changes."""
    body = dict(golden("altcraft_request.json"))
    body |= {"loyalty_program_id": PROGRAM_ID, "tiers_group_id": STATUS, "token": token}
    return body | fields


def to_xml(fields: dict[str, Any]) -> bytes:
    root = ET.Element("xml")
    for name, value in fields.items():
        ET.SubElement(root, name).text = str(value)
    return ET.tostring(root)


def tiers(client: TestClient, token: str, **fields: Any) -> list[dict[str, Any]]:
    response = client.post(TIERS, json=request(token, **fields))
    assert response.status_code == 200, response.text
    body = response.json()
    assert_same_shape(body, golden("altcraft_tiers.json"))
    assert (body["error"], body["error_text"]) == (0, "Successful operation")
    return list(body["data"])


def climb(container: Container, member: str) -> None:
    """The seed's member: on order 0 from enrolment, reaches 1, then 2."""
    record(container, member, at("2025-03-01 10:00"), points=1200)
    record(container, member, at("2025-06-15 09:12:34"), points=1500)


def test_the_seed_example_lists_orders_one_and_two_not_the_enrolment_tier(
    client: TestClient, keys: Keys, container: Container, member: str
) -> None:
    climb(container, member)
    data = tiers(client, keys.read, email="ada@example.com")
    assert data == [
        {
            "tiers_group_type": "rolling",
            "tier_eid": "silver1-2",
            "tier_id": 2,
            "tier_order": 1,
            "reached_at": "2025-03-01T10:00:00Z",
        },
        {
            "tiers_group_type": "rolling",
            "tier_eid": "gold1-3",
            "tier_id": 3,
            "tier_order": 2,
            "reached_at": "2025-06-15T09:12:34Z",
        },
    ]


def test_a_lifetime_group_is_cumulative(
    client: TestClient, keys: Keys, container: Container, member: str
) -> None:
    record(container, member, at("2025-02-01 00:00"), spend=150, business_unit="online")
    (item,) = tiers(client, keys.read, email="ada@example.com", tiers_group_id=SPEND)
    assert (item["tiers_group_type"], item["tier_eid"], item["tier_order"]) == (
        "cumulative",
        "plus",
        1,
    )


def test_a_new_member_has_reached_nothing(client: TestClient, keys: Keys, member: str) -> None:
    del member
    assert tiers(client, keys.read, email="ada@example.com") == []


def test_a_skipped_tier_is_not_listed(
    client: TestClient, keys: Keys, container: Container, member: str
) -> None:
    record(container, member, at("2025-02-01 00:00"), points=3000)
    assert [
        d["tier_order"] for d in tiers(client, keys.read, matching="profile_id", profile_id=member)
    ] == [2]


def test_after_a_downgrade_only_tiers_up_to_the_current_one_are_listed(
    client: TestClient, keys: Keys, container: Container, clock: FixedClock, member: str
) -> None:
    record(container, member, at("2025-03-01 10:00"), points=1200)
    clock.set(at("2026-03-02 00:00"))
    assert [d["tier_order"] for d in tiers(client, keys.read, email="ada@example.com")] == [0]


@pytest.mark.parametrize(
    "fields",
    [
        {"matching": "email", "email": "ada@example.com"},
        {"matching": "phone", "phone": "+61412345678"},
        {"matching": "profile_id", "profile_id": "ada"},
        {"matching": "custom", "field_name": "card", "field_value": "C-1"},
    ],
    ids=["email", "phone", "profile_id", "custom"],
)
def test_each_matching_finds_the_member_by_its_identifier_alone(
    client: TestClient, keys: Keys, container: Container, member: str, fields: dict[str, Any]
) -> None:
    climb(container, member)
    # The seed's example sends the other identifiers too (made up); only `matching`'s is used.
    assert len(tiers(client, keys.read, **fields)) == 2


def test_a_custom_number_value_matches_its_text(
    client: TestClient, keys: Keys, container: Container, program: dict[str, Any]
) -> None:
    del program
    from tests.dialects.conftest import enrol

    enrol(container, id="bob", custom={"user_id": 123456})
    found = tiers(client, keys.read, matching="custom", field_name="user_id", field_value=123456)
    assert found == []


def test_the_token_may_come_as_a_bearer_header(client: TestClient, keys: Keys, member: str) -> None:
    del member
    body = request(keys.read, email="ada@example.com")
    del body["token"]
    response = client.post(TIERS, json=body, headers=keys.bearer(keys.read))
    assert response.status_code == 200, response.text


# -- XML ----------------------------------------------------------------------------------------


def layout(element: ET.Element) -> list[Any]:
    """An element's children as (tag, their layout), text left out."""
    return [(child.tag, layout(child)) for child in element]


def test_xml_in_gets_xml_out_in_the_seed_layout(
    client: TestClient, keys: Keys, container: Container, member: str
) -> None:
    climb(container, member)
    fields = request(keys.read, email="ada@example.com")
    response = client.post(TIERS, content=to_xml(fields), headers=XML)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    ours = ET.fromstring(response.content)
    seed = ET.fromstring((GOLDEN / "altcraft_tiers.xml").read_bytes())
    assert ours.tag == "xml"
    assert layout(ours) == layout(seed)
    first = ours.find("data")
    assert first is not None
    assert [(c.tag, c.text) for c in first] == [
        ("tiers_group_type", "rolling"),
        ("tier_eid", "silver1-2"),
        ("tier_id", "2"),
        ("tier_order", "1"),
        ("reached_at", "2025-03-01T10:00:00Z"),
    ]
    assert ours.findtext("error") == "0"


def test_the_seed_xml_request_reads_like_the_json_one(
    client: TestClient, keys: Keys, container: Container, member: str
) -> None:
    climb(container, member)
    text = (GOLDEN / "altcraft_request.xml").read_text()
    text = text.replace("abc123def456", keys.read).replace("user@example.com", "ada@example.com")
    response = client.post(TIERS, content=text.encode(), headers={"Content-Type": "text/xml"})
    assert response.status_code == 200, response.text
    assert len(ET.fromstring(response.content).findall("data")) == 2


def test_format_overrides_the_answer(client: TestClient, keys: Keys, member: str) -> None:
    del member
    as_xml = client.post(TIERS + "?format=xml", json=request(keys.read, email="ada@example.com"))
    assert as_xml.status_code == 200, as_xml.text
    assert ET.fromstring(as_xml.content).findtext("error_text") == "Successful operation"
    as_json = client.post(
        TIERS + "?format=json",
        content=to_xml(request(keys.read, email="ada@example.com")),
        headers=XML,
    )
    assert as_json.json() == {"error": 0, "error_text": "Successful operation", "data": []}


# -- registration and accrual -------------------------------------------------------------------


def test_a_client_runs_end_to_end_in_altcraft_alone(
    client: TestClient, keys: Keys, clock: FixedClock, program: dict[str, Any]
) -> None:
    del program
    who = {"loyalty_program_id": PROGRAM_ID, "matching": "email", "email": "cy@example.com"}
    registered = client.post(REGISTER, json=who | {"token": keys.write})
    assert registered.status_code == 200, registered.text
    profile_id = registered.json()["profile_id"]
    assert registered.json()["error"] == 0
    again = client.post(REGISTER, json=who | {"token": keys.write})
    assert again.json()["profile_id"] == profile_id

    clock.set(at("2025-02-01 12:00"))
    accrual = who | {"token": keys.write, "amount": "600.50", "transaction_eid": "T-1"}
    first = client.post(ACCRUE, json=accrual)
    assert first.status_code == 200, first.text
    assert first.json()["amount"] == "600.5"
    assert first.json()["transaction_eid"] == "T-1"
    repeated = client.post(ACCRUE, json=accrual)
    assert repeated.json()["transaction_id"] == first.json()["transaction_id"]
    client.post(ACCRUE, json=accrual | {"transaction_eid": "T-2", "amount": "400"})

    reached = client.post(TIERS, json=who | {"token": keys.read, "tiers_group_id": STATUS})
    assert [d["tier_eid"] for d in reached.json()["data"]] == ["silver1-2"]
    assert reached.json()["data"][0]["reached_at"] == "2025-02-01T12:00:00Z"


def test_registration_by_profile_id_keeps_the_id_and_answers_in_xml(
    client: TestClient, keys: Keys, program: dict[str, Any]
) -> None:
    del program
    fields = {
        "token": keys.write,
        "loyalty_program_id": PROGRAM_ID,
        "matching": "profile_id",
        "profile_id": "P-77",
        "registration_date": "2024-12-01T00:00:00Z",
    }
    response = client.post(REGISTER, content=to_xml(fields), headers=XML)
    assert response.status_code == 200, response.text
    body = ET.fromstring(response.content)
    assert [c.tag for c in body] == ["error", "error_text", "profile_id"]
    assert body.findtext("profile_id") == "P-77"


def test_accrual_takes_created_at_and_external_data(
    client: TestClient, keys: Keys, clock: FixedClock, member: str
) -> None:
    clock.set(at("2025-06-01 00:00"))
    response = client.post(
        ACCRUE,
        json={
            "token": keys.write,
            "loyalty_program_id": PROGRAM_ID,
            "matching": "phone",
            "phone": "+61412345678",
            "amount": "1000",
            "created_at": "2025-05-01T08:00:00Z",
            "external_data": {"order_id": "123"},
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["created_at"] == "2025-05-01T08:00:00Z"
    (silver,) = tiers(client, keys.read, profile_id=member, matching="profile_id")
    assert silver["reached_at"] == "2025-05-01T08:00:00Z"
