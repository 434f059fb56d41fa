"""SPEC §2 "Qualifying value" and "Window": what counts, and over which span."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.unit.factories import at, omneo_group, purchase, refund, run
from tierbook.domain.ledger import Entry, EntryKind, Item
from tierbook.domain.rules import Metric, Period, QualifyingFilter, Window, WindowKind

ENROLLED = "2024-01-01 00:00"
LIFETIME = Window(kind=WindowKind.LIFETIME)
D = Decimal


def sponsor(when: str, points: int, **kw: object) -> Entry:
    return purchase(when, points, kind=EntryKind.SPONSOR, **kw)


def achievement(when: str, achievement_id: str, **kw: object) -> Entry:
    return purchase(when, 0, kind=EntryKind.ACHIEVEMENT, achievement_id=achievement_id, **kw)


def adjustment(when: str, points: int) -> Entry:
    return purchase(when, points, kind=EntryKind.ADJUSTMENT)


def window_value(
    metric: Metric,
    entries: list[Entry],
    *,
    qualifying: QualifyingFilter = QualifyingFilter(),
    window: Window = LIFETIME,
    as_of: str = "2025-12-01",
    timezone: str = "UTC",
) -> Decimal:
    rules = omneo_group(metric=metric, qualifying=qualifying, window=window, timezone=timezone)
    return run(rules, ENROLLED, entries, as_of).state.figures.window_value


# ------------------------------------------------------------------------------- metrics

P1 = purchase("2025-02-01", 100, spend=D("40.50"), units=D(3), id="p1")
P2 = purchase("2025-03-01", 200, spend=D("10"), units=D(1), id="p2")

METRIC_CASES = [
    pytest.param(
        Metric.POINTS,
        [P1, adjustment("2025-02-02", 50), sponsor("2025-02-03", 30)],
        D(150),
        id="points-count-purchases-and-adjustments-not-sponsor",
    ),
    pytest.param(
        Metric.POINTS, [P1, refund("2025-04-01", 60, "p1")], D(40), id="points-refund-negative"
    ),
    pytest.param(
        Metric.SPONSOR_POINTS,
        [P1, sponsor("2025-02-03", 30), sponsor("2025-02-04", 5)],
        D(35),
        id="sponsor-points-only-from-sponsor-entries",
    ),
    pytest.param(Metric.SPEND, [P1, P2], D("50.50"), id="spend-sums-decimals"),
    pytest.param(
        Metric.SPEND,
        [P1, refund("2025-04-01", 0, "p1", spend=D("-0.50"))],
        D(40),
        id="spend-refund-negative",
    ),
    pytest.param(Metric.UNITS, [P1, P2], D(4), id="units-sum"),
    pytest.param(
        Metric.UNITS, [P1, refund("2025-04-01", 0, "p1", units=D(-1))], D(2), id="units-refund"
    ),
    pytest.param(
        Metric.VISITS,
        [P1, P2, adjustment("2025-02-02", 50), sponsor("2025-02-03", 1)],
        D(2),
        id="visits-count-purchases-only",
    ),
    pytest.param(
        Metric.VISITS,
        [P1, P2, refund("2025-04-01", 100, "p1", spend=D("-40.50"), units=D(-3))],
        D(1),
        id="visits-full-refund-takes-the-visit-back",
    ),
    pytest.param(
        Metric.VISITS,
        [P1, P2, refund("2025-04-01", 60, "p1", spend=D("-20"), units=D(-1))],
        D(2),
        id="visits-partial-refund-keeps-the-visit",
    ),
    pytest.param(
        Metric.VISITS,
        [
            P1,
            refund("2025-04-01", 60, "p1", spend=D("-20"), units=D(-1)),
            refund("2025-04-02", 40, "p1", spend=D("-20.50"), units=D(-2)),
        ],
        D(0),
        id="visits-refunds-that-add-up-to-full-take-the-visit-back",
    ),
    pytest.param(
        Metric.ACHIEVEMENTS,
        [P1, achievement("2025-02-05", "a"), achievement("2025-02-06", "b")],
        D(2),
        id="achievements-count-achievement-entries",
    ),
]


@pytest.mark.parametrize(("metric", "entries", "expected"), METRIC_CASES)
def test_each_metric_sums_its_own_contribution(
    metric: Metric, entries: list[Entry], expected: Decimal
) -> None:
    assert window_value(metric, entries) == expected


# ------------------------------------------------------------------------- qualifying filter

WEB = purchase("2025-02-01", 100, business_unit="web", behaviour_type="online", id="web")
STORE = purchase("2025-02-02", 200, business_unit="store", behaviour_type="instore", id="store")
BASKET = purchase(
    "2025-02-03",
    70,
    spend=D(35),
    units=D(6),
    items=(
        Item(sku="A", category="shoes", quantity=D(1), amount=D(20)),
        Item(sku="B", category="socks", quantity=D(2), amount=D(5)),
        Item(sku="C", category="shoes", quantity=D(3), amount=D(10)),
    ),
    id="basket",
)
OTHER_BASKET = purchase(
    "2025-02-04",
    40,
    spend=D(8),
    units=D(1),
    items=(Item(sku="Z", category="hats", quantity=D(1), amount=D(8)),),
    id="hats",
)
BASKET_REFUND = refund(
    "2025-03-01",
    70,
    "basket",
    spend=D(-35),
    units=D(-6),
    items=(Item(sku="A", category="shoes", quantity=D(1), amount=D(20)),),
)

FILTER_CASES = [
    pytest.param(Metric.POINTS, QualifyingFilter(), [WEB, STORE], D(300), id="empty-filter-all"),
    pytest.param(
        Metric.POINTS,
        QualifyingFilter(business_units=frozenset({"web"})),
        [WEB, STORE],
        D(100),
        id="business-units",
    ),
    pytest.param(
        Metric.POINTS,
        QualifyingFilter(behaviour_types=frozenset({"instore"})),
        [WEB, STORE],
        D(200),
        id="behaviour-types",
    ),
    pytest.param(
        Metric.POINTS,
        QualifyingFilter(business_units=frozenset({"web"}), behaviour_types=frozenset({"x"})),
        [WEB, STORE],
        D(0),
        id="business-unit-and-behaviour-type-both-apply",
    ),
    pytest.param(
        Metric.SPEND,
        QualifyingFilter(skus=frozenset({"A"})),
        [BASKET, OTHER_BASKET],
        D(20),
        id="sku-filter-spend-counts-matching-items-only",
    ),
    pytest.param(
        Metric.UNITS,
        QualifyingFilter(categories=frozenset({"shoes"})),
        [BASKET, OTHER_BASKET],
        D(4),
        id="category-filter-units-counts-matching-items-only",
    ),
    pytest.param(
        Metric.SPEND,
        QualifyingFilter(skus=frozenset({"B"}), categories=frozenset({"hats"})),
        [BASKET, OTHER_BASKET],
        D(13),
        id="sku-or-category-matches",
    ),
    pytest.param(
        Metric.POINTS,
        QualifyingFilter(skus=frozenset({"A"})),
        [BASKET, OTHER_BASKET],
        D(70),
        id="item-filter-points-whole-entry-when-an-item-matches",
    ),
    pytest.param(
        Metric.SPEND,
        QualifyingFilter(skus=frozenset({"A"})),
        [BASKET, BASKET_REFUND],
        D(0),
        id="item-filter-refund-takes-matching-items-back",
    ),
    pytest.param(
        Metric.POINTS,
        QualifyingFilter(skus=frozenset({"A"})),
        [purchase("2025-02-01", 500)],
        D(0),
        id="item-filter-entry-without-items-does-not-qualify",
    ),
]


@pytest.mark.parametrize(("metric", "qualifying", "entries", "expected"), FILTER_CASES)
def test_only_entries_passing_the_qualifying_filter_count(
    metric: Metric, qualifying: QualifyingFilter, entries: list[Entry], expected: Decimal
) -> None:
    assert window_value(metric, entries, qualifying=qualifying) == expected


def test_a_spend_group_upgrades_on_decimal_spend() -> None:
    rules = omneo_group(metric=Metric.SPEND)
    entries = [
        purchase("2025-02-01", 0, spend=D("999.99")),
        purchase("2025-02-02", 0, spend=D("0.01")),
    ]
    assert run(rules, ENROLLED, entries, "2025-02-01 12:00").state.tier_id == 1
    assert run(rules, ENROLLED, entries, "2025-02-02").state.tier_id == 2


def test_a_non_qualifying_entry_never_upgrades() -> None:
    rules = omneo_group(qualifying=QualifyingFilter(business_units=frozenset({"web"})))
    entries = [purchase("2025-02-01", 5000, business_unit="store")]
    assert run(rules, ENROLLED, entries, "2025-03-01").state.tier_id == 1


# ------------------------------------------------------------------------------- windows

AS_OF = "2025-06-15 12:00"
T = at(AS_OF)


def _at_offset(delta: timedelta, points: int) -> Entry:
    return Entry(id=f"x{delta}", member_id="m1", occurred_at=T - delta, points=D(points))


ROLLING_30 = Window(kind=WindowKind.ROLLING, days=30)

ROLLING_CASES = [
    pytest.param(timedelta(days=30), D(0), id="at-T-minus-days-excluded"),
    pytest.param(timedelta(days=30, seconds=-1), D(7), id="T-minus-days-plus-1s-included"),
    pytest.param(timedelta(0), D(7), id="at-T-included"),
    pytest.param(timedelta(seconds=-1), D(0), id="after-T-not-yet"),
]


@pytest.mark.parametrize(("before_as_of", "expected"), ROLLING_CASES)
def test_rolling_window_is_half_open(before_as_of: timedelta, expected: Decimal) -> None:
    entries = [_at_offset(before_as_of, 7)]
    assert window_value(Metric.POINTS, entries, window=ROLLING_30, as_of=AS_OF) == expected


def test_a_window_bounds_each_kind_as_of_an_instant() -> None:
    instant, period_start = at("2025-06-15 12:00"), at("2025-06-01")
    assert ROLLING_30.bounds(instant, period_start) == (at("2025-05-16 12:00"), instant)
    calendar = Window(kind=WindowKind.CALENDAR, period=Period.MONTH)
    assert calendar.bounds(instant, period_start) == (period_start, instant)
    assert LIFETIME.bounds(instant, period_start) == (None, instant)


CALENDAR_CASES = [
    # (window, entries as (when, points), as_of, expected value, expected window_from)
    pytest.param(
        Window(kind=WindowKind.CALENDAR, period=Period.MONTH),
        [("2025-05-31 23:59:59", 1), ("2025-06-01 00:00", 10), ("2025-06-15 12:00", 100)],
        AS_OF,
        D(110),
        "2025-05-31 23:59:59",
        id="month-from-the-first",
    ),
    pytest.param(
        Window(kind=WindowKind.CALENDAR, period=Period.QUARTER),
        [("2025-03-31 23:59:59", 1), ("2025-04-01 00:00", 10), ("2025-06-01", 100)],
        AS_OF,
        D(110),
        "2025-03-31 23:59:59",
        id="quarter-from-april",
    ),
    pytest.param(
        Window(kind=WindowKind.CALENDAR, period=Period.YEAR),
        [("2024-12-31 23:59:59", 1), ("2025-01-01", 10), ("2025-06-01", 100)],
        AS_OF,
        D(110),
        "2024-12-31 23:59:59",
        id="year-from-january",
    ),
    pytest.param(
        Window(kind=WindowKind.CALENDAR, period=Period.YEAR, reset_at=at("2020-07-01")),
        [("2025-06-30 23:59:59", 1), ("2025-07-01 00:00", 10), ("2025-08-01", 100)],
        "2025-09-01",
        D(110),
        "2025-06-30 23:59:59",
        id="year-anchored-at-reset-at-july",
    ),
    pytest.param(
        Window(kind=WindowKind.CALENDAR, period=Period.MONTH, reset_at=at("2024-01-15")),
        [("2025-06-14 23:59:59", 1), ("2025-06-15 00:00", 10)],
        AS_OF,
        D(10),
        "2025-06-14 23:59:59",
        id="month-anchored-mid-month",
    ),
    pytest.param(
        Window(kind=WindowKind.CALENDAR, period=Period.QUARTER, reset_at=at("2024-02-01")),
        [("2025-04-30 23:59:59", 1), ("2025-05-01 00:00", 10)],
        AS_OF,
        D(10),
        "2025-04-30 23:59:59",
        id="quarter-anchored-at-february",
    ),
    pytest.param(
        Window(kind=WindowKind.LIFETIME),
        [("2025-01-01 00:00:01", 1), ("2025-06-15 12:00", 10), ("2025-06-15 12:00:01", 100)],
        AS_OF,
        D(11),
        None,
        id="lifetime-everything-up-to-T",
    ),
]


@pytest.mark.parametrize(("window", "dated", "as_of", "expected", "window_from"), CALENDAR_CASES)
def test_calendar_and_lifetime_windows(
    window: Window,
    dated: list[tuple[str, int]],
    as_of: str,
    expected: Decimal,
    window_from: str | None,
) -> None:
    rules = omneo_group(window=window)
    entries = [purchase(when, points) for when, points in dated]
    figures = run(rules, ENROLLED, entries, as_of).state.figures
    assert figures.window_value == expected
    assert figures.window_from == (None if window_from is None else at(window_from))
    assert figures.window_to == at(as_of)


def test_calendar_month_starts_at_local_midnight_in_the_program_timezone() -> None:
    melbourne = ZoneInfo("Australia/Melbourne")
    # 1 June 00:00 in Melbourne (AEST, +10) is 31 May 14:00 UTC.
    first = datetime(2025, 6, 1, tzinfo=melbourne).astimezone(UTC)
    entries = [
        Entry(id="before", member_id="m1", occurred_at=first - timedelta(seconds=1), points=D(1)),
        Entry(id="first", member_id="m1", occurred_at=first, points=D(10)),
    ]
    window = Window(kind=WindowKind.CALENDAR, period=Period.MONTH)
    value = window_value(
        Metric.POINTS, entries, window=window, as_of=AS_OF, timezone="Australia/Melbourne"
    )
    assert value == 10


def test_a_rolling_window_value_falls_when_an_entry_leaves() -> None:
    rules = omneo_group(window=ROLLING_30)
    entries = [purchase("2025-02-01 10:00", 300), purchase("2025-02-10 10:00", 50)]
    assert run(rules, ENROLLED, entries, "2025-03-03 09:59:59").state.figures.window_value == 350
    assert run(rules, ENROLLED, entries, "2025-03-03 10:00").state.figures.window_value == 50
