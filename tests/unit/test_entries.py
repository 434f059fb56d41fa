"""Entries held as columns, and the ledger the clock indexes from them."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal

import pytest

from tests.unit.factories import at, purchase, refund
from tierbook.domain.ledger import Entries, Entry, EntryKind, Item
from tierbook.domain.rules import Metric, QualifyingFilter
from tierbook.domain.values import Ledger

SHOES = Item(sku="A", category="shoes", quantity=Decimal(2), amount=Decimal("9.5"))


def entries() -> list[Entry]:
    return [
        purchase("2025-03-02", 30, id="b", items=(SHOES,), business_unit="web"),
        purchase("2025-03-01", 10, id="c", meta={"channel": "till"}, recorded_at=at("2025-03-05")),
        refund("2025-03-02", 5, reverses="b", id="a", idempotency_key="k-a"),
        purchase("2025-03-03", 0, id="d", kind=EntryKind.ACHIEVEMENT, achievement_id="first"),
    ]


def test_the_columns_are_the_entry_fields_in_their_order() -> None:
    assert [f.name for f in fields(Entries)] == [f.name for f in fields(Entry)]


def test_each_entry_comes_back_whole() -> None:
    given = entries()
    columns = Entries.of(given)
    assert len(columns) == 4
    assert [columns.entry(i) for i in range(4)] == given
    # `meta` does not take part in an entry's equality: it comes back all the same.
    assert [columns.entry(i).meta for i in range(4)] == [e.meta for e in given]
    assert Entries.of([]) == Entries()


def test_columns_of_uneven_length_are_refused() -> None:
    with pytest.raises(ValueError, match="one value per entry"):
        Entries(id=("a",), member_id=())


@pytest.mark.parametrize("indexes", [[], [2], [3, 0, 1], [1, 1]])
def test_taken_gives_the_entries_at_the_indexes_in_their_order(indexes: list[int]) -> None:
    given = entries()
    taken = Entries.of(given).taken(indexes)
    assert [taken.entry(i) for i in range(len(taken))] == [given[i] for i in indexes]


def test_joined_parts_follow_one_another() -> None:
    given = entries()
    first, second = Entries.of(given[:1]), Entries.of(given[1:])
    assert Entries.joined([first, second]) == Entries.of(given)
    assert Entries.joined([second]) is second
    assert Entries.joined([Entries(), first]) == first


def test_a_ledger_orders_its_columns_by_time_then_id() -> None:
    ledger = Ledger(Entries.of(entries()), QualifyingFilter())
    assert list(ledger.ids) == ["c", "a", "b", "d"]
    assert list(ledger.times) == [
        at("2025-03-01"),
        at("2025-03-02"),
        at("2025-03-02"),
        at("2025-03-03"),
    ]
    assert [e.id for e in ledger.entries(1, 3)] == ["a", "b"]
    assert ledger.entry("b") == entries()[0]
    assert ledger.entry("nope") is None
    # c, a (a refund of b), b, d: every entry but the refund keeps a member active.
    assert [ledger.last_active(i, i + 1) is not None for i in range(4)] == [True, False, True, True]
    assert (ledger.last_active(0, 4), ledger.last_active(0, 2), ledger.last_active(1, 2)) == (
        3,
        0,
        None,
    )
    assert [ledger.first_reversing(i, 4) for i in range(5)] == [1, 1, None, None, None]
    assert ledger.first_reversing(0, 1) is None
    assert [e.id for e in ledger.achievements(None, at("2025-03-03"))] == ["d"]


def test_only_a_refund_that_names_its_entry_can_reverse_a_tier() -> None:
    ledger = Ledger(
        [
            purchase("2025-03-01", 10, id="p"),
            refund("2025-03-02", 4, id="r1"),
            refund("2025-03-03", 5, reverses="p", id="r2"),
        ],
        QualifyingFilter(),
    )
    assert [ledger.first_reversing(i, 3) for i in range(3)] == [2, 2, 2]
    assert ledger.first_reversing(0, 2) is None
    assert ledger.last_active(1, 3) is None


def test_a_ledger_sums_only_what_qualifies() -> None:
    web = QualifyingFilter(business_units=frozenset({"web"}))
    ledger = Ledger(Entries.of(entries()), web)
    assert ledger.value(Metric.POINTS, None, at("2025-03-03")) == 30
    assert [ledger.last_active(i, i + 1) is not None for i in range(4)] == [
        False,
        False,
        True,
        False,
    ]
    assert (ledger.last_active(0, 4), ledger.last_active(3, 4)) == (2, None)
    assert ledger.achievements(None, at("2025-03-03")) == []
    everything = Ledger(entries(), QualifyingFilter())
    assert everything.value(Metric.POINTS, None, at("2025-03-03")) == 35
    assert everything.value(Metric.POINTS, at("2025-03-01"), at("2025-03-03")) == 25
