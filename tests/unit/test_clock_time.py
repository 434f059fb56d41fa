"""Enrolment, local calendars, what a state says about its own future, and the explain trace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.unit.factories import (
    BRONZE,
    GOLD,
    SILVER,
    at,
    omneo_group,
    purchase,
    refund,
    run,
    with_tier,
)
from tierbook.domain.clock import evaluate
from tierbook.domain.ledger import Entry
from tierbook.domain.rules import GroupRules, Maintenance, Period, Window, WindowKind
from tierbook.domain.state import Assignment, AssignmentMode, Reason

BRONZE_ID, SILVER_ID, GOLD_ID = 1, 2, 3
MELBOURNE = ZoneInfo("Australia/Melbourne")
NO_FLOOR = omneo_group(
    tiers=(with_tier(BRONZE, is_floor=False, value_min=Decimal(100)), SILVER, GOLD)
)


def local(text: str, tz: ZoneInfo = MELBOURNE) -> datetime:
    """A wall-clock time in `tz`, as the UTC instant it is."""
    return at(text).replace(tzinfo=tz).astimezone(UTC)


# ----------------------------------------------------------------------------- enrolment


def test_enrolment_starts_on_the_floor_tier() -> None:
    evaluation = run(omneo_group(), "2025-01-10 10:00", [], "2025-01-10 10:00")
    state = evaluation.state
    assert (state.tier_id, state.prev_tier_id, state.last_reason) == (
        BRONZE_ID,
        None,
        Reason.ENROLLED,
    )
    assert state.achieved_at == state.enrolled_at == at("2025-01-10 10:00")
    assert state.figures.total_points_achievement is None
    assert [(h.reason, h.from_tier_id, h.to_tier_id) for h in evaluation.history] == [
        (Reason.ENROLLED, None, BRONZE_ID)
    ]


def test_without_a_floor_tier_a_member_starts_with_no_tier() -> None:
    state = run(NO_FLOOR, "2025-01-10 10:00", [], "2025-02-01").state
    assert state.tier_id is None
    assert state.anniversary_at is None
    assert state.next_due_at is None
    assert state.figures.next_tier_id == BRONZE_ID
    assert state.figures.remain_to_next == 100
    assert state.figures.remain_to_keep == 0


@pytest.mark.parametrize(
    ("points", "expected"), [(99, None), (100, BRONZE_ID), (1000, SILVER_ID)], ids=str
)
def test_without_a_floor_the_first_tier_is_earned(points: int, expected: int | None) -> None:
    evaluation = run(NO_FLOOR, "2025-01-10 10:00", [purchase("2025-02-01", points)], "2025-03-01")
    assert evaluation.state.tier_id == expected
    if expected is not None:
        assert evaluation.state.prev_tier_id is None
        assert evaluation.history[-1].from_tier_id is None


def test_entries_before_enrolment_count_from_enrolment() -> None:
    enrolled = "2025-01-10 10:00"
    entries = [purchase("2023-06-01", 1500)]
    state = run(omneo_group(), enrolled, entries, "2025-02-01").state
    assert (state.tier_id, state.achieved_at, state.credit) == (
        SILVER_ID,
        at(enrolled),
        Decimal(500),
    )
    # ... and leave a rolling window 365 days after enrolment.
    assert state.figures.next_progress_change_at == at(enrolled) + timedelta(days=365)
    assert state.last_activity_at == at(enrolled)


def test_an_as_of_before_enrolment_reads_the_state_at_enrolment() -> None:
    state = run(omneo_group(), "2025-01-10 10:00", [], "2024-01-01").state
    assert (state.as_of, state.tier_id) == (at("2025-01-10 10:00"), BRONZE_ID)


# -------------------------------------------------------------------------- local time

ANNIVERSARY_CASES = [
    # (achieved in UTC, term months, expected anniversary as a Melbourne wall-clock time)
    pytest.param("2025-01-10 10:00", 12, "2026-01-10 23:59:59", id="same-local-day"),
    pytest.param("2025-01-10 14:00", 12, "2026-01-11 23:59:59", id="already-next-local-day"),
    pytest.param("2025-03-01 10:00", 3, "2025-06-01 23:59:59", id="summer-to-winter-time"),
    pytest.param("2025-07-15 10:00", 3, "2025-10-15 23:59:59", id="winter-to-summer-time"),
]


@pytest.mark.parametrize(("achieved", "term", "expected_local"), ANNIVERSARY_CASES)
def test_the_anniversary_is_end_of_day_in_the_program_timezone(
    achieved: str, term: int, expected_local: str
) -> None:
    rules = omneo_group(timezone="Australia/Melbourne", maintenance=Maintenance(term_months=term))
    state = run(rules, achieved, [], achieved).state
    assert state.anniversary_at == local(expected_local)


def test_an_anniversary_on_a_dst_change_day_is_still_local_end_of_day() -> None:
    # Melbourne leaves summer time at 03:00 on Sunday 6 April 2025.
    rules = omneo_group(timezone="Australia/Melbourne", maintenance=Maintenance(term_months=1))
    achieved = local("2025-03-06 12:00")
    state = evaluate(rules, subject_id="m1", enrolled_at=achieved, entries=(), as_of=achieved).state
    assert state.anniversary_at == datetime(2025, 4, 6, 13, 59, 59, tzinfo=UTC)


def test_a_tier_reached_just_after_local_midnight_counts_that_local_day() -> None:
    rules = omneo_group(timezone="Australia/Melbourne")
    entries = [purchase("2025-05-01 14:30", 1200)]  # 00:30 on 2 May in Melbourne
    state = run(rules, "2025-01-01", entries, "2025-06-01").state
    assert state.anniversary_at == local("2026-05-02 23:59:59")


# ------------------------------------------------------------------------ month clamping


def maintained_every_term(term: int) -> GroupRules:
    silver = with_tier(SILVER, value_maintain=Decimal(0))
    return omneo_group(tiers=(BRONZE, silver, GOLD), maintenance=Maintenance(term_months=term))


CLAMP_CASES = [
    pytest.param(
        "2024-02-29 10:00",
        12,
        ["2025-02-28", "2026-02-28", "2027-02-28", "2028-02-29"],
        id="29-feb-plus-12-months",
    ),
    pytest.param(
        "2025-01-31 10:00",
        1,
        ["2025-02-28", "2025-03-31", "2025-04-30", "2025-05-31"],
        id="31-jan-monthly-does-not-drift",
    ),
    pytest.param(
        "2025-08-31 10:00", 6, ["2026-02-28", "2026-08-31", "2027-02-28"], id="31-aug-half-years"
    ),
]


@pytest.mark.parametrize(("achieved", "term", "anniversaries"), CLAMP_CASES)
def test_anniversaries_clamp_to_short_months_without_drifting(
    achieved: str, term: int, anniversaries: list[str]
) -> None:
    rules = maintained_every_term(term)
    entries = [purchase(achieved, 1000)]
    seen = []
    for day in anniversaries:
        seen.append(run(rules, "2024-01-01", entries, day).state.anniversary_at)
    assert seen == [at(f"{day} 23:59:59") for day in anniversaries]
    maintained = run(rules, "2024-01-01", entries, anniversaries[-1] + " 23:59:59")
    silver_checks = [
        h.at
        for h in maintained.history
        if (h.reason, h.to_tier_id) == (Reason.MAINTAINED, SILVER_ID)
    ]
    assert silver_checks == [at(f"{day} 23:59:59") for day in anniversaries]


# --------------------------------------------------------------- due, stable and progress

WORKED = [
    purchase("2025-03-01 10:00", 600),
    purchase("2025-05-01 10:00", 600),
    purchase("2025-09-01 10:00", 500),
]


def test_next_due_is_the_nearest_of_the_due_instants() -> None:
    silver = with_tier(SILVER, max_inactive_days=200)
    gold = with_tier(GOLD, required_num_days_in_tier=100)
    rules = omneo_group(tiers=(BRONZE, silver, gold))
    entries = [purchase("2025-02-01", 3000)]
    lock_end = Assignment(
        id="a1",
        tier_id=SILVER_ID,
        mode=AssignmentMode.OVERRIDE,
        effective_at=at("2025-02-01"),
        until=at("2025-03-01"),
    )
    plain = run(rules, "2025-01-10", entries, "2025-02-02").state
    assert plain.pending_promotion_at == at("2025-05-12")
    assert plain.next_due_at == at("2025-05-12")
    assigned = run(rules, "2025-01-10", entries, "2025-02-02", [lock_end]).state
    assert assigned.next_due_at == at("2025-03-01")
    inactive = with_tier(silver, max_inactive_days=20)
    soon = run(omneo_group(tiers=(BRONZE, inactive, gold)), "2025-01-10", entries, "2025-02-02")
    assert soon.state.next_due_at == at("2025-02-21")


@pytest.mark.parametrize(
    ("as_of", "stable_until", "next_change"),
    [
        pytest.param("2025-03-01 10:00", "2025-05-01 10:00", "2026-03-01 10:00", id="next-entry"),
        pytest.param("2025-09-01 10:00", "2026-03-01 10:00", "2026-03-01 10:00", id="leaves"),
        pytest.param("2026-03-01 10:00", "2026-05-01 10:00", "2026-05-01 10:00", id="after"),
    ],
)
def test_stable_until_and_next_progress_change_in_a_rolling_window(
    as_of: str, stable_until: str, next_change: str
) -> None:
    state = run(omneo_group(), "2025-01-10 10:00", WORKED, as_of).state
    assert state.stable_until == at(stable_until)
    assert state.figures.next_progress_change_at == at(next_change)


def test_a_refund_leaving_the_window_is_not_a_progress_drop() -> None:
    entries = [
        purchase("2025-02-01", 600, id="p"),
        refund("2025-02-10", 100, "p"),
        purchase("2025-03-01", 50),
    ]
    state = run(omneo_group(), "2025-01-10", entries, "2026-02-05").state
    assert state.figures.next_progress_change_at == at("2026-03-01")
    assert state.stable_until == at("2026-02-10")  # the refund leaving raises the value


@pytest.mark.parametrize(
    ("window", "entries", "expected"),
    [
        pytest.param(
            Window(kind=WindowKind.CALENDAR, period=Period.QUARTER),
            [purchase("2025-04-02", 10)],
            "2025-06-30 23:59:59",
            id="calendar-period-end",
        ),
        pytest.param(
            Window(kind=WindowKind.CALENDAR, period=Period.QUARTER),
            [purchase("2025-03-02", 10)],
            None,
            id="calendar-nothing-to-lose",
        ),
        pytest.param(
            Window(kind=WindowKind.LIFETIME), [purchase("2025-02-01", 10)], None, id="life"
        ),
    ],
)
def test_next_progress_change_in_other_windows(
    window: Window, entries: list[Entry], expected: str | None
) -> None:
    state = run(omneo_group(window=window), "2025-01-10", entries, "2025-05-01").state
    assert state.figures.next_progress_change_at == (None if expected is None else at(expected))


def test_a_stored_state_answers_reads_until_stable_until() -> None:
    rules = omneo_group()
    stored = run(rules, "2025-01-10 10:00", WORKED, "2025-09-01 10:00").state
    assert stored.stable_until is not None
    for when in (stored.as_of + timedelta(days=30), stored.stable_until - timedelta(seconds=1)):
        read = evaluate(
            rules, subject_id="m1", enrolled_at=at("2025-01-10 10:00"), entries=WORKED, as_of=when
        ).state
        assert read.tier_id == stored.tier_id
        assert read.figures.window_value == stored.figures.window_value
        assert read.figures.progress == stored.figures.progress
    moved = run(rules, "2025-01-10 10:00", WORKED, "2026-03-01 10:00").state
    assert moved.figures.window_value != stored.figures.window_value


# ------------------------------------------------------------------------------ explain


def test_explain_traces_every_decision_in_order_with_values_and_thresholds() -> None:
    evaluation = run(omneo_group(), "2025-01-10 10:00", WORKED, "2026-06-01", explain=True)
    steps = [(d.at, d.rule, d.outcome) for d in evaluation.trace]
    assert steps == [
        (at("2025-01-10 10:00"), "enrolment", "enrolled"),
        (at("2025-03-01 10:00"), "entries", "counted"),
        (at("2025-05-01 10:00"), "entries", "counted"),
        (at("2025-05-01 10:00"), "upgrade", "qualified"),
        (at("2025-09-01 10:00"), "entries", "counted"),
        (at("2026-05-01 23:59:59"), "maintenance", "failed"),
        (at("2026-05-01 23:59:59"), "downgrade", "downgraded"),
    ]
    first_entry = evaluation.trace[1].values
    assert (
        first_entry["window_value"],
        first_entry["next_tier"],
        first_entry["next_value_min"],
    ) == (
        "600",
        "silver",
        "1000",
    )
    upgrade = evaluation.trace[3].values
    assert (upgrade["window_value"], upgrade["value_min"], upgrade["credit"]) == (
        "1200",
        "1000",
        "200",
    )
    failed = evaluation.trace[5].values
    assert (failed["credit"], failed["progress"], failed["value_maintain"]) == (
        "200",
        "500",
        "1000",
    )
    assert evaluation.trace[6].values["window_value"] == "500"
    assert "silver value_min 1000" in evaluation.trace[3].message


def test_explain_changes_nothing_but_the_trace() -> None:
    plain = run(omneo_group(), "2025-01-10 10:00", WORKED, "2026-06-01")
    explained = run(omneo_group(), "2025-01-10 10:00", WORKED, "2026-06-01", explain=True)
    assert plain.trace == ()
    assert (plain.state, plain.history) == (explained.state, explained.history)


def test_explain_notes_a_pending_promotion() -> None:
    rules = omneo_group(tiers=(BRONZE, SILVER, with_tier(GOLD, required_num_days_in_tier=30)))
    evaluation = run(
        rules, "2025-01-10", [purchase("2025-01-20", 3000)], "2025-01-21", explain=True
    )
    pending = [d for d in evaluation.trace if d.outcome == "pending"]
    assert len(pending) == 1
    assert pending[0].values["pending_at"] == at("2025-02-19").isoformat()
