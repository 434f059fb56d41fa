"""SPEC §2 "Manual assignment": override, floor and lock, their ends, and their dates."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.factories import (
    BRONZE,
    GOLD,
    SILVER,
    at,
    omneo_group,
    purchase,
    run,
    with_tier,
)
from tierbook.domain.rules import Downgrade
from tierbook.domain.state import Assignment, AssignmentMode, HistoryRecord, Reason

ENROLLED = "2025-01-01 00:00"
BRONZE_ID, SILVER_ID, GOLD_ID = 1, 2, 3
OVERRIDE, FLOOR, LOCK = AssignmentMode.OVERRIDE, AssignmentMode.FLOOR, AssignmentMode.LOCK
GROUP = omneo_group()


def assign(
    tier_id: int,
    mode: AssignmentMode,
    effective: str,
    until: str | None = None,
    *,
    ended: str | None = None,
    id: str = "a1",
) -> Assignment:
    return Assignment(
        id=id,
        tier_id=tier_id,
        mode=mode,
        effective_at=at(effective),
        until=None if until is None else at(until),
        ended_at=None if ended is None else at(ended),
        reason="status match",
    )


def reasons(history: tuple[HistoryRecord, ...]) -> list[Reason]:
    return [h.reason for h in history]


# ---------------------------------------------------------------------------- override


@pytest.mark.parametrize("mode", [OVERRIDE, FLOOR, LOCK])
def test_an_assignment_holds_the_tier_as_if_attained_at_effective_at(
    mode: AssignmentMode,
) -> None:
    entries = [purchase("2025-02-01", 1500)]  # Silver, credit 500
    evaluation = run(GROUP, ENROLLED, entries, "2025-04-01", [assign(GOLD_ID, mode, "2025-03-01")])
    state = evaluation.state
    assert (state.tier_id, state.prev_tier_id) == (GOLD_ID, SILVER_ID)
    assert state.achieved_at == at("2025-03-01")
    assert state.assigned_at == at("2025-03-01")
    assert state.tier_year_start == at("2025-03-01")
    assert state.anniversary_at == at("2026-03-01 23:59:59")
    assert state.credit == 0
    assert state.last_reason is Reason.ASSIGNED
    assert state.assignment is not None
    assert (state.assignment.mode, state.assignment.reason) == (mode, "status match")
    assert state.figures.total_points_achievement is None
    last = evaluation.history[-1]
    assert (last.reason, last.from_tier_id, last.to_tier_id) == (
        Reason.ASSIGNED,
        SILVER_ID,
        GOLD_ID,
    )
    assert last.figures["mode"] == mode.value


def test_after_an_override_the_ordinary_rules_apply() -> None:
    evaluation = run(GROUP, ENROLLED, [], "2026-03-02", [assign(GOLD_ID, OVERRIDE, "2025-03-01")])
    assert evaluation.state.tier_id == BRONZE_ID
    assert evaluation.history[-1].reason is Reason.DOWNGRADED
    assert evaluation.history[-1].at == at("2026-03-01 23:59:59")


def test_an_entry_after_an_override_can_upgrade_at_once() -> None:
    entries = [purchase("2025-03-05", 2600)]
    state = run(GROUP, ENROLLED, entries, "2025-04-01", [assign(SILVER_ID, OVERRIDE, "2025-03-01")])
    assert (state.state.tier_id, state.state.prev_tier_id) == (GOLD_ID, SILVER_ID)


def test_an_override_until_ends_with_assignment_expired_and_keeps_the_tier() -> None:
    assignment = assign(GOLD_ID, OVERRIDE, "2025-03-01", "2025-06-01")
    before = run(GROUP, ENROLLED, [], "2025-05-01", [assignment]).state
    assert before.next_due_at == at("2025-06-01")
    assert before.assignment is not None
    assert before.assignment.until == at("2025-06-01")
    evaluation = run(GROUP, ENROLLED, [], "2025-06-02", [assignment])
    assert evaluation.state.tier_id == GOLD_ID
    assert evaluation.state.assignment is None
    last = evaluation.history[-1]
    assert (last.reason, last.at, last.from_tier_id, last.to_tier_id) == (
        Reason.ASSIGNMENT_EXPIRED,
        at("2025-06-01"),
        GOLD_ID,
        GOLD_ID,
    )


@pytest.mark.parametrize("mode", [OVERRIDE, FLOOR, LOCK])
def test_assignment_expired_is_followed_by_a_promotion_when_qualified(
    mode: AssignmentMode,
) -> None:
    entries = [purchase("2025-04-01", 3000)]
    assignment = assign(SILVER_ID, mode, "2025-03-01", "2025-06-01")
    evaluation = run(GROUP, ENROLLED, entries, "2025-07-01", [assignment])
    assert evaluation.state.tier_id == GOLD_ID
    if mode is LOCK:
        # Locked: nothing moved until the lock ended, then the promotion came.
        assert reasons(evaluation.history)[-2:] == [Reason.ASSIGNMENT_EXPIRED, Reason.QUALIFIED]
        assert evaluation.state.achieved_at == at("2025-06-01")
        assert evaluation.history[-1].figures["trigger"] == "assignment expired"
    else:
        # Override and floor let the entry promote at once.
        assert evaluation.state.achieved_at == at("2025-04-01")


def test_ended_at_ends_an_assignment_before_its_until() -> None:
    assignment = assign(SILVER_ID, LOCK, "2025-03-01", "2025-12-01", ended="2025-05-01")
    entries = [purchase("2025-04-01", 3000)]
    evaluation = run(GROUP, ENROLLED, entries, "2025-07-01", [assignment])
    assert evaluation.state.tier_id == GOLD_ID
    assert evaluation.state.achieved_at == at("2025-05-01")


# ------------------------------------------------------------------------------- floor


def test_a_floor_assignment_holds_the_member_at_its_tier() -> None:
    evaluation = run(GROUP, ENROLLED, [], "2027-06-01", [assign(GOLD_ID, FLOOR, "2025-03-01")])
    assert evaluation.state.tier_id == GOLD_ID
    assert reasons(evaluation.history) == [
        Reason.ENROLLED,
        Reason.ASSIGNED,
        Reason.MAINTAINED,
        Reason.MAINTAINED,
    ]


def test_a_floor_assignment_holds_without_a_grace_period() -> None:
    rules = omneo_group(downgrade=Downgrade(grace_days=30))
    evaluation = run(rules, ENROLLED, [], "2026-03-02", [assign(GOLD_ID, FLOOR, "2025-03-01")])
    assert evaluation.state.grace_until is None
    assert Reason.GRACE_STARTED not in reasons(evaluation.history)


def test_a_floor_assignment_stops_inactivity() -> None:
    gold = with_tier(GOLD, max_inactive_days=30)
    rules = omneo_group(tiers=(BRONZE, SILVER, gold))
    state = run(rules, ENROLLED, [], "2025-06-01", [assign(GOLD_ID, FLOOR, "2025-03-01")]).state
    assert state.tier_id == GOLD_ID


def test_after_a_floor_until_passes_the_next_check_may_downgrade() -> None:
    assignment = assign(GOLD_ID, FLOOR, "2025-03-01", "2026-06-01")
    held = run(GROUP, ENROLLED, [], "2026-06-01", [assignment])
    assert held.state.tier_id == GOLD_ID  # the 2026-03-01 check was held by the floor
    assert held.state.anniversary_at == at("2027-03-01 23:59:59")
    evaluation = run(GROUP, ENROLLED, [], "2027-03-02", [assignment])
    assert evaluation.state.tier_id == BRONZE_ID
    assert evaluation.history[-1].at == at("2027-03-01 23:59:59")


# -------------------------------------------------------------------------------- lock


def test_a_lock_changes_nothing_until_it_ends() -> None:
    lock = assign(SILVER_ID, LOCK, "2025-03-01", "2027-06-01")
    entries = [purchase("2025-04-01", 3000), purchase("2026-09-01", 2000)]
    during = run(GROUP, ENROLLED, entries, "2027-05-31", [lock])
    assert during.state.tier_id == SILVER_ID
    assert reasons(during.history) == [Reason.ENROLLED, Reason.ASSIGNED]
    # The anniversaries of 2026-03-01 and 2027-03-01 fell inside the lock; nothing is due but
    # the lock's end.
    assert during.state.next_due_at == at("2027-06-01")
    assert during.state.figures.window_value == 2000  # entries still count


def test_due_work_that_fell_inside_a_lock_happens_when_it_ends() -> None:
    lock = assign(SILVER_ID, LOCK, "2025-03-01", "2027-06-01")
    evaluation = run(GROUP, ENROLLED, [], "2027-06-02", [lock])
    assert evaluation.state.tier_id == BRONZE_ID
    assert [(h.reason, h.at) for h in evaluation.history[-2:]] == [
        (Reason.ASSIGNMENT_EXPIRED, at("2027-06-01")),
        (Reason.DOWNGRADED, at("2027-06-01")),
    ]


def test_a_lock_without_until_freezes_the_tier() -> None:
    silver = with_tier(SILVER, max_inactive_days=10)
    rules = omneo_group(tiers=(BRONZE, silver, GOLD))
    lock = assign(SILVER_ID, LOCK, "2025-03-01")
    state = run(rules, ENROLLED, [purchase("2025-04-01", 5000)], "2030-01-01", [lock]).state
    assert state.tier_id == SILVER_ID
    assert state.next_due_at is None


# -------------------------------------------------------------------- dates and overlaps


def test_an_assignment_effective_in_the_past_is_replayed_from_its_date() -> None:
    # Recorded in April, effective from 1 February: entries after it build on it.
    assignment = Assignment(
        id="a1",
        tier_id=SILVER_ID,
        mode=OVERRIDE,
        effective_at=at("2025-02-01"),
        assigned_at=at("2025-04-01"),
    )
    entries = [purchase("2025-03-01", 2500)]
    evaluation = run(GROUP, ENROLLED, entries, "2025-04-01", [assignment])
    assert [(h.reason, h.at) for h in evaluation.history] == [
        (Reason.ENROLLED, at(ENROLLED)),
        (Reason.ASSIGNED, at("2025-02-01")),
        (Reason.QUALIFIED, at("2025-03-01")),
    ]


def test_an_assignment_over_before_enrolment_never_takes_effect() -> None:
    assignment = assign(GOLD_ID, OVERRIDE, "2024-01-01", "2024-06-01")
    evaluation = run(GROUP, ENROLLED, [], "2025-02-01", [assignment])
    assert evaluation.state.tier_id == BRONZE_ID
    assert reasons(evaluation.history) == [Reason.ENROLLED]


def test_an_assignment_effective_before_enrolment_starts_at_enrolment() -> None:
    assignment = assign(GOLD_ID, OVERRIDE, "2024-01-01")
    state = run(GROUP, ENROLLED, [], "2025-02-01", [assignment]).state
    assert (state.tier_id, state.achieved_at) == (GOLD_ID, at(ENROLLED))


def test_an_assignment_comes_before_entries_at_the_same_instant() -> None:
    entries = [purchase(ENROLLED, 3000)]
    evaluation = run(
        GROUP, ENROLLED, entries, "2025-02-01", [assign(SILVER_ID, OVERRIDE, ENROLLED)]
    )
    assert evaluation.state.tier_id == GOLD_ID
    assert reasons(evaluation.history) == [Reason.ENROLLED, Reason.ASSIGNED, Reason.QUALIFIED]


def test_an_assignment_end_comes_before_a_new_one_at_the_same_instant() -> None:
    first = assign(GOLD_ID, LOCK, "2025-02-01", "2025-03-01", id="a1")
    second = assign(SILVER_ID, OVERRIDE, "2025-03-01", id="a2")
    evaluation = run(GROUP, ENROLLED, [], "2025-04-01", [second, first])
    assert evaluation.state.tier_id == SILVER_ID
    assert [(h.reason, h.to_tier_id) for h in evaluation.history] == [
        (Reason.ENROLLED, BRONZE_ID),
        (Reason.ASSIGNED, GOLD_ID),
        (Reason.ASSIGNMENT_EXPIRED, GOLD_ID),
        (Reason.ASSIGNED, SILVER_ID),
    ]


def test_a_new_assignment_replaces_a_running_one() -> None:
    first = assign(GOLD_ID, LOCK, "2025-02-01", "2025-12-01", id="a1")
    second = assign(SILVER_ID, OVERRIDE, "2025-03-01", id="a2")
    state = run(GROUP, ENROLLED, [purchase("2025-04-01", 3000)], "2025-06-01", [first, second])
    # The lock is gone with its until: the entry promotes the member.
    assert state.state.tier_id == GOLD_ID
    assert state.state.assignment is not None
    assert state.state.assignment.id == "a2"


def test_an_assignment_to_a_removed_tier_is_ignored() -> None:
    state = run(GROUP, ENROLLED, [], "2025-06-01", [assign(99, OVERRIDE, "2025-03-01")]).state
    assert (state.tier_id, state.assignment) == (BRONZE_ID, None)


def test_total_points_achievement_counts_again_after_a_qualification() -> None:
    entries = [
        purchase("2025-02-01", 1200),
        purchase("2025-03-10", 2000),
        purchase("2025-03-20", 70),
    ]
    assignment = assign(SILVER_ID, OVERRIDE, "2025-03-01")
    assigned = run(GROUP, ENROLLED, entries, "2025-03-05", [assignment]).state
    assert assigned.figures.total_points_achievement is None
    state = run(GROUP, ENROLLED, entries, "2025-04-01", [assignment]).state
    assert (state.last_reason, state.achieved_at) == (Reason.QUALIFIED, at("2025-03-10"))
    assert state.figures.total_points_achievement == Decimal(70)
