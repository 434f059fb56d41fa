"""Ledger entries and what each one contributes to a group's metrics."""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tierbook.domain.errors import InvalidEntry
from tierbook.domain.rules import Metric, QualifyingFilter

ZERO = Decimal(0)


class EntryKind(StrEnum):
    PURCHASE = "purchase"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"
    ACHIEVEMENT = "achievement"
    SPONSOR = "sponsor"


@dataclass(frozen=True, slots=True)
class Item:
    sku: str | None = None
    category: str | None = None
    quantity: Decimal = Decimal(1)
    amount: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Entry:
    """One append-only ledger entry. Refunds carry negative amounts."""

    id: str
    member_id: str
    occurred_at: datetime
    kind: EntryKind = EntryKind.PURCHASE
    points: Decimal = ZERO
    spend: Decimal = ZERO
    units: Decimal = ZERO
    business_unit: str | None = None
    behaviour_type: str | None = None
    items: tuple[Item, ...] = ()
    achievement_id: str | None = None
    reverses: str | None = None
    idempotency_key: str | None = None
    recorded_at: datetime | None = None
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise InvalidEntry("occurred_at must carry a UTC offset", field="occurred_at")
        if self.kind is EntryKind.REFUND:
            if self.points > 0 or self.spend > 0 or self.units > 0:
                raise InvalidEntry("a refund carries negative (or zero) amounts", field="points")
        elif self.kind is EntryKind.PURCHASE and (
            self.points < 0 or self.spend < 0 or self.units < 0
        ):
            raise InvalidEntry(
                "a purchase carries positive amounts; record a refund to reverse one",
                field="points",
            )
        if self.kind is EntryKind.ACHIEVEMENT and not self.achievement_id:
            raise InvalidEntry("an achievement entry needs achievement_id", field="achievement_id")

    @property
    def counts_as_activity(self) -> bool:
        """Whether the entry keeps a member active (refunds never do)."""
        return self.kind is not EntryKind.REFUND


def qualifies(entry: Entry, rules: QualifyingFilter) -> bool:
    if rules.business_units and entry.business_unit not in rules.business_units:
        return False
    if rules.behaviour_types and entry.behaviour_type not in rules.behaviour_types:
        return False
    if rules.filters_items:
        return any(_item_matches(item, rules) for item in entry.items)
    return True


def _item_matches(item: Item, rules: QualifyingFilter) -> bool:
    if rules.skus and item.sku in rules.skus:
        return True
    return bool(rules.categories) and item.category in rules.categories


def contributions(
    entries: Sequence[Entry],
    metric: Metric,
    rules: QualifyingFilter,
    *,
    reversed_visits: Container[str] = (),
) -> list[Decimal]:
    """What each qualifying entry adds to `metric` (negative for refunds), in their order.

    `points` counts every kind but `sponsor`, whose points are `sponsor_points`. For `spend` and
    `units` under an item filter, only the matching items count, with the sign of the entry.
    A `visit` is a purchase; a refund takes a visit back only where it fully reverses the
    purchase (the refunds named in `reversed_visits`, see `visit_reversals`). One list per
    metric, each field read directly: a series is built for every group of every state the
    clock moves.
    """
    sponsor, purchase = EntryKind.SPONSOR, EntryKind.PURCHASE
    if metric is Metric.POINTS:
        return [ZERO if e.kind is sponsor else e.points for e in entries]
    if metric is Metric.SPONSOR_POINTS:
        return [e.points if e.kind is sponsor else ZERO for e in entries]
    if metric is Metric.SPEND:
        if rules.filters_items:
            return [_item_sum(e, rules, "amount") for e in entries]
        return [e.spend for e in entries]
    if metric is Metric.UNITS:
        if rules.filters_items:
            return [_item_sum(e, rules, "quantity") for e in entries]
        return [e.units for e in entries]
    if metric is Metric.VISITS:
        return [
            _TAKEN_BACK if e.id in reversed_visits else _ONE if e.kind is purchase else ZERO
            for e in entries
        ]
    if metric is Metric.ACHIEVEMENTS:
        return [_ONE if e.kind is EntryKind.ACHIEVEMENT else ZERO for e in entries]
    raise AssertionError(metric)  # pragma: no cover - the enum is closed


_ONE = Decimal(1)
_TAKEN_BACK = Decimal(-1)


def _item_sum(entry: Entry, rules: QualifyingFilter, attr: str) -> Decimal:
    total = sum(
        (abs(getattr(item, attr)) for item in entry.items if _item_matches(item, rules)), ZERO
    )
    return -total if entry.kind is EntryKind.REFUND else total


def visit_reversals(entries: Iterable[Entry]) -> set[str]:
    """Ids of refunds that fully reverse a purchase, and so take its visit back."""
    by_id = {e.id: e for e in entries}
    refunded: dict[str, list[Entry]] = {}
    for entry in by_id.values():
        if entry.kind is EntryKind.REFUND and entry.reverses in by_id:
            refunded.setdefault(entry.reverses, []).append(entry)
    full: set[str] = set()
    for purchase_id, refunds in refunded.items():
        purchase = by_id[purchase_id]
        if purchase.kind is not EntryKind.PURCHASE:
            continue
        refunds.sort(key=lambda e: (e.occurred_at, e.id))
        points = spend = units = ZERO
        for refund in refunds:
            points += refund.points
            spend += refund.spend
            units += refund.units
            if (
                points + purchase.points <= 0
                and spend + purchase.spend <= 0
                and units + purchase.units <= 0
            ):
                full.add(refund.id)
                break
    return full
