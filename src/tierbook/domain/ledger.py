"""Ledger entries and what each one contributes to a group's metrics."""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from itertools import chain
from operator import attrgetter, itemgetter
from types import MappingProxyType
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
        return self.kind in ACTIVITY_KINDS


ACTIVITY_KINDS = frozenset(EntryKind) - {EntryKind.REFUND}
"""The kinds of entry that keep a member active: all but refunds."""


NO_META: Mapping[str, Any] = MappingProxyType({})
"""The `meta` of an entry read without it."""


@dataclass(frozen=True, slots=True)
class Entries:
    """Entries as columns: one tuple per field of `Entry`, the entry at index i in each.

    The tier clock reads a whole ledger field by field (times, ids, kinds, amounts), and reads
    whole entries only where it looks at a few (a refund's original, an achievement, an
    explanation): a ledger held this way costs no object per entry, and `entry` builds the
    entries it is asked for. A ledger read for evaluation arrives in this form.
    """

    id: tuple[str, ...] = ()
    member_id: tuple[str, ...] = ()
    occurred_at: tuple[datetime, ...] = ()
    kind: tuple[EntryKind, ...] = ()
    points: tuple[Decimal, ...] = ()
    spend: tuple[Decimal, ...] = ()
    units: tuple[Decimal, ...] = ()
    business_unit: tuple[str | None, ...] = ()
    behaviour_type: tuple[str | None, ...] = ()
    items: tuple[tuple[Item, ...], ...] = ()
    achievement_id: tuple[str | None, ...] = ()
    reverses: tuple[str | None, ...] = ()
    idempotency_key: tuple[str | None, ...] = ()
    recorded_at: tuple[datetime | None, ...] = ()
    meta: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if len({len(getattr(self, name)) for name in _ENTRY_FIELDS}) > 1:
            raise ValueError("every column of entries holds one value per entry")

    @classmethod
    def of(cls, entries: Iterable[Entry]) -> Entries:
        rows = [_entry_fields(e) for e in entries]
        if not rows:
            return cls()
        return cls(*zip(*rows, strict=True))

    @classmethod
    def joined(cls, parts: Sequence[Entries]) -> Entries:
        """The entries of every part, part after part."""
        if len(parts) == 1:
            return parts[0]
        return cls(
            *(tuple(chain.from_iterable(getattr(p, name) for p in parts)) for name in _ENTRY_FIELDS)
        )

    def __len__(self) -> int:
        return len(self.id)

    def entry(self, i: int) -> Entry:
        return Entry(*(getattr(self, name)[i] for name in _ENTRY_FIELDS))

    def taken(self, indexes: Iterable[int]) -> Entries:
        """The entries at `indexes`, in their order."""
        at = list(indexes)
        if len(at) < 2:  # `itemgetter` of one index gives the item, not a tuple of it
            return Entries(*(tuple(getattr(self, n)[i] for i in at) for n in _ENTRY_FIELDS))
        pick = itemgetter(*at)
        return Entries(*(pick(getattr(self, name)) for name in _ENTRY_FIELDS))


_ENTRY_FIELDS = tuple(f.name for f in fields(Entry))
_entry_fields = attrgetter(*_ENTRY_FIELDS)


def qualifies(
    business_unit: str | None,
    behaviour_type: str | None,
    items: Sequence[Item],
    rules: QualifyingFilter,
) -> bool:
    """Whether an entry of these fields passes the qualifying filter."""
    if rules.business_units and business_unit not in rules.business_units:
        return False
    if rules.behaviour_types and behaviour_type not in rules.behaviour_types:
        return False
    if rules.filters_items:
        return any(_item_matches(item, rules) for item in items)
    return True


def _item_matches(item: Item, rules: QualifyingFilter) -> bool:
    if rules.skus and item.sku in rules.skus:
        return True
    return bool(rules.categories) and item.category in rules.categories


def contributions(
    entries: Entries,
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
    metric, from the columns it needs: a series is built for every group of every state the
    clock moves.
    """
    sponsor, purchase = EntryKind.SPONSOR, EntryKind.PURCHASE
    kinds = entries.kind
    if metric is Metric.POINTS:
        return [ZERO if k is sponsor else p for k, p in zip(kinds, entries.points, strict=True)]
    if metric is Metric.SPONSOR_POINTS:
        return [p if k is sponsor else ZERO for k, p in zip(kinds, entries.points, strict=True)]
    if metric is Metric.SPEND:
        if rules.filters_items:
            return _item_sums(entries, rules, "amount")
        return list(entries.spend)
    if metric is Metric.UNITS:
        if rules.filters_items:
            return _item_sums(entries, rules, "quantity")
        return list(entries.units)
    if metric is Metric.VISITS:
        return [
            _TAKEN_BACK if i in reversed_visits else _ONE if k is purchase else ZERO
            for i, k in zip(entries.id, kinds, strict=True)
        ]
    if metric is Metric.ACHIEVEMENTS:
        return [_ONE if k is EntryKind.ACHIEVEMENT else ZERO for k in kinds]
    raise AssertionError(metric)  # pragma: no cover - the enum is closed


_ONE = Decimal(1)
_TAKEN_BACK = Decimal(-1)


def _item_sums(entries: Entries, rules: QualifyingFilter, attr: str) -> list[Decimal]:
    sums = []
    for kind, items in zip(entries.kind, entries.items, strict=True):
        matching = (abs(getattr(item, attr)) for item in items if _item_matches(item, rules))
        total = sum(matching, ZERO)
        sums.append(-total if kind is EntryKind.REFUND else total)
    return sums


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
