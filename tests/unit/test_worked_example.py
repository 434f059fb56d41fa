"""SPEC §2's worked example, field for field, at every row of its table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.factories import at, omneo_group, purchase, run
from tierbook.domain.state import Reason

GROUP = omneo_group()
ENROLLED = "2025-01-10 10:00"
LEDGER = [
    purchase("2025-03-01 10:00", 600),
    purchase("2025-05-01 10:00", 600),
    purchase("2025-09-01 10:00", 500),
]


def state_at(when: str):  # type: ignore[no-untyped-def]
    return run(GROUP, ENROLLED, LEDGER, when).state


def test_enrols_on_bronze_with_an_anniversary_at_end_of_day() -> None:
    state = state_at("2025-01-10 10:00")
    assert state.tier_id == 1
    assert state.achieved_at == at("2025-01-10 10:00")
    assert state.anniversary_at == at("2026-01-10 23:59:59")


def test_first_purchase_leaves_bronze_with_400_to_go() -> None:
    state = state_at("2025-03-01 10:00")
    assert state.tier_id == 1
    assert state.figures.window_value == 600
    assert state.figures.remain_to_next == 400


def test_second_purchase_reaches_silver_with_credit() -> None:
    state = state_at("2025-05-01 10:00")
    assert state.tier_id == 2
    assert state.prev_tier_id == 1
    assert state.achieved_at == at("2025-05-01 10:00")
    assert state.anniversary_at == at("2026-05-01 23:59:59")
    assert state.credit == 200
    f = state.figures
    assert (f.progress, f.remain_to_keep, f.window_value, f.remain_to_next) == (0, 800, 1200, 1300)


def test_third_purchase_is_progress_in_the_tier_year() -> None:
    f = state_at("2025-09-01 10:00").figures
    assert (f.progress, f.remain_to_keep, f.window_value) == (500, 300, 1700)


def test_march_purchase_leaves_the_rolling_window() -> None:
    state = state_at("2026-03-02 12:00")
    assert state.tier_id == 2
    assert state.figures.window_value == 1100


def test_anniversary_downgrades_to_the_qualifying_tier() -> None:
    evaluation = run(GROUP, ENROLLED, LEDGER, "2026-05-01 23:59:59")
    state = evaluation.state
    assert state.tier_id == 1
    assert state.prev_tier_id == 2
    assert state.achieved_at == at("2026-05-01 23:59:59")
    assert state.figures.window_value == 500
    last = evaluation.history[-1]
    assert (last.from_tier_id, last.to_tier_id, last.reason) == (2, 1, Reason.DOWNGRADED)
    assert last.at == at("2026-05-01 23:59:59")
    assert last.figures["window_value"] == "500"


def test_one_second_before_the_anniversary_silver_still_holds() -> None:
    assert state_at("2026-05-01 23:59:58").tier_id == 2


def test_history_reads_as_the_table() -> None:
    history = run(GROUP, ENROLLED, LEDGER, "2026-06-01").history
    assert [(h.reason, h.from_tier_id, h.to_tier_id) for h in history] == [
        (Reason.ENROLLED, None, 1),
        (Reason.QUALIFIED, 1, 2),
        (Reason.DOWNGRADED, 2, 1),
    ]


@pytest.mark.parametrize("when", ["2025-06-01", "2026-03-02 12:00", "2027-01-01"])
def test_same_inputs_same_state(when: str) -> None:
    assert state_at(when) == state_at(when)


def test_credit_is_a_decimal() -> None:
    assert isinstance(state_at("2025-05-01 10:00").credit, Decimal)
