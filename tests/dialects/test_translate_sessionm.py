"""SessionM's translator alone: tier fields, the reset calendar, errors."""

from __future__ import annotations

import copy

from tests.dialects.builders import Error, program
from tests.dialects.conftest import PROGRAM, SESSIONM, at
from tierbook.api.dialects.sessionm import translate as sessionm


def test_sessionm_tier_fields() -> None:
    config = program()
    group = config.group(SESSIONM)
    assert group is not None
    bronze, silver = group.rules.tiers
    assert sessionm.tier(bronze, group)["next_tier_id"] == silver.id
    out = sessionm.tier(silver, group)
    assert out["next_tier_id"] is None
    assert out["required_application_achievement_ids"] == "1,2\n"
    assert (out["required_application_achievement_id"], out["required_sponsor_points"]) == (1, 10)
    assert sessionm.achievement_ids_text(()) == ""


def test_sessionm_point_requirements_are_whole_numbers() -> None:
    document = copy.deepcopy(PROGRAM)
    silver = document["groups"][1]["tiers"][1]
    silver |= {"value_min": "500.25", "value_maintain": "400.5"}
    silver["also"] = [{"metric": "sponsor_points", "min": "9.5"}]
    group = program(document).group(SESSIONM)
    assert group is not None
    out = sessionm.tier(group.rules.tiers[1], group)
    points = (
        out["required_points"],
        out["maintenance_required_points"],
        out["required_sponsor_points"],
    )
    # The seed types them integer; a fractional requirement is shown as the whole it takes.
    assert points == (501, 401, 10)
    assert all(type(value) is int for value in points)


def test_sessionm_reset_is_local_midnight_in_utc() -> None:
    document = copy.deepcopy(PROGRAM)
    document["program"]["timezone"] = "America/New_York"
    document["groups"][1]["window"] = {"kind": "calendar", "period": "month"}
    group = program(document).group(SESSIONM)
    assert group is not None
    system = sessionm.tier_system(group, at("2017-05-10 20:10:33"))
    # The seed's own reset_at, 2017-05-27T04:00:00Z, is a New York midnight too.
    assert (system["last_reset_at"], system["reset_at"], system["reset_interval"]) == (
        "2017-05-01T04:00:00Z",
        "2017-06-01T04:00:00Z",
        "monthly",
    )


def test_sessionm_errors() -> None:
    assert sessionm.error_body(Error(404, "unknown_tier", "no tier 9")) == (
        404,
        {"status": "error", "errors": {"code": "not_found", "message": "Tier ID does not exist."}},
    )
    assert sessionm.error_body(Error(401, "unauthenticated", "wrong secret"))[1]["errors"] == {
        "code": "invalid_api_key",
        "message": "wrong secret",
    }
