"""Programs as SPEC §3 documents: create, replace, refuse, force, read."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.e2e.conftest import PROGRAM, Api, program_document


def test_a_new_program_is_201_and_comes_back_whole(api: Api) -> None:
    response = api.put("/v1/programs/123", json=PROGRAM)
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["program"]["timezone"] == "Australia/Melbourne"
    tiers = document["groups"][0]["tiers"]
    assert [(t["handle"], t["value_min"], t["multiplier"]) for t in tiers] == [
        ("bronze", "0", "1.0"),
        ("silver", "1000", "1.5"),
        ("gold", "2500", "2.0"),
    ]
    assert api.get("/v1/programs/123").json() == document
    assert api.get("/v1/programs").json() == {"programs": [document]}


def test_the_document_read_back_can_be_put_again_unchanged(
    api: Api, program: dict[str, Any]
) -> None:
    response = api.put("/v1/programs/123", json=program)
    assert response.status_code == 200, response.text
    assert response.json() == program


def test_replacing_a_program_is_200_and_rules_apply_to_members(
    api: Api, member: dict[str, Any]
) -> None:
    api.record(member_id=member["id"], points=800)
    cheaper = program_document()
    cheaper["groups"][0]["tiers"][1]["value_min"] = 500
    cheaper["groups"][0]["tiers"][1]["value_maintain"] = "500.5"
    response = api.put("/v1/programs/123", json=cheaper)
    assert response.status_code == 200, response.text
    assert response.json()["groups"][0]["tiers"][1]["value_maintain"] == "500.5"
    assert api.state(member["id"])["tier"]["handle"] == "silver"


@pytest.mark.usefixtures("member")
def test_a_change_that_renumbers_held_ranks_is_refused_unless_forced(api: Api) -> None:
    changed = copy.deepcopy(PROGRAM)
    tiers = changed["groups"][0]["tiers"]
    tiers[1]["rank"], tiers[2]["rank"] = 2, 1
    tiers[1]["value_min"], tiers[2]["value_min"] = 2500, 1000
    refused = api.put("/v1/programs/123", json=changed)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "rules_change_refused"
    assert api.get("/v1/programs/123").json()["groups"][0]["tiers"][1]["handle"] == "silver"
    forced = api.put("/v1/programs/123", json=changed, params={"force": "true"})
    assert forced.status_code == 200, forced.text
    assert forced.json()["groups"][0]["tiers"][1]["handle"] == "gold"


def test_a_path_that_disagrees_with_the_document_is_422(api: Api) -> None:
    response = api.put("/v1/programs/999", json=PROGRAM)
    assert response.status_code == 422
    assert response.json()["error"]["details"] == {"field": "program.id"}


def test_inconsistent_rules_are_422_naming_the_problem(api: Api) -> None:
    broken = program_document()
    broken["groups"][0]["tiers"][2]["rank"] = 5
    response = api.put("/v1/programs/123", json=broken)
    assert response.status_code == 422
    assert "contiguous" in response.json()["error"]["message"]
    assert api.get("/v1/programs").json() == {"programs": []}


@pytest.mark.parametrize("multiplier", ["abc", "", "1,5", "-1.5", "NaN", "1e999"])
def test_a_multiplier_that_is_not_a_decimal_is_422(api: Api, multiplier: str) -> None:
    broken = program_document()
    broken["groups"][0]["tiers"][1]["multiplier"] = multiplier
    response = api.put("/v1/programs/123", json=broken)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == "groups[0].tiers[1].multiplier"
    assert api.get("/v1/programs").json() == {"programs": []}


def test_a_multiplier_given_as_a_number_is_kept_as_its_decimal_text(api: Api) -> None:
    document = program_document()
    document["groups"][0]["tiers"][1]["multiplier"] = 1.25
    response = api.put("/v1/programs/123", json=document)
    assert response.status_code == 201, response.text
    assert response.json()["groups"][0]["tiers"][1]["multiplier"] == "1.25"


def test_a_misspelt_field_of_the_document_is_422(api: Api) -> None:
    broken = program_document()
    broken["groups"][0]["tiers"][0]["value_mim"] = 0
    response = api.put("/v1/programs/123", json=broken)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "groups[0].tiers[0].value_mim"


def test_the_tiers_of_a_group_in_rank_order(api: Api, program: dict[str, Any]) -> None:
    response = api.get("/v1/programs/123/groups/10/tiers")
    assert response.status_code == 200
    body = response.json()
    assert (body["program_id"], body["group_id"]) == (123, 10)
    assert body["tiers"] == program["groups"][0]["tiers"]


@pytest.mark.usefixtures("program")
def test_unknown_programs_and_groups_are_404(api: Api) -> None:
    for url, code in [
        ("/v1/programs/7", "unknown_program"),
        ("/v1/programs/7/groups/10/tiers", "unknown_program"),
        ("/v1/programs/123/groups/99/tiers", "unknown_group"),
    ]:
        response = api.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == code


def test_enrolling_before_any_program_is_404(api: Api) -> None:
    response = api.post("/v1/members", json={})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_program"
