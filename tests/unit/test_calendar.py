"""Calendar arithmetic in a program's timezone: end of day, months, periods."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tierbook.domain.calendar import (
    PeriodCalendar,
    add_days,
    add_months,
    anniversary,
    end_of_day,
)
from tierbook.domain.rules import Period

UTC_ZONE = ZoneInfo("UTC")
MELBOURNE = ZoneInfo("Australia/Melbourne")
NEW_YORK = ZoneInfo("America/New_York")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def wall(text: str, tz: ZoneInfo) -> datetime:
    """A local wall-clock time in `tz`, as a UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(UTC)


# -------------------------------------------------------------------------- end of day

END_OF_DAY_CASES = [
    pytest.param("2025-03-01 10:00:00", UTC_ZONE, "2025-03-01 23:59:59", id="utc"),
    pytest.param("2025-03-01 23:59:59", UTC_ZONE, "2025-03-01 23:59:59", id="utc-already-there"),
    pytest.param("2025-01-10 10:00:00", MELBOURNE, "2025-01-10 12:59:59", id="melbourne-same-day"),
    pytest.param("2025-01-10 14:00:00", MELBOURNE, "2025-01-11 12:59:59", id="melbourne-next-day"),
    pytest.param("2025-06-10 10:00:00", MELBOURNE, "2025-06-10 13:59:59", id="melbourne-winter"),
    pytest.param("2025-04-05 20:00:00", MELBOURNE, "2025-04-06 13:59:59", id="dst-ends-that-day"),
    pytest.param("2025-10-04 20:00:00", MELBOURNE, "2025-10-05 12:59:59", id="dst-starts-that-day"),
    pytest.param("2025-03-09 12:00:00", NEW_YORK, "2025-03-10 03:59:59", id="new-york-dst-day"),
    pytest.param("2025-03-10 03:59:59", NEW_YORK, "2025-03-10 03:59:59", id="new-york-last-second"),
]


@pytest.mark.parametrize(("instant", "tz", "expected"), END_OF_DAY_CASES)
def test_end_of_day_is_23_59_59_local(instant: str, tz: ZoneInfo, expected: str) -> None:
    result = end_of_day(utc(instant), tz)
    assert result == utc(expected)
    assert result.astimezone(tz).time().isoformat() == "23:59:59"


# -------------------------------------------------------------------------- add months

ADD_MONTHS_CASES = [
    pytest.param("2025-01-31 10:00", 1, UTC_ZONE, "2025-02-28 10:00", id="31-jan-to-28-feb"),
    pytest.param("2024-01-31 10:00", 1, UTC_ZONE, "2024-02-29 10:00", id="leap-year-29-feb"),
    pytest.param("2024-02-29 10:00", 12, UTC_ZONE, "2025-02-28 10:00", id="29-feb-plus-12"),
    pytest.param("2024-02-29 10:00", 48, UTC_ZONE, "2028-02-29 10:00", id="29-feb-plus-48"),
    pytest.param("2025-01-31 10:00", 2, UTC_ZONE, "2025-03-31 10:00", id="counted-not-chained"),
    pytest.param("2025-03-31 10:00", -1, UTC_ZONE, "2025-02-28 10:00", id="backwards-clamps"),
    pytest.param("2025-05-31 10:00", 1, UTC_ZONE, "2025-06-30 10:00", id="31-may-to-30-jun"),
]


@pytest.mark.parametrize(("start", "months", "tz", "expected"), ADD_MONTHS_CASES)
def test_add_months_clamps_to_the_last_day_of_a_short_month(
    start: str, months: int, tz: ZoneInfo, expected: str
) -> None:
    assert add_months(utc(start), months, tz) == utc(expected)


def test_add_months_keeps_the_local_wall_time_across_a_dst_change() -> None:
    start = wall("2025-03-15 10:00", MELBOURNE)  # AEDT, +11
    result = add_months(start, 1, MELBOURNE)  # AEST, +10
    assert result == wall("2025-04-15 10:00", MELBOURNE)
    assert result - start == timedelta(days=31, hours=1)


def test_add_months_clamps_on_the_local_calendar() -> None:
    # 31 Jan 20:00 UTC is already 1 Feb in Melbourne: a month on is 1 March local.
    assert add_months(utc("2025-01-31 20:00"), 1, MELBOURNE) == wall("2025-03-01 07:00", MELBOURNE)


@pytest.mark.parametrize(
    ("achieved", "term", "expected"),
    [
        pytest.param("2025-01-10 10:00", 12, "2026-01-10 23:59:59", id="a-year"),
        pytest.param("2024-02-29 10:00", 12, "2025-02-28 23:59:59", id="leap-day"),
        pytest.param("2025-01-31 10:00", 1, "2025-02-28 23:59:59", id="month-end"),
    ],
)
def test_anniversary_is_end_of_day_one_term_on(achieved: str, term: int, expected: str) -> None:
    assert anniversary(utc(achieved), term, UTC_ZONE) == utc(expected)


def test_add_days_counts_elapsed_time() -> None:
    assert add_days(utc("2025-04-05 10:00"), 1) == utc("2025-04-06 10:00")


# ---------------------------------------------------------------------------- periods

BOUNDS_CASES = [
    # (period, anchor (reset_at), tz, instant, expected previous end, expected end)
    pytest.param(
        Period.MONTH,
        None,
        UTC_ZONE,
        "2025-06-15 12:00",
        "2025-05-31 23:59:59",
        "2025-06-30 23:59:59",
        id="month",
    ),
    pytest.param(
        Period.MONTH,
        None,
        UTC_ZONE,
        "2025-06-30 23:59:59",
        "2025-05-31 23:59:59",
        "2025-06-30 23:59:59",
        id="the-last-second-belongs-to-its-period",
    ),
    pytest.param(
        Period.MONTH,
        None,
        UTC_ZONE,
        "2025-07-01 00:00:00",
        "2025-06-30 23:59:59",
        "2025-07-31 23:59:59",
        id="the-next-second-is-the-next-period",
    ),
    pytest.param(
        Period.QUARTER,
        None,
        UTC_ZONE,
        "2025-05-01",
        "2025-03-31 23:59:59",
        "2025-06-30 23:59:59",
        id="quarter",
    ),
    pytest.param(
        Period.YEAR,
        None,
        UTC_ZONE,
        "2025-05-01",
        "2024-12-31 23:59:59",
        "2025-12-31 23:59:59",
        id="year",
    ),
    pytest.param(
        Period.YEAR,
        utc("2020-07-01 00:00"),
        UTC_ZONE,
        "2025-09-01",
        "2025-06-30 23:59:59",
        "2026-06-30 23:59:59",
        id="fiscal-year-from-reset-at",
    ),
    pytest.param(
        Period.QUARTER,
        utc("2024-02-01 00:00"),
        UTC_ZONE,
        "2025-04-30 23:59:59",
        "2025-01-31 23:59:59",
        "2025-04-30 23:59:59",
        id="quarters-from-february",
    ),
    pytest.param(
        Period.MONTH,
        utc("2025-01-31 00:00"),
        UTC_ZONE,
        "2025-03-15",
        "2025-02-27 23:59:59",
        "2025-03-30 23:59:59",
        id="anchor-on-the-31st-clamps-without-drifting",
    ),
    pytest.param(
        Period.YEAR,
        utc("2030-01-01 00:00"),
        UTC_ZONE,
        "2025-05-01",
        "2024-12-31 23:59:59",
        "2025-12-31 23:59:59",
        id="instant-before-the-anchor",
    ),
]


@pytest.mark.parametrize(
    ("period", "reset_at", "tz", "instant", "previous_end", "end"), BOUNDS_CASES
)
def test_period_bounds(
    period: Period,
    reset_at: datetime | None,
    tz: ZoneInfo,
    instant: str,
    previous_end: str,
    end: str,
) -> None:
    calendar = PeriodCalendar.of(period, tz, reset_at)
    assert calendar.bounds(utc(instant)) == (utc(previous_end), utc(end))


MELBOURNE_CASES = [
    pytest.param("2025-06-15 12:00", "2025-05-31 23:59:59", "2025-06-30 23:59:59", id="winter"),
    pytest.param("2025-01-15 12:00", "2024-12-31 23:59:59", "2025-01-31 23:59:59", id="summer"),
    pytest.param("2025-04-06 12:00", "2025-03-31 23:59:59", "2025-04-30 23:59:59", id="dst-ends"),
    pytest.param("2025-10-05 12:00", "2025-09-30 23:59:59", "2025-10-31 23:59:59", id="dst-starts"),
]


@pytest.mark.parametrize(("local_instant", "previous_end", "end"), MELBOURNE_CASES)
def test_period_bounds_are_local_end_of_day_across_dst(
    local_instant: str, previous_end: str, end: str
) -> None:
    calendar = PeriodCalendar.of(Period.MONTH, MELBOURNE, None)
    bounds = calendar.bounds(wall(local_instant, MELBOURNE))
    assert bounds == (wall(previous_end, MELBOURNE), wall(end, MELBOURNE))


def test_reset_at_anchors_on_its_local_date() -> None:
    # 30 June 15:00 UTC is 1 July 01:00 in Melbourne: the year runs July to June locally.
    calendar = PeriodCalendar.of(Period.YEAR, MELBOURNE, utc("2025-06-30 15:00"))
    assert calendar.anchor == date(2025, 7, 1)
    assert calendar.end(0) == wall("2026-06-30 23:59:59", MELBOURNE)
    assert calendar.index(wall("2025-07-01 00:00", MELBOURNE)) == 0
    assert calendar.index(wall("2025-06-30 23:59:59", MELBOURNE)) == -1


def test_index_counts_periods_from_the_anchor() -> None:
    calendar = PeriodCalendar.of(Period.QUARTER, UTC_ZONE, utc("2025-01-01"))
    assert calendar.index(utc("2025-01-01 00:00")) == 0
    assert calendar.index(utc("2025-03-31 23:59:59")) == 0
    assert calendar.index(utc("2025-04-01 00:00")) == 1
    assert calendar.index(utc("2024-12-31 23:59:59")) == -1
    assert calendar.start_date(4) == date(2026, 1, 1)


ZONES = st.sampled_from([UTC_ZONE, MELBOURNE, NEW_YORK, ZoneInfo("Asia/Kolkata")])
INSTANTS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
ANCHORS = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(2018, 1, 1), max_value=datetime(2032, 1, 1), timezones=st.just(UTC)
    ),
)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(period=st.sampled_from(list(Period)), tz=ZONES, anchor=ANCHORS, instant=INSTANTS)
def test_every_instant_falls_in_exactly_one_period(
    period: Period, tz: ZoneInfo, anchor: datetime | None, instant: datetime
) -> None:
    calendar = PeriodCalendar.of(period, tz, anchor)
    k = calendar.index(instant)
    start, end = calendar.bounds(instant)
    assert (start, end) == (calendar.end(k - 1), calendar.end(k))
    assert start < instant <= end
    assert end.astimezone(tz).time().isoformat() == "23:59:59"
    assert calendar.index(end) == k
    assert calendar.index(end + timedelta(seconds=1)) == k + 1
