"""A stored state answers a read at any later instant of its stable span: the state the clock
would give as of that instant."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from tierbook.domain.clock import evaluate
from tierbook.domain.rules import Window, WindowKind
from tierbook.service.model import GroupConfig, StateRecord
from tierbook.service.queries import answer

from .factories import at, omneo_group, purchase, run

ENTRIES = [purchase("2025-01-10", 600), purchase("2025-03-01", 700), purchase("2025-06-01", 50)]


@pytest.mark.parametrize(
    "window", [Window(kind=WindowKind.ROLLING, days=365), Window(kind=WindowKind.CALENDAR)]
)
@pytest.mark.parametrize("later", [timedelta(0), timedelta(seconds=1), timedelta(days=20)])
def test_a_stored_state_read_later_in_its_span_is_the_replay_then(
    window: Window, later: timedelta
) -> None:
    rules = omneo_group(window=window)
    stored = run(rules, "2025-01-01", ENTRIES, "2025-07-01 12:00").state
    assert stored.stable_until is not None
    assert stored.stable_until > stored.as_of + later
    read = answer(
        StateRecord(stored, at("2025-07-01"), at("2025-07-01")),
        GroupConfig(rules, "Status"),
        stored.as_of + later,
    )
    replayed = evaluate(
        rules,
        subject_id="m1",
        enrolled_at=at("2025-01-01"),
        entries=ENTRIES,
        assignments=(),
        as_of=stored.as_of + later,
    ).state
    assert read == dataclasses.replace(replayed, basis=stored.basis)
