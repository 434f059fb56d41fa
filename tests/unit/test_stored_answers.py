"""A stored state answers a read at any later instant of its stable span: read with the read's
instant and window bounds, it is the state the clock would give as of that instant."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from tierbook.domain.clock import evaluate
from tierbook.domain.rules import Window, WindowKind
from tierbook.domain.state import TierState
from tierbook.service.model import GroupConfig, Member, ProgramConfig, StateRecord
from tierbook.service.queries import TierView, answer

from .factories import at, omneo_group, purchase, run, state_as_read

ENTRIES = [purchase("2025-01-10", 600), purchase("2025-03-01", 700), purchase("2025-06-01", 50)]


def _view(
    group: GroupConfig,
    state: TierState,
    record: StateRecord | None = None,
    read_at: datetime | None = None,
) -> TierView:
    """Member m1's view in `group`, enrolled at the start of 2025."""
    return TierView(
        Member(tenant_id="t", id="m1", program_id=1, enrolled_at=at("2025-01-01")),
        ProgramConfig(id=1, code="p", name="P", groups=(group,)),
        group,
        "m1",
        state,
        record,
        read_at,
    )


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
    read_at = stored.as_of + later
    record = StateRecord(stored, at("2025-07-01"), at("2025-07-01"))
    read = answer(record, read_at)
    assert read is stored
    view = _view(GroupConfig(rules, "Status"), read, record, read_at)
    replayed = evaluate(
        rules,
        subject_id="m1",
        enrolled_at=at("2025-01-01"),
        entries=ENTRIES,
        assignments=(),
        as_of=read_at,
    ).state
    assert view.as_of == replayed.as_of
    assert state_as_read(view) == dataclasses.replace(replayed, basis=stored.basis)


def test_a_replayed_state_is_read_as_it_is() -> None:
    rules = omneo_group()
    state = run(rules, "2025-01-01", ENTRIES, "2025-07-01 12:00").state
    view = _view(GroupConfig(rules, "Status"), state)
    assert view.as_of == state.as_of
    assert view.window == (state.figures.window_from, state.figures.window_to)
