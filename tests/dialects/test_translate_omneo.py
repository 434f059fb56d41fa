"""Omneo's translator alone: date-times, `as_of`, groups, the profile tier, errors."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.dialects.builders import ENROLLED, WORKED, Error, program, view
from tests.dialects.conftest import PROGRAM, SESSIONM, SPEND, STATUS, at
from tierbook.api.dialects.omneo import translate as omneo
from tierbook.domain.errors import InvalidInput, UnknownGroup, UnknownTier


def test_omneo_writes_date_times_in_utc_without_a_zone() -> None:
    instant = datetime(2026, 5, 1, 23, 59, 59, tzinfo=UTC)
    assert omneo.omneo_datetime(instant) == "2026-05-01 23:59:59"
    assert omneo.omneo_datetime(None) is None


@given(
    st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_omneo_date_times_are_what_strftime_writes_in_utc(naive: datetime, minutes: int) -> None:
    instant = naive.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    expected = instant.astimezone(UTC).strftime(omneo.DATETIME)
    assert omneo.omneo_datetime(instant) == expected
    assert omneo.omneo_datetime(instant.astimezone(UTC)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-02 12:00:00", at("2025-03-02 12:00")),
        ("2025-03-02T12:00:00Z", at("2025-03-02 12:00")),
        ("2025-03-02T22:00:00+10:00", at("2025-03-02 12:00")),
        # `?as_of=…+10:00` sent without encoding the `+` arrives with a space, as in /v1.
        ("2025-03-02T22:00:00 10:00", at("2025-03-02 12:00")),
    ],
)
def test_omneo_as_of_reads_both_formats(text: str, expected: datetime) -> None:
    assert omneo.parse_as_of(text) == expected


@pytest.mark.parametrize("text", ["", "now", "2025-02-30 00:00:00", "2025-03-02T12:00:00"])
def test_omneo_as_of_refuses_anything_else(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        omneo.parse_as_of(text)
    assert raised.value.field == "as_of"


def test_omneo_profile_tier_states_the_worked_example() -> None:
    current, _ = view(entries=WORKED)
    record = omneo.ProfileTierRecord(id=7, created_at=ENROLLED, updated_at=None)
    data = omneo.profile_tier(current, record)
    assert data["id"] == 7
    assert data["current_tier"]["handle"] == "silver"
    assert data["prev_tier"]["handle"] == "bronze"
    assert data["next_tier"]["handle"] == "gold"
    assert (data["current_credit"], data["current_progress"], data["current_remain"]) == (
        200,
        500,
        300,
    )
    assert (data["next_progress"], data["next_remain"]) == (1700, 800)
    assert data["created_at"] == data["updated_at"] == "2025-01-10 10:00:00"
    assert data["is_floor"] is False


def test_omneo_tier_definitions_follow_the_program_and_are_the_documents_own() -> None:
    record = omneo.ProfileTierRecord(id=7, created_at=ENROLLED, updated_at=None)
    current = view(entries=WORKED)[0]
    omneo.profile_tier(current, record)["current_tier"]["name"] = "changed by the caller"
    assert omneo.profile_tier(current, record)["current_tier"]["name"] == "Silver"
    renamed = copy.deepcopy(PROGRAM)
    renamed["groups"][0]["tiers"][1]["name"] = "Argent"
    changed = view(entries=WORKED, config=program(renamed))[0]
    assert omneo.profile_tier(changed, record)["current_tier"]["name"] == "Argent"


def test_omneo_figures_are_whole_numbers_even_for_fractional_amounts() -> None:
    # The seed types every figure INTEGER: what was earned rounds down, what remains up.
    current, _ = view(
        entries=[
            ("2025-03-01 10:00", {"points": "600.5"}),
            ("2025-05-01 10:00", {"points": "600.25"}),
            ("2025-09-01 10:00", {"points": "500.5"}),
        ]
    )
    record = omneo.ProfileTierRecord(id=7, created_at=ENROLLED, updated_at=None)
    data = omneo.profile_tier(current, record)
    figures = {
        name: data[name]
        for name in (
            "current_credit",
            "current_progress",
            "current_remain",
            "next_progress",
            "next_remain",
            "total_points_12m",
            "total_points_achievement",
        )
    }
    assert figures == {
        "current_credit": 200,
        "current_progress": 500,
        "current_remain": 299,
        "next_progress": 1701,
        "next_remain": 799,
        "total_points_12m": 1701,
        "total_points_achievement": 500,
    }
    assert all(type(value) is int for value in figures.values())


def test_omneo_picks_the_default_group_or_the_named_one() -> None:
    config = program()
    assert omneo.pick_group(config, None).id == STATUS
    assert omneo.pick_group(config, "CLUB").id == SESSIONM
    assert omneo.pick_group(config, str(SPEND)).id == SPEND
    with pytest.raises(UnknownGroup):
        omneo.pick_group(config, "nope")


def test_omneo_errors() -> None:
    assert omneo.error_body(Error(401, "unauthenticated", "bad key")) == (
        401,
        {"message": "Unauthenticated."},
    )
    details = [{"field": "tier", "message": "a"}, {"field": "tier", "message": "b"}]
    assert omneo.error_body(Error(422, "invalid_input", "tier: a", "tier", details)) == (
        422,
        {"message": "tier: a", "errors": {"tier": ["a", "b"]}},
    )
    assert omneo.error_body(Error(404, "unknown_tier", "no tier 'x'", "tier"))[0] == 422
    assert omneo.error_body(Error(404, "unknown_member", "no member")) == (
        404,
        {"message": "no member"},
    )
    with pytest.raises(UnknownTier):
        omneo.parse_tier_id("1e3")


def test_omneo_definition_fields_ignore_what_the_server_sets() -> None:
    fields, group_id = omneo.definition_fields(
        {"id": 9, "created_at": "x", "updated_at": "y", "name": "N", "group_id": 10}
    )
    assert (fields, group_id) == ({"name": "N"}, 10)
