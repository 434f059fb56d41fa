"""SPEC §2 "Upgrade": at once, to the highest tier qualified for, with its extra requirements."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.unit.factories import BRONZE, GOLD, SILVER, at, omneo_group, purchase, run, with_tier
from tierbook.domain.ledger import Entry, EntryKind
from tierbook.domain.rules import (
    AchievementRequirement,
    GroupRules,
    Metric,
    Requirement,
    Window,
    WindowKind,
)
from tierbook.domain.state import Reason

ENROLLED = "2025-01-01 00:00"
BRONZE_ID, SILVER_ID, GOLD_ID = 1, 2, 3


def group(
    *, silver: dict[str, Any] | None = None, gold: dict[str, Any] | None = None, **kw: Any
) -> GroupRules:
    tiers = (BRONZE, with_tier(SILVER, **(silver or {})), with_tier(GOLD, **(gold or {})))
    return omneo_group(tiers=tiers, **kw)


def sponsor(when: str, points: int) -> Entry:
    return purchase(when, points, kind=EntryKind.SPONSOR)


def achievement(when: str, achievement_id: str) -> Entry:
    return purchase(when, 0, kind=EntryKind.ACHIEVEMENT, achievement_id=achievement_id)


def tier_after(rules: GroupRules, entries: list[Entry], as_of: str = "2025-06-01") -> int | None:
    return run(rules, ENROLLED, entries, as_of).state.tier_id


# ----------------------------------------------------------------------------- thresholds

THRESHOLD_CASES = [
    pytest.param([999], BRONZE_ID, id="one-below-silver-stays"),
    pytest.param([1000], SILVER_ID, id="exactly-value-min-reaches-silver"),
    pytest.param([2499], SILVER_ID, id="one-below-gold-is-silver"),
    pytest.param([2500], GOLD_ID, id="exactly-gold-skips-silver"),
    pytest.param([600, 600], SILVER_ID, id="value-accumulates-in-the-window"),
    pytest.param([600, 600, 1300], GOLD_ID, id="second-step-to-gold"),
]


@pytest.mark.parametrize(("amounts", "expected"), THRESHOLD_CASES)
def test_upgrade_reaches_the_highest_tier_the_window_value_qualifies_for(
    amounts: list[int], expected: int
) -> None:
    entries = [purchase(f"2025-02-{day + 1:02d}", pts) for day, pts in enumerate(amounts)]
    assert tier_after(omneo_group(), entries) == expected


def test_skipping_tiers_records_one_change_from_the_old_tier() -> None:
    evaluation = run(omneo_group(), ENROLLED, [purchase("2025-02-01 10:00", 3000)], "2025-03-01")
    state = evaluation.state
    assert (state.tier_id, state.prev_tier_id) == (GOLD_ID, BRONZE_ID)
    assert state.achieved_at == at("2025-02-01 10:00")
    assert state.anniversary_at == at("2026-02-01 23:59:59")
    assert [(h.reason, h.from_tier_id, h.to_tier_id) for h in evaluation.history] == [
        (Reason.ENROLLED, None, BRONZE_ID),
        (Reason.QUALIFIED, BRONZE_ID, GOLD_ID),
    ]


# --------------------------------------------------------------------------------- credit

CREDIT_CASES = [
    pytest.param({}, 3000, GOLD_ID, Decimal(500), id="credit-is-window-minus-value-min"),
    pytest.param({}, 1200, SILVER_ID, Decimal(200), id="credit-on-silver"),
    pytest.param({"credit": False}, 3000, GOLD_ID, Decimal(0), id="group-credit-false"),
    pytest.param(
        {"gold": {"disable_credit": True}}, 3000, GOLD_ID, Decimal(0), id="tier-disable-credit"
    ),
    pytest.param(
        {"gold": {"disable_credit": True}},
        1200,
        SILVER_ID,
        Decimal(200),
        id="disable-credit-on-another-tier-leaves-this-one",
    ),
]


@pytest.mark.parametrize(("config", "points", "expected_tier", "expected_credit"), CREDIT_CASES)
def test_upgrade_credit(
    config: dict[str, Any], points: int, expected_tier: int, expected_credit: Decimal
) -> None:
    state = run(group(**config), ENROLLED, [purchase("2025-02-01", points)], "2025-02-02").state
    assert (state.tier_id, state.credit) == (expected_tier, expected_credit)


# ----------------------------------------------------------------------------------- also

ALSO_GOLD = {"also": (Requirement(metric=Metric.SPONSOR_POINTS, min=Decimal(10)),)}

ALSO_CASES = [
    pytest.param([purchase("2025-02-01", 3000)], SILVER_ID, id="missing-also-stops-at-silver"),
    pytest.param(
        [purchase("2025-02-01", 3000), sponsor("2025-02-01", 9)], SILVER_ID, id="also-one-short"
    ),
    pytest.param([purchase("2025-02-01", 3000), sponsor("2025-02-01", 10)], GOLD_ID, id="also-met"),
    pytest.param(
        [purchase("2025-02-01", 3000), sponsor("2025-03-01", 10)],
        GOLD_ID,
        id="also-met-by-a-later-entry",
    ),
    pytest.param([sponsor("2025-02-01", 3000)], BRONZE_ID, id="sponsor-points-are-not-points"),
]


@pytest.mark.parametrize(("entries", "expected"), ALSO_CASES)
def test_also_requirements_must_all_hold(entries: list[Entry], expected: int) -> None:
    assert tier_after(group(gold=ALSO_GOLD), entries) == expected


def test_also_met_later_upgrades_at_that_entrys_instant() -> None:
    entries = [purchase("2025-02-01", 3000), sponsor("2025-03-01 08:00", 10)]
    state = run(group(gold=ALSO_GOLD), ENROLLED, entries, "2025-04-01").state
    assert state.achieved_at == at("2025-03-01 08:00")
    assert state.prev_tier_id == SILVER_ID
    assert state.credit == 500


# ---------------------------------------------------------------------- required achievements

ALL_OF = AchievementRequirement(ids=("vip", "app"))
TWO_OF_ANY = AchievementRequirement(count=2)
TWO_OF_LISTED = AchievementRequirement(ids=("vip", "app"), count=2)
RECENT = AchievementRequirement(ids=("vip",), within_days=30)

ACHIEVEMENT_CASES = [
    pytest.param(ALL_OF, [("2025-02-01", "vip")], SILVER_ID, id="all-of-one-missing"),
    pytest.param(ALL_OF, [("2025-01-20", "vip"), ("2025-01-21", "app")], GOLD_ID, id="all-of"),
    pytest.param(TWO_OF_ANY, [("2025-01-20", "x")], SILVER_ID, id="count-one-short"),
    pytest.param(TWO_OF_ANY, [("2025-01-20", "x"), ("2025-01-21", "y")], GOLD_ID, id="count"),
    pytest.param(
        TWO_OF_LISTED,
        [("2025-01-20", "vip"), ("2025-01-21", "other")],
        SILVER_ID,
        id="count-of-listed-ignores-others",
    ),
    pytest.param(
        TWO_OF_LISTED,
        [("2025-01-20", "vip"), ("2025-01-21", "vip")],
        GOLD_ID,
        id="count-of-listed-counts-entries",
    ),
    pytest.param(RECENT, [("2025-01-02 10:00", "vip")], SILVER_ID, id="within-days-too-old"),
    pytest.param(RECENT, [("2025-01-02 10:00:01", "vip")], GOLD_ID, id="within-days-1s-inside"),
]


@pytest.mark.parametrize(("required", "earned", "expected"), ACHIEVEMENT_CASES)
def test_required_achievements_gate_the_tier(
    required: AchievementRequirement, earned: list[tuple[str, str]], expected: int
) -> None:
    entries = [achievement(when, aid) for when, aid in earned]
    entries.append(purchase("2025-02-01 10:00", 3000))
    rules = group(gold={"required_achievements": required})
    assert tier_after(rules, entries) == expected


def test_required_achievements_look_back_over_the_group_window_by_default() -> None:
    rules = group(
        gold={"required_achievements": AchievementRequirement(ids=("vip",))},
        window=Window(kind=WindowKind.ROLLING, days=30),
    )
    old = [achievement("2025-01-01 10:00", "vip"), purchase("2025-02-01 10:00", 3000)]
    fresh = [achievement("2025-01-02 10:01", "vip"), purchase("2025-02-01 10:00", 3000)]
    assert tier_after(rules, old, "2025-02-02") == SILVER_ID
    assert tier_after(rules, fresh, "2025-02-02") == GOLD_ID


def test_an_achievement_arriving_after_the_points_upgrades_at_its_instant() -> None:
    rules = group(gold={"required_achievements": ALL_OF})
    entries = [
        purchase("2025-02-01", 3000),
        achievement("2025-02-05", "vip"),
        achievement("2025-02-10 09:30", "app"),
    ]
    state = run(rules, ENROLLED, entries, "2025-03-01").state
    assert (state.tier_id, state.achieved_at) == (GOLD_ID, at("2025-02-10 09:30"))


# ------------------------------------------------------------------ required days in tier

THIRTY_DAYS = {"required_num_days_in_tier": 30}
# Nineteen days after enrolment: too soon for Gold from Bronze, so Silver first.
EARLY = "2025-01-20 10:00"
GOLD_DUE = "2025-02-19 10:00"


def test_days_in_tier_missing_leaves_a_pending_promotion() -> None:
    rules = group(gold=THIRTY_DAYS)
    state = run(rules, ENROLLED, [purchase(EARLY, 3000)], "2025-02-10").state
    assert state.tier_id == SILVER_ID
    assert state.achieved_at == at(EARLY)
    assert state.credit == 2000
    assert state.pending_promotion_at == at(GOLD_DUE)
    assert state.next_due_at == at(GOLD_DUE)


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        pytest.param("2025-02-19 09:59:59", SILVER_ID, id="one-second-before"),
        pytest.param(GOLD_DUE, GOLD_ID, id="at-the-instant"),
    ],
)
def test_pending_promotion_fires_by_itself(as_of: str, expected: int) -> None:
    evaluation = run(group(gold=THIRTY_DAYS), ENROLLED, [purchase(EARLY, 3000)], as_of)
    assert evaluation.state.tier_id == expected
    if expected == GOLD_ID:
        last = evaluation.history[-1]
        assert (last.reason, last.from_tier_id, last.at) == (
            Reason.QUALIFIED,
            SILVER_ID,
            at(GOLD_DUE),
        )
        assert last.figures["trigger"] == "pending promotion"
        assert evaluation.state.pending_promotion_at is None
        assert evaluation.state.prev_tier_id == SILVER_ID
        assert evaluation.state.credit == 500


def test_pending_promotion_does_not_fire_if_the_value_fell_meanwhile() -> None:
    rules = group(gold=THIRTY_DAYS, window=Window(kind=WindowKind.ROLLING, days=20))
    evaluation = run(rules, ENROLLED, [purchase(EARLY, 3000)], "2025-04-01")
    assert evaluation.state.tier_id == SILVER_ID
    assert evaluation.state.pending_promotion_at is None
    assert [h.reason for h in evaluation.history] == [Reason.ENROLLED, Reason.QUALIFIED]


def test_days_already_held_in_the_current_tier_allow_a_skip() -> None:
    # 31 days in Bronze: Gold's 30 days in the current tier are already there.
    evaluation = run(
        group(gold=THIRTY_DAYS), ENROLLED, [purchase("2025-02-01 10:00", 3000)], "2025-02-02"
    )
    assert (evaluation.state.tier_id, evaluation.state.prev_tier_id) == (GOLD_ID, BRONZE_ID)
    assert evaluation.state.pending_promotion_at is None


def test_a_later_entry_does_not_restart_the_days_in_tier() -> None:
    entries = [purchase(EARLY, 3000), purchase("2025-02-10", 100)]
    state = run(group(gold=THIRTY_DAYS), ENROLLED, entries, "2025-02-11").state
    assert state.pending_promotion_at == at(GOLD_DUE)


def test_a_promotion_waiting_on_days_is_dropped_when_the_tier_is_lost() -> None:
    rules = group(silver={"max_inactive_days": 10}, gold=THIRTY_DAYS)
    evaluation = run(rules, ENROLLED, [purchase(EARLY, 3000)], "2025-06-01")
    # Inactivity takes Silver away on 30 Jan; the promotion planned from Silver never fires.
    assert evaluation.state.tier_id == BRONZE_ID
    assert evaluation.state.pending_promotion_at is None
    assert [(h.reason, h.at) for h in evaluation.history] == [
        (Reason.ENROLLED, at(ENROLLED)),
        (Reason.QUALIFIED, at(EARLY)),
        (Reason.INACTIVITY, at("2025-01-30 10:00")),
    ]
