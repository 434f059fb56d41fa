"""SPEC §2 "Inactivity" and "Reversals"."""

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
    refund,
    run,
    with_tier,
)
from tierbook.domain.ledger import Entry
from tierbook.domain.rules import (
    GroupRules,
    Maintenance,
    MaintenanceKind,
    QualifyingFilter,
    ReversalPolicy,
)
from tierbook.domain.state import Assignment, AssignmentMode, Reason

ENROLLED = "2025-01-01 00:00"
BRONZE_ID, SILVER_ID, GOLD_ID = 1, 2, 3


def inactive_group(gold: int | None = 30, silver: int | None = None, **kw: Any) -> GroupRules:
    tiers = (
        BRONZE,
        with_tier(SILVER, max_inactive_days=silver),
        with_tier(GOLD, max_inactive_days=gold),
    )
    return omneo_group(tiers=tiers, **kw)


# -------------------------------------------------------------------------- inactivity

GOLD_BUY = purchase("2025-02-01 10:00", 3000, business_unit="web")

INACTIVITY_CASES = [
    # (extra entries, as_of, expected tier)
    pytest.param([], "2025-03-03 09:59:59", GOLD_ID, id="one-second-before-the-deadline"),
    pytest.param([], "2025-03-03 10:00", SILVER_ID, id="d-days-without-activity-drops-one"),
    pytest.param([purchase("2025-02-20", 1)], "2025-03-21 23:59:59", GOLD_ID, id="entry-resets"),
    pytest.param([purchase("2025-02-20", 1)], "2025-03-22", SILVER_ID, id="then-drops-later"),
    pytest.param(
        [purchase("2025-03-03 10:00", 1)], "2025-03-04", GOLD_ID, id="entry-at-the-deadline"
    ),
    pytest.param(
        [refund("2025-02-20", 10)], "2025-03-03 10:00", SILVER_ID, id="a-refund-is-not-activity"
    ),
]


@pytest.mark.parametrize(("extra", "as_of", "expected"), INACTIVITY_CASES)
def test_inactivity_drops_one_rank_after_max_inactive_days(
    extra: list[Entry], as_of: str, expected: int
) -> None:
    state = run(inactive_group(), ENROLLED, [GOLD_BUY, *extra], as_of).state
    assert state.tier_id == expected


def test_a_non_qualifying_entry_is_not_activity() -> None:
    rules = inactive_group(qualifying=QualifyingFilter(business_units=frozenset({"web"})))
    entries = [GOLD_BUY, purchase("2025-02-20", 500, business_unit="store")]
    assert run(rules, ENROLLED, entries, "2025-03-03 10:00").state.tier_id == SILVER_ID


def test_inactivity_is_recorded_and_due() -> None:
    before = run(inactive_group(), ENROLLED, [GOLD_BUY], "2025-02-10").state
    assert before.next_due_at == at("2025-03-03 10:00")
    evaluation = run(inactive_group(), ENROLLED, [GOLD_BUY], "2025-03-04")
    last = evaluation.history[-1]
    assert (last.reason, last.from_tier_id, last.to_tier_id, last.at) == (
        Reason.INACTIVITY,
        GOLD_ID,
        SILVER_ID,
        at("2025-03-03 10:00"),
    )
    assert evaluation.state.achieved_at == at("2025-03-03 10:00")
    assert evaluation.state.credit == 0


def test_inactivity_chains_down_rank_by_rank() -> None:
    evaluation = run(inactive_group(gold=30, silver=30), ENROLLED, [GOLD_BUY], "2025-12-01")
    assert evaluation.state.tier_id == BRONZE_ID
    assert [(h.reason, h.to_tier_id, h.at) for h in evaluation.history[2:]] == [
        (Reason.INACTIVITY, SILVER_ID, at("2025-03-03 10:00")),
        (Reason.INACTIVITY, BRONZE_ID, at("2025-04-02 10:00")),
    ]


def test_inactivity_counts_from_achieved_at_when_that_is_later() -> None:
    override = Assignment(
        id="a1", tier_id=GOLD_ID, mode=AssignmentMode.OVERRIDE, effective_at=at("2025-03-01")
    )
    entries = [purchase("2025-02-01 10:00", 10)]
    state = run(inactive_group(), ENROLLED, entries, "2025-03-10", [override]).state
    assert state.next_due_at == at("2025-03-31")


def test_the_floor_stops_inactivity_and_restarts_the_count() -> None:
    bronze = with_tier(BRONZE, max_inactive_days=30)
    rules = omneo_group(
        tiers=(bronze, SILVER, GOLD), maintenance=Maintenance(kind=MaintenanceKind.NONE)
    )
    evaluation = run(rules, ENROLLED, [], "2025-02-15")
    assert evaluation.state.tier_id == BRONZE_ID
    assert evaluation.state.inactivity_base == at("2025-01-31")
    assert evaluation.state.next_due_at == at("2025-03-02")
    assert [h.reason for h in evaluation.history] == [Reason.ENROLLED]


# --------------------------------------------------------------------------- reversals

KEEP = omneo_group()
REEVALUATE = omneo_group(reversals=ReversalPolicy.REEVALUATE)


def silver_then_refund(reversed_points: int = 1200) -> list[Entry]:
    return [
        purchase("2025-02-01 10:00", 1200, id="silver-buy"),
        refund("2025-03-10 09:00", reversed_points, "silver-buy"),
    ]


REVERSAL_CASES = [
    pytest.param(KEEP, 1200, SILVER_ID, id="keep-never-takes-a-tier-away"),
    pytest.param(REEVALUATE, 1200, BRONZE_ID, id="reevaluate-moves-back"),
    pytest.param(REEVALUATE, 200, SILVER_ID, id="reevaluate-window-still-reaches-the-tier"),
    pytest.param(REEVALUATE, 201, BRONZE_ID, id="reevaluate-window-one-below"),
]


@pytest.mark.parametrize(("rules", "refunded", "expected"), REVERSAL_CASES)
def test_reversal_policy(rules: GroupRules, refunded: int, expected: int) -> None:
    state = run(rules, ENROLLED, silver_then_refund(refunded), "2025-04-01").state
    assert state.tier_id == expected


def test_a_reversal_move_is_recorded_and_starts_a_new_tier_year() -> None:
    evaluation = run(REEVALUATE, ENROLLED, silver_then_refund(), "2025-04-01")
    last = evaluation.history[-1]
    assert (last.reason, last.from_tier_id, last.to_tier_id, last.at) == (
        Reason.REVERSAL,
        SILVER_ID,
        BRONZE_ID,
        at("2025-03-10 09:00"),
    )
    assert last.figures["reversed"] == "silver-buy"
    assert last.figures["window_value"] == "0"
    state = evaluation.state
    assert (state.prev_tier_id, state.achieved_at, state.credit) == (
        SILVER_ID,
        at("2025-03-10 09:00"),
        Decimal(0),
    )


def test_keep_lets_the_refund_count_at_the_next_maintenance() -> None:
    evaluation = run(KEEP, ENROLLED, silver_then_refund(), "2026-02-02")
    assert evaluation.state.tier_id == BRONZE_ID
    assert evaluation.history[-1].reason is Reason.DOWNGRADED
    assert evaluation.history[-1].at == at("2026-02-01 23:59:59")


def test_a_reversal_never_goes_below_prev_tier() -> None:
    entries = [
        purchase("2025-02-01 10:00", 1200, id="to-silver"),
        purchase("2025-03-01 10:00", 1500, id="to-gold"),
        refund("2025-03-10", 1500, "to-gold"),
        refund("2025-03-10", 1000, "to-silver"),
    ]
    state = run(REEVALUATE, ENROLLED, entries, "2025-04-01").state
    assert state.figures.window_value == 200
    assert (state.tier_id, state.prev_tier_id) == (SILVER_ID, GOLD_ID)


def test_a_reversal_of_tier_year_progress_does_not_move_the_member() -> None:
    rules = omneo_group(
        reversals=ReversalPolicy.REEVALUATE, maintenance=Maintenance(kind=MaintenanceKind.NONE)
    )
    entries = [
        purchase("2025-02-01 10:00", 2500, id="gold-buy"),
        purchase("2026-01-15", 100, id="later"),
        # By now the Gold purchase has left the window: the value is 100, far below Gold.
        refund("2026-03-01", 100, "later"),
    ]
    assert run(rules, ENROLLED, entries, "2026-04-01").state.tier_id == GOLD_ID
    undone = [*entries[:2], refund("2026-03-01", 2500, "gold-buy")]
    assert run(rules, ENROLLED, undone, "2026-04-01").state.tier_id == BRONZE_ID


def test_a_reversal_never_takes_an_assigned_tier_away() -> None:
    override = Assignment(
        id="a1", tier_id=GOLD_ID, mode=AssignmentMode.OVERRIDE, effective_at=at("2025-03-01")
    )
    evaluation = run(REEVALUATE, ENROLLED, silver_then_refund(), "2025-04-01", [override])
    assert evaluation.state.tier_id == GOLD_ID
    assert Reason.REVERSAL not in [h.reason for h in evaluation.history]
