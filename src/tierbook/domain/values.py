"""Window values over a ledger: `V(metric, from, to)` in O(log n) with prefix sums."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from itertools import accumulate, compress
from operator import attrgetter

from tierbook.domain.ledger import (
    ZERO,
    Entry,
    EntryKind,
    contributions,
    qualifies,
    visit_reversals,
)
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


_IN_LEDGER_ORDER = attrgetter("occurred_at", "id")


class Ledger:
    """A member's (or household's) qualifying entries, indexed for one group's rules.

    Nothing here changes once built, and every index is built on first use: the groups of a
    subject that share a qualifying filter share one ledger, and each index is built once.
    """

    def __init__(self, entries: Sequence[Entry], qualifying: QualifyingFilter) -> None:
        # Ties broken by id, so the order entries arrive in never shows in a result.
        ordered = sorted(entries, key=_IN_LEDGER_ORDER)
        self.entries = ordered
        self._counted: list[bool] | None = None
        if qualifying.counts_all:
            self.qualifying = ordered
        else:
            self._counted = [qualifies(e, qualifying) for e in ordered]
            self.qualifying = list(compress(ordered, self._counted))
        self.filter = qualifying
        self._series: dict[Metric, Series] = {}

    @cached_property
    def by_id(self) -> dict[str, Entry]:
        return {e.id: e for e in self.entries}

    @cached_property
    def times(self) -> list[datetime]:
        """Each entry's `occurred_at`, in ledger order: entries that share an instant stand
        together, and `bisect_right(times, at)` is where the entries dated after `at` start."""
        return [e.occurred_at for e in self.entries]

    @cached_property
    def ids(self) -> list[str]:
        """Each entry's id, in ledger order."""
        return [e.id for e in self.entries]

    @cached_property
    def _qualifying_times(self) -> list[datetime]:
        if self.qualifying is self.entries:
            return self.times
        return [e.occurred_at for e in self.qualifying]

    @cached_property
    def activity(self) -> list[bool]:
        """For each entry, in ledger order, whether it keeps a member active: a qualifying
        entry other than a refund."""
        counted = self._counted
        if counted is None:
            return [e.counts_as_activity for e in self.entries]
        return [e.counts_as_activity and q for e, q in zip(self.entries, counted, strict=True)]

    @cached_property
    def reversing(self) -> list[bool]:
        """For each entry, in ledger order, whether it is a refund that names what it reverses."""
        return [e.kind is EntryKind.REFUND and e.reverses is not None for e in self.entries]

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
        entries = self.qualifying
        reversed_visits = self._reversed_visits if metric is Metric.VISITS else ()
        values = contributions(entries, metric, self.filter, reversed_visits=reversed_visits)
        # An entry that adds nothing (a zero) is left out of the series.
        times = tuple(compress(self._qualifying_times, values))
        amounts = tuple(compress(values, values))
        return Series(times=times, amounts=amounts, totals=tuple(accumulate(amounts, initial=ZERO)))

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
