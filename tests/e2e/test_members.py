"""Enrolling, reading, updating and looking members up."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import START, Api, at, program_document, rfc3339
from tierbook.service.clocks import FixedClock


@pytest.mark.usefixtures("program")
def test_enrolling_returns_the_member_and_where_it_lives(api: Api) -> None:
    response = api.post(
        "/v1/members",
        json={"id": "M-1", "email": "a@example.com", "custom": {"card": "C1", "vip": True}},
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/members/M-1"
    body = response.json()
    assert body == {
        "id": "M-1",
        "program_id": 123,
        "email": "a@example.com",
        "phone": None,
        "custom": {"card": "C1", "vip": True},
        "household_id": None,
        "enrolled_at": "2025-01-01T00:00:00Z",
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
    }
    assert api.get("/v1/members/M-1").json() == body


def test_a_new_member_starts_on_the_floor_tier(api: Api, member: dict[str, Any]) -> None:
    state = api.state(member["id"])
    assert (state["tier"]["handle"], state["reason"]) == ("bronze", "enrolled")
    assert state["achieved_at"] == member["enrolled_at"]


@pytest.mark.usefixtures("program")
def test_enrolment_can_be_dated_in_the_past(api: Api, clock: FixedClock) -> None:
    clock.set(at("2025-06-01 00:00"))
    member = api.enrol(enrolled_at="2025-01-10T21:00:00+11:00")
    assert member["enrolled_at"] == rfc3339("2025-01-10 10:00")


@pytest.mark.usefixtures("program")
def test_an_enrolment_in_the_future_is_refused(api: Api) -> None:
    response = api.post("/v1/members", json={"enrolled_at": "2030-01-01T00:00:00Z"})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == {"field": "enrolled_at"}


def test_a_taken_member_id_is_409(api: Api, member: dict[str, Any]) -> None:
    response = api.post("/v1/members", json={"id": member["id"]})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_member"


@pytest.mark.usefixtures("program")
def test_several_programs_need_program_id(api: Api) -> None:
    second = program_document(id=124, code="acme2")
    second["groups"][0]["id"] = 11
    for tier in second["groups"][0]["tiers"]:
        tier["id"] += 10
    api.put_program(second)
    response = api.post("/v1/members", json={})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == {"field": "program_id"}
    assert api.enrol(program_id=124)["program_id"] == 124


def test_patch_changes_only_the_fields_sent(
    api: Api, member: dict[str, Any], clock: FixedClock
) -> None:
    clock.set(at("2025-02-01 00:00"))
    response = api.patch(f"/v1/members/{member['id']}", json={"phone": None, "custom": {"x": 1}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["email"], body["phone"], body["custom"]) == (member["email"], None, {"x": 1})
    assert body["updated_at"] == rfc3339("2025-02-01 00:00")
    assert body["created_at"] == member["created_at"]
    assert api.get(f"/v1/members/{member['id']}").json() == body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"phone": "0412 345 678"}, "phone"),
        ({"enrolled_at": "2025-01-01T00:00:00Z"}, "enrolled_at"),
        ({"id": "new-id"}, "id"),
    ],
)
def test_patch_refuses_what_cannot_change(
    api: Api, member: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    response = api.patch(f"/v1/members/{member['id']}", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["details"] in (
        {"field": field},
        [{"field": field, "message": "Extra inputs are not permitted"}],
    )
    assert api.get(f"/v1/members/{member['id']}").json() == member


@pytest.mark.usefixtures("program")
def test_patch_of_an_unknown_member_is_404(api: Api) -> None:
    response = api.patch("/v1/members/nobody", json={"email": "a@example.com"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_member"


@pytest.mark.parametrize(
    "query",
    [
        {"email": "ada@example.com"},
        {"phone": "+61412345678"},
        {"custom.card": "C-1"},
        {"email": "ada@example.com", "custom.card": "C-1"},
    ],
)
def test_members_are_found_by_email_phone_or_custom_field(
    api: Api, member: dict[str, Any], query: dict[str, str]
) -> None:
    api.enrol(email="bob@example.com", phone="+61400000000", custom={"card": "C-2"})
    response = api.get("/v1/members", params=query)
    assert response.status_code == 200, response.text
    assert [m["id"] for m in response.json()["members"]] == [member["id"]]


def test_a_phone_whose_plus_arrived_unencoded_is_still_found(
    api: Api, member: dict[str, Any]
) -> None:
    # `?phone=+61412345678` typed into a URL arrives as " 61412345678".
    response = api.get("/v1/members?phone=+61412345678")
    assert response.status_code == 200, response.text
    assert [m["id"] for m in response.json()["members"]] == [member["id"]]


@pytest.mark.usefixtures("member")
def test_a_lookup_that_matches_nothing_is_empty(api: Api) -> None:
    response = api.get("/v1/members", params={"email": "ada@example.com", "custom.card": "C-9"})
    assert response.json() == {"members": []}


@pytest.mark.usefixtures("program")
def test_custom_values_are_matched_as_text(api: Api) -> None:
    member = api.enrol(custom={"tier_code": 7, "vip": True})
    found = api.get("/v1/members", params={"custom.tier_code": "7"}).json()["members"]
    assert [m["id"] for m in found] == [member["id"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [({}, "email"), ({"emial": "ada@example.com"}, "emial"), ({"limit": "0"}, "limit")],
)
@pytest.mark.usefixtures("member")
def test_a_lookup_needs_known_criteria(api: Api, query: dict[str, str], field: str) -> None:
    response = api.get("/v1/members", params=query)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert field in error["message"]


@pytest.mark.usefixtures("program")
def test_an_unknown_member_is_404(api: Api) -> None:
    for url in ["/v1/members/nobody", "/v1/members/nobody/tiers"]:
        response = api.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "unknown_member"


def test_the_clock_starts_where_the_suite_says(member: dict[str, Any]) -> None:
    assert member["enrolled_at"] == START.isoformat().replace("+00:00", "Z")
