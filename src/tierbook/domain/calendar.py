"""Calendar arithmetic in a program's timezone.

Instants are timezone-aware and compared in UTC; days, months and periods are counted on the
program's local calendar. "End of day" is 23:59:59 local. Month arithmetic clamps to the last
day of a shorter month (29 Feb + 12 months = 28 Feb), as python-dateutil's `relativedelta` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from tierbook.domain.rules import Period

END_OF_DAY = time(23, 59, 59)
DEFAULT_ANCHOR = date(2000, 1, 1)


def utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC)


def _local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def end_of_day(instant: datetime, tz: ZoneInfo) -> datetime:
    """23:59:59 on the local day of `instant`, as a UTC instant."""
    return _local_instant(instant.astimezone(tz).date(), END_OF_DAY, tz)


def add_months(instant: datetime, months: int, tz: ZoneInfo) -> datetime:
    local = instant.astimezone(tz).replace(tzinfo=None) + _months(months)
    return local.replace(tzinfo=tz).astimezone(UTC)


@lru_cache(maxsize=1024)
def _months(months: int) -> relativedelta:
    # A relativedelta is immutable once made, and making one costs more than adding it.
    return relativedelta(months=months)


def anniversary(achieved_at: datetime, term_months: int, tz: ZoneInfo) -> datetime:
    """End of day of `achieved_at` plus the term."""
    return end_of_day(add_months(achieved_at, term_months, tz), tz)


def add_days(instant: datetime, days: int) -> datetime:
    return instant + timedelta(days=days)


@dataclass(frozen=True, slots=True)
class PeriodCalendar:
    """Calendar periods of `period` months, starting on the anchor's local date.

    Period k covers the instants in `(end(k - 1), end(k)]`, where `end(k)` is 23:59:59 local on
    the last day of the period: the same half-open convention as every window value.
    """

    period: Period
    tz: ZoneInfo
    anchor: date = DEFAULT_ANCHOR

    @classmethod
    def of(cls, period: Period, tz: ZoneInfo, reset_at: datetime | None) -> PeriodCalendar:
        anchor = DEFAULT_ANCHOR if reset_at is None else reset_at.astimezone(tz).date()
        return cls(period=period, tz=tz, anchor=anchor)

    def start_date(self, k: int) -> date:
        return _period_start(self.anchor, _MONTHS[self.period], k)

    def end(self, k: int) -> datetime:
        return _period_end(self.anchor, _MONTHS[self.period], self.tz, k)

    def index(self, instant: datetime) -> int:
        """The k whose period holds `instant`."""
        local = instant.astimezone(self.tz).date()
        months = (local.year - self.anchor.year) * 12 + local.month - self.anchor.month
        k = months // _MONTHS[self.period]
        while self.end(k) < instant:
            k += 1
        while self.end(k - 1) >= instant:
            k -= 1
        return k

    def bounds(self, instant: datetime) -> tuple[datetime, datetime]:
        """`(previous period's end, this period's end)` for the period holding `instant`."""
        k = self.index(instant)
        return self.end(k - 1), self.end(k)


_MONTHS = {period: period.months for period in Period}


# Period boundaries are a handful of dates per program, asked for at almost every step of the
# clock: computed once each.
@lru_cache(maxsize=8192)
def _period_start(anchor: date, months: int, k: int) -> date:
    return anchor + relativedelta(months=k * months)


@lru_cache(maxsize=8192)
def _period_end(anchor: date, months: int, tz: ZoneInfo, k: int) -> datetime:
    return _local_instant(_period_start(anchor, months, k + 1) - timedelta(days=1), END_OF_DAY, tz)
