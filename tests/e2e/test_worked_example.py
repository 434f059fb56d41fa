"""SPEC §2's worked example over HTTP: every figure of every row of its table."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api, at, program_document, rfc3339
from tierbook.service.clocks import FixedClock

ENROLLED = "2025-01-10 10:00"
PURCHASES = [("2025-03-01 10:00", 600), ("2025-05-01 10:00", 600), ("2025-09-01 10:00", 500)]

# (as_of, tier, figures that row of the table states)
ROWS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "2025-01-10 10:00",
        "bronze",
        {
            "achieved_at": rfc3339("2025-01-10 10:00"),
            "anniversary_at": rfc3339("2026-01-10 23:59:59"),
            "reason": "enrolled",
        },
    ),
    ("2025-03-01 10:00", "bronze", {"window.value": 600, "remain_to_next": 400}),
    (
        "2025-05-01 10:00",
        "silver",
        {
            "achieved_at": rfc3339("2025-05-01 10:00"),
            "anniversary_at": rfc3339("2026-05-01 23:59:59"),
            "prev_tier": "bronze",
            "credit": 200,
            "progress": 0,
            "remain_to_keep": 800,
            "window.value": 1200,
            "remain_to_next": 1300,
            "reason": "qualified",
        },
    ),
    (
        "2025-09-01 10:00",
        "silver",
        {"progress": 500, "remain_to_keep": 300, "window.value": 1700, "credit": 200},
    ),
    ("2026-03-02 12:00", "silver", {"window.value": 1100}),
    (
        "2026-05-01 23:59:59",
        "bronze",
        {
            "achieved_at": rfc3339("2026-05-01 23:59:59"),
            "prev_tier": "silver",
            "window.value": 500,
            "credit": 0,
            "reason": "downgraded",
        },
    ),
]


def figure(state: dict[str, Any], name: str) -> Any:
    if name == "window.value":
        return state["window"]["value"]
    if name == "prev_tier":
        return state["prev_tier"]["handle"]
    return state[name]


@pytest.fixture
def omneo_member(api: Api, clock: FixedClock) -> str:
    """The example's member: enrolled at 10:00 on 10 January 2025, three purchases since."""
    api.put_program(program_document(timezone="UTC"))
    clock.set(at(ENROLLED))
    member_id = str(api.enrol()["id"])
    for when, points in PURCHASES:
        clock.set(at(when))
        api.record(member_id=member_id, occurred_at=rfc3339(when), points=points)
    return member_id


@pytest.mark.parametrize(("when", "tier", "figures"), ROWS, ids=[row[0] for row in ROWS])
def test_each_row_of_the_worked_example_reads_as_the_table(
    api: Api, omneo_member: str, when: str, tier: str, figures: dict[str, Any]
) -> None:
    state = api.state(omneo_member, as_of=rfc3339(when))
    assert state["tier"]["handle"] == tier
    assert {name: figure(state, name) for name in figures} == figures


def test_each_purchase_reports_the_state_at_its_instant(api: Api, clock: FixedClock) -> None:
    api.put_program(program_document(timezone="UTC"))
    clock.set(at(ENROLLED))
    member_id = api.enrol()["id"]
    for (when, points), (row_when, tier, figures) in zip(PURCHASES, ROWS[1:4], strict=True):
        assert when == row_when
        clock.set(at(when))
        api.record(member_id=member_id, occurred_at=rfc3339(when), points=points)
        state = api.state(member_id)  # no as_of: now, where the clock stands
        assert state["tier"]["handle"] == tier
        assert {name: figure(state, name) for name in figures} == figures


def test_the_second_purchase_reports_the_upgrade_to_silver(api: Api, clock: FixedClock) -> None:
    api.put_program(program_document(timezone="UTC"))
    clock.set(at(ENROLLED))
    member_id = api.enrol()["id"]
    clock.set(at("2025-03-01 10:00"))
    first = api.record(member_id=member_id, occurred_at=rfc3339("2025-03-01 10:00"), points=600)
    assert first["changes"] == []
    clock.set(at("2025-05-01 10:00"))
    second = api.record(member_id=member_id, occurred_at=rfc3339("2025-05-01 10:00"), points=600)
    (change,) = second["changes"]
    assert change["reason"] == "qualified"
    assert (change["from"]["handle"], change["to"]["handle"]) == ("bronze", "silver")
    assert change["at"] == rfc3339("2025-05-01 10:00")
    assert change["figures"]["credit"] == "200"


def test_the_whole_table_is_the_history(api: Api, omneo_member: str) -> None:
    response = api.get(
        f"/v1/members/{omneo_member}/tiers/10/history",
        params={"as_of": rfc3339("2026-06-01 00:00")},
    )
    assert response.status_code == 200, response.text
    changes = response.json()["changes"]
    assert [
        (c["reason"], c["from"] and c["from"]["handle"], c["to"]["handle"]) for c in changes
    ] == [
        ("enrolled", None, "bronze"),
        ("qualified", "bronze", "silver"),
        ("downgraded", "silver", "bronze"),
    ]
    assert changes[-1]["at"] == rfc3339("2026-05-01 23:59:59")
    assert changes[-1]["figures"]["window_value"] == "500"


def test_the_anniversary_needs_no_sweep_to_be_read(
    api: Api, omneo_member: str, clock: FixedClock
) -> None:
    clock.set(at("2026-05-02 09:00"))
    state = api.state(omneo_member)
    assert (state["tier"]["handle"], state["reason"]) == ("bronze", "downgraded")
    one_second_before = api.state(omneo_member, as_of=rfc3339("2026-05-01 23:59:58"))
    assert one_second_before["tier"]["handle"] == "silver"
