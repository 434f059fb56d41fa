"""Tier reads (as_of, history, explain) and manual assignments (override, floor, lock, end)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api, at, program_document, rfc3339
from tierbook.service.clocks import FixedClock


@pytest.fixture
def utc_member(api: Api, clock: FixedClock) -> str:
    """A member of SPEC §3's program kept in UTC, enrolled 2025-01-10 10:00, no activity."""
    api.put_program(program_document(timezone="UTC"))
    clock.set(at("2025-01-10 10:00"))
    return str(api.enrol()["id"])


def assign(api: Api, member_id: str, **body: Any) -> Any:
    return api.post(f"/v1/members/{member_id}/tiers/10/assign", json=body)


# -- reads ---------------------------------------------------------------------------------------


def test_tiers_report_every_figure(api: Api, utc_member: str, clock: FixedClock) -> None:
    clock.set(at("2025-03-01 10:00"))
    api.record(member_id=utc_member, points=600)
    body = api.tiers(utc_member)
    assert (body["member_id"], body["program_id"]) == (utc_member, 123)
    assert body["as_of"] == rfc3339("2025-03-01 10:00")
    (state,) = body["tiers"]
    assert state == {
        "group": {"id": 10, "code": "STATUS", "name": "Status", "metric": "points"},
        "subject_id": utc_member,
        "tier": {"id": 1, "handle": "bronze", "name": "Bronze", "rank": 0},
        "prev_tier": None,
        "reason": "enrolled",
        "achieved_at": rfc3339("2025-01-10 10:00"),
        "anniversary_at": rfc3339("2026-01-10 23:59:59"),
        "maintained_at": None,
        "grace_until": None,
        "assigned_at": None,
        "credit": 0,
        "assignment": None,
        "window": {
            "value": 600,
            "from": rfc3339("2024-03-01 10:00"),
            "to": rfc3339("2025-03-01 10:00"),
        },
        "progress": 600,
        "remain_to_keep": 0,
        "next_tier": {"id": 2, "handle": "silver", "name": "Silver", "rank": 1},
        "remain_to_next": 400,
        "total_points_12m": 600,
        "total_points_achievement": None,
        "next_progress_change_at": rfc3339("2026-03-01 10:00"),
        "next_due_at": rfc3339("2026-01-10 23:59:59"),
    }


def test_as_of_reads_the_past_and_the_future(api: Api, utc_member: str, clock: FixedClock) -> None:
    clock.set(at("2025-05-01 10:00"))
    api.record(member_id=utc_member, points=1200)
    past = api.state(utc_member, as_of=rfc3339("2025-04-01 00:00"))
    future = api.state(utc_member, as_of=rfc3339("2026-05-02 00:00"))
    offset = api.state(utc_member, as_of="2025-04-01T11:00:00+11:00")
    assert (past["tier"]["handle"], past["window"]["value"]) == ("bronze", 0)
    # At the anniversary the May purchase has just left the window, and credit 200 < 1000.
    assert (future["tier"]["handle"], future["reason"]) == ("bronze", "downgraded")
    assert offset == past


def test_as_of_with_an_unencoded_plus_in_its_offset_is_understood(
    api: Api, utc_member: str
) -> None:
    plain = api.state(utc_member, as_of=rfc3339("2025-04-01 00:00"))
    unencoded = api.get(f"/v1/members/{utc_member}/tiers?as_of=2025-04-01T11:00:00+11:00")
    assert unencoded.json()["tiers"][0] == plain


def test_as_of_before_enrolment_reads_the_enrolment(api: Api, utc_member: str) -> None:
    state = api.state(utc_member, as_of=rfc3339("2020-01-01 00:00"))
    assert (state["tier"]["handle"], state["reason"]) == ("bronze", "enrolled")


def test_history_as_of_an_earlier_instant_stops_there(
    api: Api, utc_member: str, clock: FixedClock
) -> None:
    clock.set(at("2025-05-01 10:00"))
    api.record(member_id=utc_member, points=1200)
    url = f"/v1/members/{utc_member}/tiers/10/history"
    now = api.get(url).json()
    before = api.get(url, params={"as_of": rfc3339("2025-04-01 00:00")}).json()
    assert [c["reason"] for c in now["changes"]] == ["enrolled", "qualified"]
    assert [c["reason"] for c in before["changes"]] == ["enrolled"]
    assert (now["member_id"], now["group_id"], now["subject_id"]) == (utc_member, 10, utc_member)


def test_explain_gives_the_decisions_in_order_with_their_values(
    api: Api, utc_member: str, clock: FixedClock
) -> None:
    clock.set(at("2025-05-01 10:00"))
    api.record(member_id=utc_member, points=1200)
    response = api.get(f"/v1/members/{utc_member}/tiers/10/explain")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"]["tier"]["handle"] == "silver"
    decisions = body["decisions"]
    assert [d["at"] for d in decisions] == sorted(d["at"] for d in decisions)
    upgrade = next(d for d in decisions if d["outcome"] == "qualified")
    assert upgrade["rule"] == "upgrade"
    assert upgrade["values"]["window_value"] == "1200"
    assert upgrade["values"]["value_min"] == "1000"
    assert "silver" in upgrade["message"]
    assert [c["reason"] for c in body["changes"]] == ["enrolled", "qualified"]


def test_history_and_explain_of_an_unknown_group_are_404(api: Api, utc_member: str) -> None:
    for what in ("history", "explain"):
        response = api.get(f"/v1/members/{utc_member}/tiers/99/{what}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "unknown_group"


# -- assignments ---------------------------------------------------------------------------------


def test_an_override_holds_the_tier_until_the_rules_say_otherwise(
    api: Api, utc_member: str, clock: FixedClock
) -> None:
    clock.set(at("2025-02-01 00:00"))
    response = assign(api, utc_member, tier="silver", reason="goodwill")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["assignment"]["tier"]["handle"] == "silver"
    assert (body["assignment"]["mode"], body["assignment"]["reason"]) == ("override", "goodwill")
    assert body["assignment"]["effective_at"] == rfc3339("2025-02-01 00:00")
    assert [(c["reason"], c["to"]["handle"]) for c in body["changes"]] == [("assigned", "silver")]
    state = api.state(utc_member)
    assert (state["tier"]["handle"], state["reason"]) == ("silver", "assigned")
    assert state["assigned_at"] == rfc3339("2025-02-01 00:00")
    assert state["anniversary_at"] == rfc3339("2026-02-01 23:59:59")
    assert state["assignment"]["mode"] == "override"
    later = api.state(utc_member, as_of=rfc3339("2026-02-02 00:00"))
    assert (later["tier"]["handle"], later["reason"]) == ("bronze", "downgraded")


def test_a_tier_is_assigned_by_id_too(api: Api, utc_member: str) -> None:
    response = assign(api, utc_member, tier=3)
    assert response.status_code == 201, response.text
    assert api.state(utc_member)["tier"]["handle"] == "gold"


def test_a_floor_keeps_the_member_from_dropping_until_it_ends(
    api: Api, utc_member: str, clock: FixedClock
) -> None:
    clock.set(at("2025-02-01 00:00"))
    until = rfc3339("2026-06-01 00:00")
    assert assign(api, utc_member, tier="silver", mode="floor", until=until).status_code == 201
    after_anniversary = api.state(utc_member, as_of=rfc3339("2026-03-01 00:00"))
    assert after_anniversary["tier"]["handle"] == "silver"
    assert after_anniversary["assignment"]["until"] == until
    assert after_anniversary["maintained_at"] == rfc3339("2026-02-01 23:59:59")
    # When the floor ends the ordinary rules take over, and they next judge at the anniversary.
    after_until = api.state(utc_member, as_of=rfc3339("2026-06-02 00:00"))
    assert (after_until["tier"]["handle"], after_until["assignment"]) == ("silver", None)
    history = api.get(
        f"/v1/members/{utc_member}/tiers/10/history", params={"as_of": rfc3339("2026-06-02 00:00")}
    ).json()
    assert history["changes"][-1]["reason"] == "assignment_expired"
    assert history["changes"][-1]["at"] == until
    next_anniversary = api.state(utc_member, as_of=rfc3339("2027-02-02 00:00"))
    assert (next_anniversary["tier"]["handle"], next_anniversary["reason"]) == (
        "bronze",
        "downgraded",
    )


def test_a_lock_stops_every_automatic_change_until_it_ends(
    api: Api, utc_member: str, clock: FixedClock
) -> None:
    clock.set(at("2025-02-01 00:00"))
    until = rfc3339("2025-04-01 00:00")
    assert assign(api, utc_member, tier="silver", mode="lock", until=until).status_code == 201
    clock.set(at("2025-03-01 00:00"))
    recorded = api.record(member_id=utc_member, points=3000)
    assert recorded["changes"] == []
    assert api.state(utc_member)["tier"]["handle"] == "silver"
    expired = api.state(utc_member, as_of=rfc3339("2025-04-01 00:00"))
    assert expired["tier"]["handle"] == "gold"
    history = api.get(
        f"/v1/members/{utc_member}/tiers/10/history", params={"as_of": rfc3339("2025-04-02 00:00")}
    ).json()
    assert [c["reason"] for c in history["changes"]][-2:] == ["assignment_expired", "qualified"]


def test_an_assignment_can_import_a_tier_with_its_real_date(
    api: Api, utc_member: str, clock: FixedClock
) -> None:
    clock.set(at("2025-06-01 00:00"))
    effective = rfc3339("2025-03-01 00:00")
    assert assign(api, utc_member, tier="gold", effective_at=effective).status_code == 201
    state = api.state(utc_member)
    assert (state["tier"]["handle"], state["achieved_at"]) == ("gold", effective)


def test_delete_ends_the_assignment_now(api: Api, utc_member: str, clock: FixedClock) -> None:
    clock.set(at("2025-02-01 00:00"))
    assign(api, utc_member, tier="silver", mode="lock")
    clock.set(at("2025-03-01 00:00"))
    api.record(member_id=utc_member, points=3000)
    response = api.delete(f"/v1/members/{utc_member}/tiers/10/assign")
    assert response.status_code == 200, response.text
    changes = response.json()["changes"]
    assert [(c["reason"], c["to"]["handle"]) for c in changes][-2:] == [
        ("assignment_expired", "silver"),
        ("qualified", "gold"),
    ]
    assert changes[-1]["at"] == rfc3339("2025-03-01 00:00")
    state = api.state(utc_member)
    assert (state["tier"]["handle"], state["assignment"]) == ("gold", None)
    again = api.delete(f"/v1/members/{utc_member}/tiers/10/assign")
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "invalid_assignment"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"tier": "bronze"}, 422, "tier_not_assignable"),
        ({"tier": "platinum"}, 404, "unknown_tier"),
        ({"tier": 99}, 404, "unknown_tier"),
        ({"tier": "silver", "mode": "forever"}, 422, "invalid_input"),
        ({"tier": "silver", "until": "2024-01-01T00:00:00Z"}, 422, "invalid_assignment"),
        ({"tier": "silver", "effective_at": "2030-01-01T00:00:00Z"}, 422, "invalid_input"),
        ({"tier": "silver", "reason": "x" * 501}, 422, "invalid_input"),
        ({"tier": "silver", "until": "2026-01-01T00:00:00"}, 422, "invalid_input"),
        ({"tier": True}, 422, "invalid_input"),
        ({}, 422, "invalid_input"),
    ],
)
def test_a_bad_assignment_is_refused_and_changes_nothing(
    api: Api, utc_member: str, body: dict[str, Any], status: int, code: str
) -> None:
    before = api.state(utc_member)
    response = assign(api, utc_member, **body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert api.state(utc_member) == before


def test_assigning_in_an_unknown_group_or_to_an_unknown_member_is_404(
    api: Api, utc_member: str
) -> None:
    response = api.post(f"/v1/members/{utc_member}/tiers/99/assign", json={"tier": "silver"})
    assert (response.status_code, response.json()["error"]["code"]) == (404, "unknown_group")
    response = api.post("/v1/members/nobody/tiers/10/assign", json={"tier": "silver"})
    assert (response.status_code, response.json()["error"]["code"]) == (404, "unknown_member")
    response = api.delete("/v1/members/nobody/tiers/10/assign")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "unknown_member")


def test_ending_an_assignment_reports_only_what_ending_it_changed(
    api: Api, utc_member: str, clock: FixedClock
) -> None:
    clock.set(at("2025-02-01 00:00"))
    assign(api, utc_member, tier="silver", mode="lock")
    clock.set(at("2025-03-01 00:00"))
    response = api.delete(f"/v1/members/{utc_member}/tiers/10/assign")
    assert [c["reason"] for c in response.json()["changes"]] == ["assignment_expired"]
