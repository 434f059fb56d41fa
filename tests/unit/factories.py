"""Builders for the tier clock's inputs, so tests state only what matters to them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from itertools import count
from typing import Any

from tierbook.domain.clock import evaluate
from tierbook.domain.ledger import Entry, EntryKind
from tierbook.domain.rules import GroupRules, Tier
from tierbook.domain.state import Assignment, Evaluation, TierState
from tierbook.service.queries import TierView

_ids = count(1)


def at(text: str) -> datetime:
    """`2025-01-10 10:00` (or with seconds) as a UTC instant."""
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M"
    if len(text) == 10:
        fmt = "%Y-%m-%d"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


def tier(
    rank: int, handle: str, value_min: int, value_maintain: int | None = None, **kw: Any
) -> Tier:
    return Tier(
        id=rank + 1,
        handle=handle,
        name=handle.title(),
        rank=rank,
        value_min=Decimal(value_min),
        value_maintain=Decimal(value_min if value_maintain is None else value_maintain),
        **kw,
    )


BRONZE = tier(0, "bronze", 0, 0, is_floor=True)
SILVER = tier(1, "silver", 1000, 1000, is_assignable=True, multiplier="1.5")
GOLD = tier(2, "gold", 2500, 2000, is_assignable=True, multiplier="2.0")


def omneo_group(**overrides: Any) -> GroupRules:
    """The SPEC's worked-example group: points, rolling 365, anniversary 12, to_qualifying."""
    tiers = overrides.pop("tiers", (BRONZE, SILVER, GOLD))
    return GroupRules(id=10, code="STATUS", tiers=tuple(tiers), **overrides)


def purchase(when: str, points: int = 0, **kw: Any) -> Entry:
    n = next(_ids)
    return Entry(
        id=kw.pop("id", f"e{n}"),
        member_id=kw.pop("member_id", "m1"),
        occurred_at=at(when),
        kind=kw.pop("kind", EntryKind.PURCHASE),
        points=Decimal(points),
        **kw,
    )


def refund(when: str, points: int, reverses: str | None = None, **kw: Any) -> Entry:
    return purchase(when, -abs(points), kind=EntryKind.REFUND, reverses=reverses, **kw)


def run(
    rules: GroupRules,
    enrolled: str,
    entries: Sequence[Entry],
    as_of: str,
    assignments: Sequence[Assignment] = (),
    *,
    explain: bool = False,
) -> Evaluation:
    return evaluate(
        rules,
        subject_id="m1",
        enrolled_at=at(enrolled),
        entries=entries,
        assignments=assignments,
        as_of=at(as_of),
        explain=explain,
    )


def with_tier(base: Tier, **changes: Any) -> Tier:
    return replace(base, **changes)


def state_as_read(view: TierView) -> TierState:
    """The view's state with the read's instant and window bounds: a stored state read later in
    its stable span, as the clock would give it then."""
    window_from, window_to = view.window
    return replace(
        view.state,
        as_of=view.as_of,
        figures=replace(view.state.figures, window_from=window_from, window_to=window_to),
    )
