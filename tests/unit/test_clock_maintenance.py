"""SPEC §2 "Maintenance" and the downgrade policies: when and how a tier is kept or lost."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.unit.factories import (
    BRONZE,
    GOLD,
    SILVER,
    at,
    omneo_group,
    purchase,
    run,
    tier,
    with_tier,
)
from tierbook.domain.ledger import Entry
from tierbook.domain.rules import (
    Downgrade,
    DowngradePolicy,
    GroupRules,
    Maintenance,
    MaintenanceKind,
    Metric,
    Period,
    Requirement,
    Window,
    WindowKind,
)
from tierbook.domain.state import Evaluation, Reason

ENROLLED = "2025-01-01 00:00"
GOLD_AT = "2025-02-01 10:00"
ANNIVERSARY = "2026-02-01 23:59:59"
BRONZE_ID, SILVER_ID, GOLD_ID = 1, 2, 3
TO_QUALIFYING, ONE_DOWN, TO_FLOOR = (
    DowngradePolicy.TO_QUALIFYING,
    DowngradePolicy.ONE_DOWN,
    DowngradePolicy.TO_FLOOR,
)


def gold_year(*progress: tuple[str, int]) -> list[Entry]:
    """Gold on 1 Feb 2025 with credit 500, then `progress` in the tier year."""
    return [purchase(GOLD_AT, 3000), *(purchase(when, pts) for when, pts in progress)]


def evaluate_at(rules: GroupRules, entries: list[Entry], as_of: str = ANNIVERSARY) -> Evaluation:
    return run(rules, ENROLLED, entries, as_of)


# ----------------------------------------------------------------------- anniversary

ANNIVERSARY_CASES = [
    # (policy, tier-year progress, expected tier, expected reason)
    pytest.param(TO_QUALIFYING, 1500, GOLD_ID, Reason.MAINTAINED, id="credit+progress-reaches"),
    pytest.param(TO_QUALIFYING, 1499, SILVER_ID, Reason.DOWNGRADED, id="to-qualifying-silver"),
    pytest.param(TO_QUALIFYING, 0, BRONZE_ID, Reason.DOWNGRADED, id="to-qualifying-bronze"),
    pytest.param(ONE_DOWN, 0, SILVER_ID, Reason.DOWNGRADED, id="one-down-one-rank-only"),
    pytest.param(TO_FLOOR, 1499, BRONZE_ID, Reason.DOWNGRADED, id="to-floor"),
    pytest.param(TO_FLOOR, 1500, GOLD_ID, Reason.MAINTAINED, id="to-floor-maintained"),
]


@pytest.mark.parametrize(("policy", "progress", "expected", "reason"), ANNIVERSARY_CASES)
def test_anniversary_maintains_or_downgrades_by_policy(
    policy: DowngradePolicy, progress: int, expected: int, reason: Reason
) -> None:
    rules = omneo_group(downgrade=Downgrade(policy=policy))
    entries = gold_year(("2025-06-01", progress)) if progress else gold_year()
    before = evaluate_at(rules, entries, "2026-02-01 23:59:58")
    after = evaluate_at(rules, entries)
    assert before.state.tier_id == GOLD_ID
    assert after.state.tier_id == expected
    last = after.history[-1]
    assert (last.reason, last.at, last.from_tier_id, last.to_tier_id) == (
        reason,
        at(ANNIVERSARY),
        GOLD_ID,
        expected,
    )


def test_maintenance_starts_a_new_tier_year_one_term_on() -> None:
    state = evaluate_at(omneo_group(), gold_year(("2025-06-01", 1500))).state
    assert state.maintained_at == at(ANNIVERSARY)
    assert state.tier_year_start == at(ANNIVERSARY)
    assert state.achieved_at == at(GOLD_AT)
    assert state.anniversary_at == at("2027-02-01 23:59:59")
    assert state.credit == 0
    assert state.figures.progress == 0
    assert state.figures.remain_to_keep == 2000


@pytest.mark.parametrize(
    ("carry_excess", "expected_credit"),
    [pytest.param(False, Decimal(0), id="no-carry"), pytest.param(True, Decimal(300), id="carry")],
)
def test_carry_excess_keeps_what_exceeds_value_maintain(
    carry_excess: bool, expected_credit: Decimal
) -> None:
    rules = omneo_group(carry_excess=carry_excess)
    state = evaluate_at(rules, gold_year(("2025-06-01", 1800))).state
    assert (state.tier_id, state.credit) == (GOLD_ID, expected_credit)


def test_a_downgrade_starts_over_in_the_new_tier() -> None:
    state = evaluate_at(omneo_group(), gold_year(("2025-06-01", 1200))).state
    assert (state.tier_id, state.prev_tier_id) == (SILVER_ID, GOLD_ID)
    assert state.achieved_at == at(ANNIVERSARY)
    assert state.tier_year_start == at(ANNIVERSARY)
    assert state.credit == 0
    assert state.maintained_at is None
    assert state.anniversary_at == at("2027-02-01 23:59:59")


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        pytest.param(ANNIVERSARY, GOLD_ID, id="entry-at-the-anniversary-counts"),
        pytest.param("2026-02-02 00:00", SILVER_ID, id="entry-one-second-later-is-too-late"),
    ],
)
def test_an_entry_exactly_at_the_anniversary_counts_for_it(when: str, expected: int) -> None:
    entries = gold_year(("2025-06-01", 1499), (when, 1))
    assert evaluate_at(omneo_group(), entries, "2026-02-02 00:00").state.tier_id == expected


def test_to_qualifying_keeps_the_tier_the_window_still_reaches_as_maintained() -> None:
    rules = omneo_group(window=Window(kind=WindowKind.LIFETIME))
    evaluation = evaluate_at(rules, gold_year())
    assert evaluation.state.tier_id == GOLD_ID
    last = evaluation.history[-1]
    assert last.reason is Reason.MAINTAINED
    assert evaluation.state.anniversary_at == at("2027-02-01 23:59:59")


def test_to_qualifying_never_goes_above_the_current_tier() -> None:
    # Gold is out of reach by its `also`; the lifetime window would reach it.
    gold = with_tier(GOLD, also=(Requirement(metric=Metric.SPONSOR_POINTS, min=Decimal(1)),))
    rules = omneo_group(
        tiers=(BRONZE, SILVER, gold), credit=False, window=Window(kind=WindowKind.LIFETIME)
    )
    entries = [purchase("2025-02-01 10:00", 3000)]
    evaluation = run(rules, ENROLLED, entries, "2026-02-02")
    assert evaluation.state.tier_id == SILVER_ID
    assert [h.reason for h in evaluation.history][-1] is Reason.MAINTAINED


def test_maintenance_none_never_takes_a_tier_away() -> None:
    rules = omneo_group(maintenance=Maintenance(kind=MaintenanceKind.NONE))
    state = run(rules, ENROLLED, gold_year(), "2030-01-01").state
    assert state.tier_id == GOLD_ID
    assert state.anniversary_at is None
    assert state.next_due_at is None
    assert state.figures.remain_to_keep == 0


# ------------------------------------------------------------------------------- floor

BASIC = tier(0, "basic", 0, 0)
FLOOR_SILVER = with_tier(SILVER, is_floor=True)


@pytest.mark.parametrize("policy", [TO_QUALIFYING, ONE_DOWN, TO_FLOOR])
def test_a_member_never_goes_below_the_floor_tier(policy: DowngradePolicy) -> None:
    rules = omneo_group(tiers=(BASIC, FLOOR_SILVER, GOLD), downgrade=Downgrade(policy=policy))
    first = run(rules, ENROLLED, gold_year(), ANNIVERSARY).state
    assert first.tier_id == SILVER_ID
    # Silver's own check fails too (no progress), but the floor holds it: maintained.
    second = run(rules, ENROLLED, gold_year(), "2027-02-02")
    assert second.state.tier_id == SILVER_ID
    assert second.history[-1].reason is Reason.MAINTAINED


def test_to_floor_without_a_floor_tier_leaves_no_tier() -> None:
    rules = omneo_group(
        tiers=(with_tier(BRONZE, is_floor=False), SILVER, GOLD),
        downgrade=Downgrade(policy=TO_FLOOR),
    )
    state = evaluate_at(rules, gold_year()).state
    assert state.tier_id is None
    assert state.anniversary_at is None


def test_the_floor_tier_never_enters_grace() -> None:
    rules = omneo_group(tiers=(BASIC, FLOOR_SILVER, GOLD), downgrade=Downgrade(grace_days=30))
    evaluation = run(rules, ENROLLED, [], "2026-01-02")
    assert evaluation.state.grace_until is None
    assert [h.reason for h in evaluation.history] == [Reason.ENROLLED, Reason.MAINTAINED]


# ------------------------------------------------------------------------------- grace

GRACE_UNTIL = "2026-03-03 23:59:59"


def grace_group(**kw: Any) -> GroupRules:
    return omneo_group(downgrade=Downgrade(grace_days=30, **kw))


def test_failing_maintenance_starts_a_grace_period() -> None:
    evaluation = evaluate_at(grace_group(), gold_year(("2025-06-01", 1000)))
    state = evaluation.state
    assert state.tier_id == GOLD_ID
    assert state.grace_until == at(GRACE_UNTIL)
    assert state.anniversary_at == at(ANNIVERSARY)
    assert state.next_due_at == at(GRACE_UNTIL)
    last = evaluation.history[-1]
    assert (last.reason, last.from_tier_id, last.to_tier_id) == (
        Reason.GRACE_STARTED,
        GOLD_ID,
        GOLD_ID,
    )
    assert last.figures["grace_until"] == at(GRACE_UNTIL).isoformat()


@pytest.mark.parametrize(
    "when",
    [
        pytest.param("2026-02-15 12:00", id="inside-grace"),
        pytest.param(GRACE_UNTIL, id="exactly-at-grace-end"),
    ],
)
def test_an_entry_during_grace_maintains_the_tier_at_its_instant(when: str) -> None:
    entries = gold_year(("2025-06-01", 1000), (when, 500))
    evaluation = run(grace_group(), ENROLLED, entries, "2026-06-01")
    state = evaluation.state
    assert state.tier_id == GOLD_ID
    assert state.grace_until is None
    assert state.maintained_at == at(when)
    assert state.tier_year_start == at(when)
    assert state.figures.progress == 0  # the maintaining entry is not counted twice
    # One term on from the original anniversary, not from the entry.
    assert state.anniversary_at == at("2027-02-01 23:59:59")
    assert [h.reason for h in evaluation.history][-2:] == [
        Reason.GRACE_STARTED,
        Reason.MAINTAINED,
    ]


def test_an_entry_one_second_after_grace_is_too_late() -> None:
    entries = gold_year(("2025-06-01", 1000), ("2026-03-04 00:00", 500))
    evaluation = run(grace_group(), ENROLLED, entries, "2026-06-01")
    assert evaluation.state.tier_id == SILVER_ID
    downgrade = next(h for h in evaluation.history if h.reason is Reason.DOWNGRADED)
    assert downgrade.at == at(GRACE_UNTIL)


def test_an_entry_during_grace_that_falls_short_keeps_the_grace() -> None:
    entries = gold_year(("2025-06-01", 1000), ("2026-02-15", 499))
    state = run(grace_group(), ENROLLED, entries, "2026-03-03 23:59:58").state
    assert (state.tier_id, state.grace_until) == (GOLD_ID, at(GRACE_UNTIL))


def test_downgrade_waits_for_grace_period_end_and_uses_the_window_value_then() -> None:
    # At the anniversary the window holds 1000 (Silver); by the grace end the 20 Feb 2025
    # purchase has left the rolling window, so the member falls to Bronze.
    entries = gold_year(("2025-02-20 10:00", 1000))
    evaluation = run(grace_group(), ENROLLED, entries, "2026-03-04")
    assert run(grace_group(), ENROLLED, entries, "2026-03-03 23:59:58").state.tier_id == GOLD_ID
    assert evaluation.state.tier_id == BRONZE_ID
    last = evaluation.history[-1]
    assert (last.reason, last.at) == (Reason.DOWNGRADED, at(GRACE_UNTIL))
    assert last.figures["window_value"] == "0"
    assert evaluation.state.achieved_at == at(GRACE_UNTIL)


@pytest.mark.parametrize(
    ("policy", "expected"), [(ONE_DOWN, SILVER_ID), (TO_FLOOR, BRONZE_ID)], ids=["one", "floor"]
)
def test_grace_end_applies_the_downgrade_policy(policy: DowngradePolicy, expected: int) -> None:
    evaluation = run(grace_group(policy=policy), ENROLLED, gold_year(), "2026-03-04")
    assert evaluation.state.tier_id == expected


def test_a_grace_longer_than_a_term_never_schedules_a_check_in_the_past() -> None:
    silver = with_tier(SILVER, value_maintain=Decimal(100))
    rules = omneo_group(
        tiers=(BRONZE, silver, GOLD),
        maintenance=Maintenance(term_months=1),
        downgrade=Downgrade(grace_days=45),
    )
    # Silver on 31 Jan; the 28 Feb check fails; grace to 14 Apr; restored on 10 Apr.
    entries = [purchase("2025-01-31 10:00", 1000), purchase("2025-04-10 12:00", 100)]
    evaluation = run(rules, ENROLLED, entries, "2025-04-20")
    state = evaluation.state
    assert state.tier_id == SILVER_ID
    assert state.grace_until is None
    assert state.maintained_at == at("2025-04-10 12:00")
    assert state.anniversary_at == at("2025-04-30 23:59:59")
    assert [h.reason for h in evaluation.history][-2:] == [
        Reason.GRACE_STARTED,
        Reason.MAINTAINED,
    ]


# -------------------------------------------------------------------------- period_end

PERIOD_END = omneo_group(
    maintenance=Maintenance(kind=MaintenanceKind.PERIOD_END),
    window=Window(kind=WindowKind.CALENDAR, period=Period.YEAR),
)
YEAR_END_2025 = "2025-12-31 23:59:59"
YEAR_END_2026 = "2026-12-31 23:59:59"


def test_period_end_the_period_a_tier_is_reached_in_is_free() -> None:
    entries = [purchase("2025-03-01", 3000), purchase("2025-06-01", 100)]
    state = run(PERIOD_END, ENROLLED, entries, "2026-01-01").state
    assert state.tier_id == GOLD_ID
    assert state.anniversary_at == at(YEAR_END_2026)
    assert state.tier_year_start == at(YEAR_END_2025)
    assert state.figures.progress == 0  # 2025's June purchase is not tier-year progress


PERIOD_END_CASES = [
    pytest.param([("2026-05-01", 1500)], GOLD_ID, Reason.MAINTAINED, id="credit+2026-value"),
    pytest.param([("2026-05-01", 1499)], SILVER_ID, Reason.DOWNGRADED, id="short-to-silver"),
    pytest.param(
        [("2026-05-01", 1499), (YEAR_END_2026, 1)],
        GOLD_ID,
        Reason.MAINTAINED,
        id="entry-at-the-last-second-counts",
    ),
    pytest.param(
        [("2026-05-01", 1499), ("2027-01-01 00:00", 1)],
        SILVER_ID,
        Reason.DOWNGRADED,
        id="entry-in-the-next-period-does-not",
    ),
]


@pytest.mark.parametrize(("progress", "expected", "reason"), PERIOD_END_CASES)
def test_period_end_checks_the_value_of_the_period_that_ends(
    progress: list[tuple[str, int]], expected: int, reason: Reason
) -> None:
    entries = [purchase("2025-03-01", 3000), *(purchase(w, p) for w, p in progress)]
    evaluation = run(PERIOD_END, ENROLLED, entries, "2027-01-01 00:00")
    assert evaluation.state.tier_id == expected
    check = next(h for h in evaluation.history if h.at == at(YEAR_END_2026))
    assert check.reason is reason


def test_period_end_maintenance_moves_on_to_the_next_period_end() -> None:
    entries = [purchase("2025-03-01", 3000), purchase("2026-05-01", 2000)]
    state = run(PERIOD_END, ENROLLED, entries, "2027-01-01").state
    assert state.maintained_at == at(YEAR_END_2026)
    assert state.anniversary_at == at("2027-12-31 23:59:59")


def test_quarterly_period_end_checks_the_quarter_after_the_free_one() -> None:
    rules = omneo_group(
        maintenance=Maintenance(kind=MaintenanceKind.PERIOD_END),
        window=Window(kind=WindowKind.CALENDAR, period=Period.QUARTER),
    )
    state = run(rules, ENROLLED, [purchase("2025-02-10", 3000)], "2025-03-01").state
    assert state.anniversary_at == at("2025-06-30 23:59:59")
    downgraded = run(rules, ENROLLED, [purchase("2025-02-10", 3000)], "2025-07-01").state
    assert (downgraded.tier_id, downgraded.achieved_at) == (BRONZE_ID, at("2025-06-30 23:59:59"))
