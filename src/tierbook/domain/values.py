"""Window values over a ledger: `V(metric, from, to)` in O(log n) with prefix sums."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from itertools import accumulate, compress

from tierbook.domain.ledger import (
    ACTIVITY_KINDS,
    ZERO,
    Entries,
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


class Ledger:
    """A member's (or household's) entries, indexed for one group's rules and qualifying filter.

    Held as columns (`Entries`), in ledger order: by `occurred_at`, ties broken by id, so the
    order entries arrive in never shows in a result. Nothing here changes once built, and every
    index is built on first use: the groups of a subject that share a qualifying filter share
    one ledger, and each index is built once.
    """

    def __init__(self, entries: Sequence[Entry] | Entries, qualifying: QualifyingFilter) -> None:
        columns = entries if isinstance(entries, Entries) else Entries.of(entries)
        keys = list(zip(columns.occurred_at, columns.id, strict=True))
        order = sorted(range(len(keys)), key=keys.__getitem__)
        if order != list(range(len(order))):
            columns = columns.taken(order)
        self.columns = columns
        self.times: Sequence[datetime] = columns.occurred_at
        """Each entry's `occurred_at`, in ledger order: entries that share an instant stand
        together, and `bisect_right(times, at)` is where the entries dated after `at` start."""
        self.ids: Sequence[str] = columns.id
        """Each entry's id, in ledger order."""
        self._counted: list[bool] | None = None
        """For each entry, whether it passes the qualifying filter (None: every entry does)."""
        if not qualifying.counts_all:
            self._counted = [
                qualifies(unit, behaviour, items, qualifying)
                for unit, behaviour, items in zip(
                    columns.business_unit, columns.behaviour_type, columns.items, strict=True
                )
            ]
        self.filter = qualifying
        self._series: dict[Metric, Series] = {}

    def __len__(self) -> int:
        return len(self.columns)

    def entries(self, start: int, stop: int) -> list[Entry]:
        """The entries from index `start` up to `stop`, in ledger order."""
        return [self.columns.entry(i) for i in range(start, stop)]

    @cached_property
    def _index(self) -> dict[str, int]:
        return {entry_id: i for i, entry_id in enumerate(self.ids)}

    def entry(self, entry_id: str) -> Entry | None:
        """The entry of this id, if the ledger holds it."""
        i = self._index.get(entry_id)
        return None if i is None else self.columns.entry(i)

    def last_active(self, start: int, stop: int) -> int | None:
        """The last of the entries `start` up to `stop` that keeps a member active (a
        qualifying entry other than a refund), if any.

        Asked of a range rather than built for the whole ledger: a run resumed from a stored
        state looks at the few entries dated after it."""
        kinds, counted = self.columns.kind, self._counted
        for i in range(stop - 1, start - 1, -1):
            if kinds[i] in ACTIVITY_KINDS and (counted is None or counted[i]):
                return i
        return None

    def first_reversing(self, start: int, stop: int) -> int | None:
        """The first of the entries `start` up to `stop` that is a refund naming what it
        reverses, if any."""
        kinds, reverses = self.columns.kind, self.columns.reverses
        i = start
        while i < stop:
            try:
                i = kinds.index(EntryKind.REFUND, i, stop)
            except ValueError:
                return None
            if reverses[i] is not None:
                return i
            i += 1
        return None

    @cached_property
    def _reversed_visits(self) -> set[str]:
        return visit_reversals(self.entries(0, len(self)))

    def series(self, metric: Metric) -> Series:
        found = self._series.get(metric)
        if found is None:
            found = self._build(metric)
            self._series[metric] = found
        return found

    def _build(self, metric: Metric) -> Series:
        reversed_visits = self._reversed_visits if metric is Metric.VISITS else ()
        values = contributions(self.columns, metric, self.filter, reversed_visits=reversed_visits)
        if self._counted is not None:
            values = [v if q else ZERO for v, q in zip(values, self._counted, strict=True)]
        # An entry that adds nothing (a zero, or one that does not qualify) is left out.
        times = tuple(compress(self.times, values))
        amounts = tuple(compress(values, values))
        return Series(times=times, amounts=amounts, totals=tuple(accumulate(amounts, initial=ZERO)))

    def value(self, metric: Metric, start: datetime | None, end: datetime) -> Decimal:
        return self.series(metric).value(start, end)

    def achievements(self, start: datetime | None, end: datetime) -> list[Entry]:
        """The qualifying entries with an achievement id in `(start, end]`."""
        c, counted = self.columns, self._counted
        return [
            c.entry(i)
            for i, (achievement, at) in enumerate(zip(c.achievement_id, self.times, strict=True))
            if achievement is not None
            and (counted is None or counted[i])
            and (start is None or at > start)
            and at <= end
        ]
