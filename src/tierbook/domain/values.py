"""Window values over a ledger: `V(metric, from, to)` in O(log n) with prefix sums."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property

from tierbook.domain.ledger import ZERO, Entry, contribution, qualifies, visit_reversals
from tierbook.domain.rules import Metric, QualifyingFilter


@dataclass(frozen=True, slots=True)
class Series:
    """One metric's contributions, in time order, with running totals."""

    times: tuple[datetime, ...]
    amounts: tuple[Decimal, ...]
    totals: tuple[Decimal, ...]

    def cumulative(self, at: datetime | None) -> Decimal:
        """Sum of contributions with `occurred_at <= at` (nothing for `None`)."""
        if at is None:
            return ZERO
        return self.totals[bisect_right(self.times, at)]

    def value(self, start: datetime | None, end: datetime) -> Decimal:
        """`V(start, end)`: contributions with `start < occurred_at <= end`."""
        if start is None:
            return self.totals[bisect_right(self.times, end)]
        if start >= end:
            return ZERO
        times, totals = self.times, self.totals
        return totals[bisect_right(times, end)] - totals[bisect_right(times, start)]

    def first_after(self, start: datetime | None, end: datetime, *, positive: bool) -> int | None:
        """Index of the first contribution in `(start, end]` (positive ones only if asked)."""
        i = 0 if start is None else bisect_right(self.times, start)
        stop = bisect_right(self.times, end)
        while i < stop:
            if not positive or self.amounts[i] > 0:
                return i
            i += 1
        return None


class Ledger:
    """A member's (or household's) qualifying entries, indexed for one group's rules."""

    def __init__(self, entries: Sequence[Entry], qualifying: QualifyingFilter) -> None:
        # Ties broken by id, so the order entries arrive in never shows in a result.
        ordered = sorted(entries, key=lambda e: (e.occurred_at, e.id))
        self.entries = ordered
        self.qualifying = [e for e in ordered if qualifies(e, qualifying)]
        self._filter = qualifying
        self._series: dict[Metric, Series] = {}

    @cached_property
    def by_id(self) -> dict[str, Entry]:
        return {e.id: e for e in self.entries}

    @cached_property
    def _reversed_visits(self) -> set[str]:
        return visit_reversals(self.entries)

    def series(self, metric: Metric) -> Series:
        found = self._series.get(metric)
        if found is None:
            found = self._build(metric)
            self._series[metric] = found
        return found

    def _build(self, metric: Metric) -> Series:
        # One pass, no intermediate lists: a series is built for every group of every state a
        # sweep moves.
        times: list[datetime] = []
        amounts: list[Decimal] = []
        totals = [ZERO]
        total = ZERO
        rules = self._filter
        reversed_visits = self._reversed_visits if metric is Metric.VISITS else ()
        for entry in self.qualifying:
            if entry.id in reversed_visits:
                amount = Decimal(-1)
            else:
                amount = contribution(entry, metric, rules)
            if amount:
                times.append(entry.occurred_at)
                amounts.append(amount)
                total += amount
                totals.append(total)
        return Series(times=tuple(times), amounts=tuple(amounts), totals=tuple(totals))

    def value(self, metric: Metric, start: datetime | None, end: datetime) -> Decimal:
        return self.series(metric).value(start, end)

    def achievements(self, start: datetime | None, end: datetime) -> list[Entry]:
        return [
            e
            for e in self.qualifying
            if e.achievement_id is not None
            and (start is None or e.occurred_at > start)
            and e.occurred_at <= end
        ]
