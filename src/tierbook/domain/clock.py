"""The tier clock: a member's tier state as a pure function of rules, ledger, assignments and time.

`evaluate` replays time from enrolment to `as_of`, stopping at every instant where something can
change: a group of entries sharing an `occurred_at`, an assignment starting or ending, and the
state's own due instants (maintenance, grace end, inactivity deadline, pending promotion). At one
instant the order is fixed: assignment ends, assignment starts, entries, then due work (grace
end, maintenance, inactivity, pending promotion). Because every window is half-open
`(from, to]`, an entry at exactly an anniversary, period end or grace end still counts for it.

A state records its `basis`: a digest of every input that led to it (the clock's version, the
rules, the enrolment, the entries dated up to its instant and the assignments started by then).
Given an earlier state whose basis the inputs still match, `evaluate` resumes from it and runs
only the time since, with the same result as a replay from enrolment: what a new entry, an
assignment starting later or the passing of time costs no longer grows with the member's
history. An entry, assignment or rule change dated at or before the earlier state's instant
changes the basis, and the clock replays from enrolment.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tierbook.domain.calendar import PeriodCalendar, add_days, add_months, end_of_day
from tierbook.domain.ledger import ZERO, Entries, Entry, EntryKind
from tierbook.domain.rules import (
    DowngradePolicy,
    GroupRules,
    MaintenanceKind,
    Metric,
    QualifyingFilter,
    ReversalPolicy,
    Tier,
    WindowKind,
)
from tierbook.domain.state import (
    ActiveAssignment,
    Assignment,
    AssignmentMode,
    Decision,
    Evaluation,
    Figures,
    HistoryRecord,
    Reason,
    TierState,
)
from tierbook.domain.values import Ledger

TWELVE_MONTHS = timedelta(days=365)

CLOCK_VERSION = 1
"""Bump it whenever a rule's meaning changes: no state an older clock stored is resumed from."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class SubjectLedger(Ledger):
    """A subject's entries as the clock reads them under one qualifying filter: an entry dated
    before enrolment (imported history) counts as of enrolment, in every window as well as in
    the replay.

    `evaluate` builds one from the entries it is given; a caller that evaluates several groups
    of the same subject builds one per qualifying filter and passes it to each, so the ledger
    is sorted, filtered and indexed once rather than once per group.
    """

    def __init__(
        self,
        entries: Sequence[Entry] | Entries,
        qualifying: QualifyingFilter,
        enrolled_at: datetime,
    ) -> None:
        columns = entries if isinstance(entries, Entries) else Entries.of(entries)
        times = columns.occurred_at
        if times and min(times) < enrolled_at:
            moved = tuple(at if at >= enrolled_at else enrolled_at for at in times)
            columns = replace(columns, occurred_at=moved)
        super().__init__(columns, qualifying)
        self.enrolled_at = enrolled_at


def evaluate(
    rules: GroupRules,
    *,
    subject_id: str,
    enrolled_at: datetime,
    entries: Sequence[Entry] | Entries | SubjectLedger,
    assignments: Sequence[Assignment] = (),
    as_of: datetime,
    explain: bool = False,
    since: Evaluation | None = None,
) -> Evaluation:
    """The state of `subject_id` in the group of `rules` as of `as_of`, with history and trace.

    An `as_of` before enrolment evaluates as of enrolment: a member has a state from the moment
    it exists. `entries` may be a `SubjectLedger` built for this enrolment and these rules'
    qualifying filter, shared with the evaluations of the subject's other groups. `since` is
    an earlier evaluation of the same subject (a stored state and its history): where its basis
    still matches these inputs and it is not after `as_of`, the clock resumes from it instead
    of replaying from enrolment. The result is the same either way; an explanation always
    replays, to give every decision.
    """
    run = _Run(rules, subject_id, enrolled_at, entries, assignments, explain=explain)
    at = max(as_of, enrolled_at)
    resumed = since is not None and not explain and run.resumes_from(since.state, at)
    if since is not None and resumed:
        run.restore(since.state)
        prior = since.history
    else:
        run.enrol()
        prior = ()
    run.advance(at)
    return run.result(prior, resumed=resumed)


def _micros(value: datetime | None) -> int | None:
    return None if value is None else (value - _EPOCH) // _MICROSECOND


def _fmt(value: Decimal | datetime | int | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _num(value)
    return str(value)


def _num(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


class _Run:
    """The mutable machine behind `evaluate`. Every field is part of the state's meaning."""

    def __init__(
        self,
        rules: GroupRules,
        subject_id: str,
        enrolled_at: datetime,
        entries: Sequence[Entry] | Entries | SubjectLedger,
        assignments: Sequence[Assignment],
        *,
        explain: bool,
    ) -> None:
        self.rules = rules
        self.tz = rules.tz
        self.calendar = PeriodCalendar.of(rules.window.period, self.tz, rules.window.reset_at)
        self.subject_id = subject_id
        self.enrolled_at = enrolled_at
        if isinstance(entries, SubjectLedger):
            if (entries.enrolled_at, entries.filter) != (enrolled_at, rules.qualifying):
                raise ValueError("a ledger built for another enrolment or qualifying filter")
            self.ledger: Ledger = entries
        else:
            self.ledger = SubjectLedger(entries, rules.qualifying, enrolled_at)
        self.explain = explain
        self.metric = self.ledger.series(rules.metric)
        self.history: list[HistoryRecord] = []
        self.trace: list[Decision] = []
        # An assignment over before the member exists never took effect.
        self.assignments = sorted(
            (
                a
                for a in assignments
                if a.ends_at is None or a.ends_at > max(a.effective_at, enrolled_at)
            ),
            key=lambda a: (a.effective_at, a.assigned_at or a.effective_at, a.id),
        )
        # State.
        self.now = enrolled_at
        self.tier: Tier | None = None
        self.prev: Tier | None = None
        self.achieved_at = enrolled_at
        self.last_reason = Reason.ENROLLED
        self.anniversary_at: datetime | None = None
        self.maintained_at: datetime | None = None
        self.year_start = enrolled_at
        self.credit = ZERO
        self.grace_until: datetime | None = None
        self.grace_anniversary: datetime | None = None
        self.assigned_at: datetime | None = None
        self.assignment: ActiveAssignment | None = None
        self.assignment_ends: datetime | None = None
        self.last_activity_at: datetime | None = None
        self.pending_at: datetime | None = None
        self.inactivity_base: datetime | None = None
        # Entries in time order (all at or after enrolment, see `SubjectLedger`), taken an
        # instant at a time: those sharing an `occurred_at` stand together. Those at the
        # enrolment instant go through the loop too, so an assignment effective then comes
        # first. The ledger's indexes are shared with every run over it, and only read here.
        self._entry_times = self.ledger.times
        self._period: tuple[datetime, datetime] | None = None
        self._entry_cursor = 0
        self._assign_cursor = 0

    # ------------------------------------------------------------------------- the basis

    def basis(self, at: datetime) -> str:
        """A digest of every input the state as of `at` depends on.

        The clock's version, the rules, the enrolment, the ids of the entries dated up to `at`
        (an entry never changes once recorded) and every field of the assignments effective by
        then. Entries and assignments dated later cannot have moved the state yet.
        """
        digest = hashlib.blake2b(digest_size=16)
        head = (CLOCK_VERSION, self.rules.fingerprint, _micros(self.enrolled_at))
        digest.update(repr(head).encode())
        ids = self.ledger.ids
        digest.update("\x1f".join(ids[: bisect_right(self._entry_times, at)]).encode())
        for a in self.assignments:
            if a.effective_at > at:
                break
            fields = (a.id, a.tier_id, a.mode.value, a.reason)
            edges = (a.effective_at, a.until, a.ended_at, a.assigned_at)
            digest.update(repr((fields, tuple(map(_micros, edges)))).encode())
        return digest.hexdigest()

    def resumes_from(self, state: TierState, at: datetime) -> bool:
        """Whether `state` is where a replay of these inputs stands at its instant."""
        return (
            state.basis is not None
            and state.group_id == self.rules.id
            and state.subject_id == self.subject_id
            and state.enrolled_at == self.enrolled_at
            and self.enrolled_at <= state.as_of <= at
            and state.basis == self.basis(state.as_of)
        )

    def restore(self, state: TierState) -> None:
        """Stand where `state` stands (see `resumes_from`), every entry and assignment dated up
        to its instant already taken in."""
        rules = self.rules
        self.now = state.as_of
        self.tier = None if state.tier_id is None else rules.tier_by_id(state.tier_id)
        self.prev = None if state.prev_tier_id is None else rules.tier_by_id(state.prev_tier_id)
        self.achieved_at = state.achieved_at
        self.last_reason = state.last_reason
        self.anniversary_at = state.anniversary_at
        self.maintained_at = state.maintained_at
        self.year_start = state.tier_year_start
        self.credit = state.credit
        self.grace_until = state.grace_until
        # During grace the state shows the anniversary that failed, which grace ends from.
        self.grace_anniversary = state.anniversary_at if state.grace_until is not None else None
        self.assigned_at = state.assigned_at
        self.assignment = state.assignment
        self.assignment_ends = None if state.assignment is None else state.assignment.until
        self.last_activity_at = state.last_activity_at
        self.pending_at = state.pending_promotion_at
        self.inactivity_base = state.inactivity_base
        self._entry_cursor = bisect_right(self._entry_times, state.as_of)
        self._assign_cursor = sum(1 for a in self.assignments if a.effective_at <= state.as_of)

    # ----------------------------------------------------------------------------- the loop

    def advance(self, until: datetime) -> None:
        repeats = 0
        while True:
            self._absorb_quiet_entries(until)
            at = self._next_instant()
            if at is None or at > until:
                break
            repeats = repeats + 1 if at == self.now else 0
            if repeats > 10_000:  # pragma: no cover - every handler moves its due instant on
                raise AssertionError(f"the tier clock is stuck at {at.isoformat()}")
            self.now = at
            self._step(at)
        self.now = until

    def _absorb_quiet_entries(self, until: datetime) -> None:
        """Pass over the entries that cannot change the state but for `last_activity_at`.

        An entry changes nothing else when no grace period or pending promotion is running,
        no refund in its instant could reverse a tier, and the window value stays below the
        next tier's `value_min` (thresholds rise with rank, and every upgrade needs its own).
        Such entries are taken at once up to the next instant where anything else happens (due
        work, an assignment edge, `until`, a reversing refund, the window reaching the next
        tier); the result is the same as stepping through them one by one, which `explain`
        still does, to note each of them.
        """
        if (
            self.explain
            or self.grace_until is not None
            or self.pending_at is not None
            or self._locked
            or self._entry_cursor >= len(self._entry_times)
        ):
            return
        edges = [until, self.next_due(), self.assignment_ends, self._next_assignment_start()]
        horizon = min(e for e in edges if e is not None)
        times = self._entry_times
        start = self._entry_cursor
        stop = bisect_left(times, horizon, start)
        if self.rules.reversals is ReversalPolicy.REEVALUATE:
            refund = self.ledger.first_reversing(start, stop)
            if refund is not None:
                stop = bisect_left(times, times[refund], start)
        above = self.rules.above(self.tier)
        if above is not None and stop > start:
            stop = self._first_reaching(above.value_min, start, stop)
        if stop == start:
            return
        active = self.ledger.last_active(start, stop)
        if active is not None:
            self.last_activity_at = times[active]
        self.now = times[stop - 1]
        self._entry_cursor = stop

    def _first_reaching(self, threshold: Decimal, start: int, stop: int) -> int:
        """Where the first instant of the entries `start` to `stop` whose window value reaches
        `threshold` begins (`stop` if none does).

        Window starts never move back as time runs on, so no window over these entries holds
        more than the gains from the first one's window start to the last entry: when those
        stay below `threshold`, no instant is checked one by one.
        """
        times, series = self._entry_times, self.metric
        window_from = self.window_bounds(times[start])[0]
        low = 0 if window_from is None else bisect_right(series.times, window_from)
        high = bisect_right(series.times, times[stop - 1], low)
        if sum(filter(ZERO.__lt__, series.amounts[low:high]), ZERO) < threshold:
            return stop
        i = start
        while i < stop:
            at = times[i]
            if self.window_value(at) >= threshold:
                return i
            i = bisect_right(times, at, i, stop)
        return stop

    def _next_instant(self) -> datetime | None:
        candidates = [
            self._next_entry_time(),
            self._next_assignment_start(),
            self.assignment_ends,
            self.next_due(),
        ]
        present = [c for c in candidates if c is not None]
        # Anything dated before the clock's position (e.g. an assignment effective before
        # enrolment) happens at that position: time never runs backwards.
        return max(min(present), self.now) if present else None

    def _next_entry_time(self) -> datetime | None:
        if self._entry_cursor < len(self._entry_times):
            return self._entry_times[self._entry_cursor]
        return None

    def _next_assignment_start(self) -> datetime | None:
        if self._assign_cursor < len(self.assignments):
            return self.assignments[self._assign_cursor].effective_at
        return None

    def _step(self, at: datetime) -> None:
        if self.assignment_ends is not None and self.assignment_ends <= at:
            self._end_assignment(at)
        while (start := self._next_assignment_start()) is not None and start <= at:
            self._start_assignment(self.assignments[self._assign_cursor], at)
            self._assign_cursor += 1
        entry_time = self._next_entry_time()
        if entry_time is not None and entry_time <= at:
            first = self._entry_cursor
            self._entry_cursor = end = bisect_right(self._entry_times, entry_time, first)
            self._on_entries(at, first, end)
        self._run_due(at)

    def next_due(self) -> datetime | None:
        """The next instant the state changes by itself (assignment edges excluded)."""
        if self._locked:
            return None
        due = [self.grace_until, self._maintenance_due(), self._inactivity_due(), self.pending_at]
        present = [d for d in due if d is not None]
        return min(present) if present else None

    def _run_due(self, at: datetime) -> None:
        if self._locked:
            return
        if self.grace_until is not None and self.grace_until <= at:
            self._grace_ends(at)
        maintenance = self._maintenance_due()
        if maintenance is not None and maintenance <= at:
            self._maintenance(at)
        inactivity = self._inactivity_due()
        if inactivity is not None and inactivity <= at:
            self._inactivity(at)
        if self.pending_at is not None and self.pending_at <= at:
            self.pending_at = None
            self._check_upgrade(at, trigger="pending promotion")

    @property
    def _locked(self) -> bool:
        return self.assignment is not None and self.assignment.mode is AssignmentMode.LOCK

    # ---------------------------------------------------------------------------- values

    def period(self, at: datetime) -> tuple[datetime, datetime]:
        """The calendar period holding `at` (see `PeriodCalendar.bounds`); the clock asks
        about the same period many times over, so the last one is kept."""
        kept = self._period
        if kept is not None and kept[0] < at <= kept[1]:
            return kept
        self._period = bounds = self.calendar.bounds(at)
        return bounds

    def window_bounds(self, at: datetime) -> tuple[datetime | None, datetime]:
        window = self.rules.window
        if window.kind is WindowKind.CALENDAR:
            return window.bounds(at, self.period(at)[0])
        return window.bounds(at, None)

    def window_value(self, at: datetime, metric: Metric | None = None) -> Decimal:
        series = self.metric if metric is None else self.ledger.series(metric)
        return series.value(self.window_bounds(at)[0], at)

    def progress(self, at: datetime) -> Decimal:
        if self.tier is None:
            return ZERO
        return self.metric.value(self.year_start, at)

    def _standing(self, at: datetime) -> Decimal:
        return self.credit + self.progress(at)

    # ------------------------------------------------------------------------- enrolment

    def enrol(self) -> None:
        at = self.enrolled_at
        floor = self.rules.floor
        self._become(floor, at, Reason.ENROLLED, credit=ZERO, prev=None)
        self._record(at, None, floor, Reason.ENROLLED, {})
        if self.explain:
            self._note(
                at,
                "enrolment",
                "enrolled",
                f"enrolled on {self._name(floor)}"
                + ("" if floor else " (the group has no floor tier: not yet qualified)"),
            )

    # --------------------------------------------------------------------------- entries

    def _on_entries(self, at: datetime, start: int, end: int) -> None:
        """The entries `start` to `end` of the ledger, all dated `at`."""
        ledger = self.ledger
        if ledger.last_active(start, end) is not None:
            self.last_activity_at = at
        if self.explain:
            self._note_entries(at, ledger.entries(start, end))
        if self._locked:
            return
        reevaluate = self.rules.reversals is ReversalPolicy.REEVALUATE
        if reevaluate and ledger.first_reversing(start, end) is not None:
            self._check_reversal(at, ledger.entries(start, end))
        if self.grace_until is not None and self.tier is not None:
            standing = self._standing(at)
            if standing >= self.tier.value_maintain:
                anniversary = self.grace_anniversary or at
                self._maintained(at, standing, after=anniversary, trigger="entry during grace")
        self._check_upgrade(at, trigger="entry")

    def _note_entries(self, at: datetime, batch: Sequence[Entry]) -> None:
        window = self.window_value(at)
        nxt = self.rules.above(self.tier)
        values: dict[str, str | None] = {
            "entries": ",".join(e.id for e in batch),
            "metric": self.rules.metric.value,
            "window_from": _fmt(self.window_bounds(at)[0]),
            "window_to": _fmt(at),
            "window_value": _fmt(window),
        }
        message = (
            f"{len(batch)} entr{'y' if len(batch) == 1 else 'ies'}: window value {_num(window)}"
        )
        if nxt is not None:
            values["next_tier"] = nxt.handle
            values["next_value_min"] = _fmt(nxt.value_min)
            message += f" vs {nxt.handle} value_min {_num(nxt.value_min)}"
        self._note(at, "entries", "counted", message, values)

    # --------------------------------------------------------------------------- upgrade

    def _check_upgrade(self, at: datetime, *, trigger: str) -> None:
        """Move to the highest tier qualified for now; schedule a promotion that waits on days."""
        if self._locked:
            return
        window = self.window_value(at)
        best: Tier | None = None
        pending: datetime | None = None
        for tier in self.rules.tiers[self.rules.rank_of(self.tier) + 1 :]:
            if not self._qualifies(tier, at, window):
                continue
            ready_at = add_days(self.achieved_at, tier.required_num_days_in_tier)
            if ready_at <= at:
                best = tier
            else:
                pending = ready_at if pending is None else min(pending, ready_at)
        if best is not None:
            credit = window - best.value_min
            if not self.rules.credit or best.disable_credit or credit < 0:
                credit = ZERO
            old = self.tier
            self._become(best, at, Reason.QUALIFIED, credit=credit, prev=old)
            figures = {
                "window_value": _fmt(window),
                "value_min": _fmt(best.value_min),
                "credit": _fmt(credit),
                "trigger": trigger,
            }
            self._record(at, old, best, Reason.QUALIFIED, figures)
            if self.explain:
                self._note(
                    at,
                    "upgrade",
                    "qualified",
                    f"window value {_num(window)} >= {best.handle} value_min "
                    f"{_num(best.value_min)}: {self._name(old)} -> {best.handle}, "
                    f"credit {_num(credit)}",
                    figures,
                )
            # Higher tiers waiting on days in tier count them from this promotion.
            self._check_upgrade(at, trigger=trigger)
            return
        self.pending_at = pending
        if pending is not None and self.explain:
            self._note(
                at,
                "upgrade",
                "pending",
                f"qualifies for a higher tier but needs more days in {self._name(self.tier)}; "
                f"promotion due {pending.isoformat()}",
                {"pending_at": _fmt(pending)},
            )

    def _qualifies(self, tier: Tier, at: datetime, window: Decimal) -> bool:
        if window < tier.value_min:
            return False
        for need in tier.also:
            if self.window_value(at, need.metric) < need.min:
                return False
        required = tier.required_achievements
        if required is None:
            return True
        start = (
            at - timedelta(days=required.within_days)
            if required.within_days is not None
            else self.window_bounds(at)[0]
        )
        earned = [
            e.achievement_id
            for e in self.ledger.achievements(start, at)
            if e.kind is EntryKind.ACHIEVEMENT
        ]
        if required.ids:
            earned = [a for a in earned if a in required.ids]
        if required.count is None:
            return set(required.ids) <= set(earned)
        return len(earned) >= required.count

    # ----------------------------------------------------------------------- maintenance

    def _maintenance_due(self) -> datetime | None:
        if self.tier is None or self.grace_until is not None:
            return None
        return self.anniversary_at

    def _first_check_after(self, at: datetime, *, fresh: bool) -> datetime | None:
        """The next maintenance instant after `at` for the tier held now.

        Anniversaries are counted from `achieved_at` in whole terms, so short months never make
        them drift; a tier reached within a calendar period is safe through the next one.
        """
        kind = self.rules.maintenance.kind
        if self.tier is None or kind is MaintenanceKind.NONE:
            return None
        if kind is MaintenanceKind.ANNIVERSARY:
            term = self.rules.maintenance.term_months
            k = 1
            while True:
                candidate = end_of_day(add_months(self.achieved_at, k * term, self.tz), self.tz)
                if candidate > at:
                    return candidate
                k += 1
        k = self.calendar.index(at)
        if fresh or self.calendar.end(k) <= at:
            k += 1
        return self.calendar.end(k)

    def _maintenance(self, at: datetime) -> None:
        tier = self.tier
        assert tier is not None
        credit, progress = self.credit, self.progress(at)
        standing = credit + progress
        figures = {
            "credit": _fmt(credit),
            "progress": _fmt(progress),
            "value_maintain": _fmt(tier.value_maintain),
            "tier_year_start": _fmt(self.year_start),
        }
        if standing >= tier.value_maintain:
            self._maintained(at, standing, after=at, trigger="maintenance")
            return
        if self.explain:
            self._note(
                at,
                "maintenance",
                "failed",
                f"credit {_num(credit)} + progress {_num(progress)} < {tier.handle} value_maintain "
                f"{_num(tier.value_maintain)}",
                figures,
            )
        grace_days = self.rules.downgrade.grace_days
        # Where a floor holds the member on this tier there is no downgrade to wait for.
        if grace_days > 0 and self.rules.rank_of(self._clamp_to_floor(None)) < tier.rank:
            self.grace_until = add_days(at, grace_days)
            self.grace_anniversary = at
            figures["grace_until"] = _fmt(self.grace_until)
            self._record(at, tier, tier, Reason.GRACE_STARTED, figures)
            if self.explain:
                self._note(
                    at, "grace", "started", f"grace until {self.grace_until.isoformat()}", figures
                )
            return
        self._downgrade(at, after=at)

    def _maintained(
        self, at: datetime, standing: Decimal, *, after: datetime, trigger: str
    ) -> None:
        tier = self.tier
        assert tier is not None
        excess = standing - tier.value_maintain
        carried = excess if self.rules.carry_excess and excess > 0 else ZERO
        figures = {
            "credit": _fmt(self.credit),
            "progress": _fmt(standing - self.credit),
            "value_maintain": _fmt(tier.value_maintain),
            "carried": _fmt(carried),
            "trigger": trigger,
        }
        self.maintained_at = at
        self.year_start = at
        self.credit = carried
        self.grace_until = None
        self.grace_anniversary = None
        # One term on from the check that was due, but never a check already past (a grace
        # period longer than a term would otherwise fail the fresh tier year at once).
        self.anniversary_at = self._first_check_after(max(after, at), fresh=False)
        self._record(at, tier, tier, Reason.MAINTAINED, figures)
        if self.explain:
            self._note(
                at,
                "maintenance",
                "maintained",
                f"{tier.handle} maintained ({trigger}); next check "
                f"{_fmt(self.anniversary_at) or 'never'}",
                figures,
            )

    def _grace_ends(self, at: datetime) -> None:
        due = self.grace_anniversary or at
        if self.explain:
            self._note(at, "grace", "ended", "grace period ended without maintenance")
        self._downgrade(at, after=due)

    def _downgrade(self, at: datetime, *, after: datetime) -> None:
        tier = self.tier
        assert tier is not None
        window = self.window_value(at)
        policy = self.rules.downgrade.policy
        target: Tier | None
        if policy is DowngradePolicy.TO_QUALIFYING:
            target = None
            for candidate in self.rules.tiers[: tier.rank + 1]:
                if candidate.value_min <= window:
                    target = candidate
        elif policy is DowngradePolicy.ONE_DOWN:
            target = self.rules.tiers[tier.rank - 1] if tier.rank > 0 else None
        else:
            target = self.rules.floor
        target = self._clamp_to_floor(target)
        figures = {
            "window_value": _fmt(window),
            "policy": policy.value,
            "credit": _fmt(self.credit),
            "progress": _fmt(self.progress(at)),
            "value_maintain": _fmt(tier.value_maintain),
        }
        if target is tier:
            self.grace_until = None
            self._maintained(
                at, self._standing(at), after=after, trigger=f"{policy.value} kept tier"
            )
            return
        self._become(target, at, Reason.DOWNGRADED, credit=ZERO, prev=tier)
        self._record(at, tier, target, Reason.DOWNGRADED, figures)
        if self.explain:
            self._note(
                at,
                "downgrade",
                "downgraded",
                f"{policy.value}: window value {_num(window)} -> {self._name(target)}",
                figures,
            )

    def _clamp_to_floor(self, target: Tier | None) -> Tier | None:
        floors = [self.rules.floor]
        if self.assignment is not None and self.assignment.mode is AssignmentMode.FLOOR:
            floors.append(self.rules.tier_by_id(self.assignment.tier_id))
        for floor in floors:
            if floor is not None and self.rules.rank_of(target) < floor.rank:
                target = floor
        return target

    # ------------------------------------------------------------------------ inactivity

    def _inactivity_due(self) -> datetime | None:
        if self.tier is None or self.tier.max_inactive_days is None:
            return None
        base = max(t for t in (self.last_activity_at, self.achieved_at, self.inactivity_base) if t)
        return add_days(base, self.tier.max_inactive_days)

    def _inactivity(self, at: datetime) -> None:
        tier = self.tier
        assert tier is not None
        target = self._clamp_to_floor(self.rules.tiers[tier.rank - 1] if tier.rank > 0 else None)
        self.inactivity_base = at
        figures = {
            "last_activity_at": _fmt(self.last_activity_at),
            "max_inactive_days": _fmt(tier.max_inactive_days),
        }
        if target is tier:
            if self.explain:
                self._note(
                    at, "inactivity", "kept", "inactive, but the floor keeps the tier", figures
                )
            return
        self._become(target, at, Reason.INACTIVITY, credit=ZERO, prev=tier)
        self._record(at, tier, target, Reason.INACTIVITY, figures)
        if self.explain:
            self._note(
                at,
                "inactivity",
                "dropped",
                f"no qualifying entry for {tier.max_inactive_days} days: "
                f"{tier.handle} -> {self._name(target)}",
                figures,
            )

    # ------------------------------------------------------------------------- reversals

    def _check_reversal(self, at: datetime, batch: Sequence[Entry]) -> None:
        tier = self.tier
        # A reversal undoes an upgrade the ledger earned; a tier that came from enrolment, an
        # assignment or a downgrade was not earned by the reversed entry.
        if tier is None or self.last_reason is not Reason.QUALIFIED:
            return
        reversed_before = [
            e
            for e in batch
            if e.kind is EntryKind.REFUND
            and e.reverses is not None
            and (orig := self.ledger.entry(e.reverses)) is not None
            and orig.occurred_at <= self.achieved_at
        ]
        if not reversed_before:
            return
        window = self.window_value(at)
        if window >= tier.value_min:
            return
        target: Tier | None = None
        for candidate in self.rules.tiers[: tier.rank + 1]:
            if candidate.value_min <= window:
                target = candidate
        if self.rules.rank_of(target) < self.rules.rank_of(self.prev):
            target = self.prev
        target = self._clamp_to_floor(target)
        if target is tier or self.rules.rank_of(target) > tier.rank:
            return
        figures = {
            "window_value": _fmt(window),
            "value_min": _fmt(tier.value_min),
            "reversed": ",".join(str(e.reverses) for e in reversed_before),
        }
        self._become(target, at, Reason.REVERSAL, credit=ZERO, prev=tier)
        self._record(at, tier, target, Reason.REVERSAL, figures)
        if self.explain:
            self._note(
                at,
                "reversal",
                "moved",
                f"refund left window value {_num(window)} < {tier.handle} value_min "
                f"{_num(tier.value_min)}: -> {self._name(target)}",
                figures,
            )

    # ----------------------------------------------------------------------- assignments

    def _start_assignment(self, assignment: Assignment, at: datetime) -> None:
        try:
            tier = self.rules.tier_by_id(assignment.tier_id)
        except KeyError:
            if self.explain:
                self._note(
                    at, "assignment", "ignored", f"tier {assignment.tier_id} no longer exists"
                )
            return
        old = self.tier
        self.assignment = ActiveAssignment(
            id=assignment.id,
            tier_id=tier.id,
            mode=assignment.mode,
            assigned_at=at,
            until=assignment.ends_at,
            reason=assignment.reason,
        )
        self.assignment_ends = assignment.ends_at
        self._become(
            tier, at, Reason.ASSIGNED, credit=ZERO, prev=old if old is not tier else self.prev
        )
        self.assigned_at = at
        self.pending_at = None
        figures = {
            "mode": assignment.mode.value,
            "until": _fmt(assignment.until),
            "reason": assignment.reason,
        }
        self._record(at, old, tier, Reason.ASSIGNED, figures)
        if self.explain:
            self._note(
                at, "assignment", "assigned", f"{assignment.mode.value} -> {tier.handle}", figures
            )

    def _end_assignment(self, at: datetime) -> None:
        ended = self.assignment
        self.assignment = None
        self.assignment_ends = None
        if ended is None:
            return
        figures = {"mode": ended.mode.value, "assigned_at": _fmt(ended.assigned_at)}
        self._record(at, self.tier, self.tier, Reason.ASSIGNMENT_EXPIRED, figures)
        if self.explain:
            self._note(at, "assignment", "expired", f"{ended.mode.value} assignment ended", figures)
        self._check_upgrade(at, trigger="assignment expired")

    # -------------------------------------------------------------------------- helpers

    def _become(
        self, tier: Tier | None, at: datetime, reason: Reason, *, credit: Decimal, prev: Tier | None
    ) -> None:
        """Enter `tier` at `at`: a new tier year, anniversary and (for a new tier) prev_tier."""
        self.prev = prev
        self.tier = tier
        self.achieved_at = at
        self.last_reason = reason
        self.credit = credit
        self.maintained_at = None
        self.grace_until = None
        self.grace_anniversary = None
        self.assigned_at = None
        self.inactivity_base = None
        # A promotion waiting on days in the old tier no longer applies.
        self.pending_at = None
        if tier is not None and self.rules.maintenance.kind is MaintenanceKind.PERIOD_END:
            # The period in which a tier is reached is free: the first tier year is the next one.
            self.year_start = self.period(at)[1]
        else:
            self.year_start = at
        self.anniversary_at = self._first_check_after(at, fresh=True)

    def _record(
        self,
        at: datetime,
        old: Tier | None,
        new: Tier | None,
        reason: Reason,
        figures: dict[str, str | None],
    ) -> None:
        self.history.append(
            HistoryRecord(
                at=at,
                from_tier_id=None if old is None else old.id,
                to_tier_id=None if new is None else new.id,
                reason=reason,
                figures=dict(figures),
            )
        )

    def _note(
        self,
        at: datetime,
        rule: str,
        outcome: str,
        message: str,
        values: dict[str, str | None] | None = None,
    ) -> None:
        """Note a decision for `explain`; callers build a note only when explaining (its
        message formats figures, which a plain evaluation has no use for)."""
        if self.explain:
            self.trace.append(Decision(at, rule, outcome, message, dict(values or {})))

    @staticmethod
    def _name(tier: Tier | None) -> str:
        return "no tier" if tier is None else tier.handle

    # --------------------------------------------------------------------------- result

    def figures(self, at: datetime) -> Figures:
        rules = self.rules
        window_from, _ = self.window_bounds(at)
        window = self.window_value(at)
        nxt = rules.above(self.tier)
        progress = self.progress(at)
        keeps = self.tier is not None and rules.maintenance.kind is not MaintenanceKind.NONE
        remain_to_keep = ZERO
        if keeps and self.tier is not None:
            remain_to_keep = max(ZERO, self.tier.value_maintain - self.credit - progress)
        points = self.ledger.series(Metric.POINTS)
        by_points = self.tier is not None and self.last_reason not in (
            Reason.ENROLLED,
            Reason.ASSIGNED,
        )
        return Figures(
            window_value=window,
            window_from=window_from,
            window_to=at,
            progress=progress,
            remain_to_keep=remain_to_keep,
            next_tier_id=None if nxt is None else nxt.id,
            remain_to_next=ZERO if nxt is None else max(ZERO, nxt.value_min - window),
            total_points_12m=points.value(at - TWELVE_MONTHS, at),
            total_points_achievement=points.value(self.achieved_at, at) if by_points else None,
            next_progress_change_at=self._next_window_fall(at),
        )

    def _next_window_fall(self, at: datetime) -> datetime | None:
        window = self.rules.window
        series = self.ledger.series(self.rules.metric)
        if window.kind is WindowKind.ROLLING:
            first = series.first_after(at - window.span, at, positive=True)
            return None if first is None else series.times[first] + window.span
        if window.kind is WindowKind.CALENDAR:
            start, end = self.period(at)
            return end if series.value(start, at) > 0 else None
        return None

    def _stable_until(self, at: datetime, due: datetime | None) -> datetime | None:
        """The first instant after `at` at which any figure may move without a new entry."""
        moments = [due, self.assignment_ends, self._next_assignment_start()]
        window = self.rules.window
        metric = self.ledger.series(self.rules.metric)
        if window.kind is WindowKind.ROLLING:
            i = metric.first_after(at - window.span, at, positive=False)
            if i is not None:
                moments.append(metric.times[i] + window.span)
        elif window.kind is WindowKind.CALENDAR:
            moments.append(self.period(at)[1])
        points = self.ledger.series(Metric.POINTS)
        i = points.first_after(at - TWELVE_MONTHS, at, positive=False)
        if i is not None:
            moments.append(points.times[i] + TWELVE_MONTHS)
        later = bisect_right(self._entry_times, at)
        if later < len(self._entry_times):
            moments.append(self._entry_times[later])
        present = [m for m in moments if m is not None and m > at]
        return min(present) if present else None

    def result(self, prior: tuple[HistoryRecord, ...] = (), *, resumed: bool = False) -> Evaluation:
        """The state as of the clock's position, after the history `prior` (where it resumed)."""
        at = self.now
        due_candidates = [self.next_due(), self.assignment_ends, self._next_assignment_start()]
        due_present = [d for d in due_candidates if d is not None]
        due = min(due_present) if due_present else None
        state = TierState(
            group_id=self.rules.id,
            subject_id=self.subject_id,
            as_of=at,
            enrolled_at=self.enrolled_at,
            tier_id=None if self.tier is None else self.tier.id,
            prev_tier_id=None if self.prev is None else self.prev.id,
            achieved_at=self.achieved_at,
            last_reason=self.last_reason,
            anniversary_at=self.anniversary_at
            if self.grace_until is None
            else self.grace_anniversary,
            maintained_at=self.maintained_at,
            tier_year_start=self.year_start,
            credit=self.credit,
            grace_until=self.grace_until,
            assigned_at=self.assigned_at,
            assignment=self.assignment,
            last_activity_at=self.last_activity_at,
            pending_promotion_at=self.pending_at,
            inactivity_base=self.inactivity_base,
            figures=self.figures(at),
            next_due_at=due,
            stable_until=self._stable_until(at, due),
            basis=self.basis(at),
        )
        history = prior + tuple(self.history)
        return Evaluation(state=state, history=history, trace=tuple(self.trace), resumed=resumed)
