"""Invariants of the tier clock over random groups, ledgers and assignments (Hypothesis).

Every property runs with `derandomize=True`, so CI sees the same examples on every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.factories import omneo_group
from tierbook.domain.clock import SubjectLedger, evaluate
from tierbook.domain.ledger import Entries, Entry, EntryKind
from tierbook.domain.rules import (
    AchievementRequirement,
    Downgrade,
    DowngradePolicy,
    GroupRules,
    Maintenance,
    MaintenanceKind,
    Metric,
    Period,
    QualifyingFilter,
    Requirement,
    ReversalPolicy,
    Tier,
    Window,
    WindowKind,
)
from tierbook.domain.state import (
    Assignment,
    AssignmentMode,
    Evaluation,
    HistoryRecord,
    Reason,
    TierState,
)

ENROLLED = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
HORIZON = timedelta(days=1200)

PROPERTY = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Case:
    rules: GroupRules
    entries: tuple[Entry, ...]
    assignments: tuple[Assignment, ...]

    def at(
        self,
        as_of: datetime,
        *,
        entries: Sequence[Entry] | Entries | SubjectLedger | None = None,
        assignments: Sequence[Assignment] | None = None,
        explain: bool = False,
        rules: GroupRules | None = None,
        since: Evaluation | None = None,
    ) -> Evaluation:
        return evaluate(
            self.rules if rules is None else rules,
            subject_id="m1",
            enrolled_at=ENROLLED,
            entries=self.entries if entries is None else entries,
            assignments=self.assignments if assignments is None else assignments,
            as_of=as_of,
            explain=explain,
            since=since,
        )


# --------------------------------------------------------------------------- strategies

# Instants on a coarse grid, so that entries, anniversaries and assignments often coincide.
SECONDS = st.sampled_from([0, 10 * 3600, 14 * 3600 + 59 * 60 + 59, 86399])


@st.composite
def instants(draw: st.DrawFn, min_days: int = 0, max_days: int = HORIZON.days) -> datetime:
    day = draw(st.integers(min_days, max_days))
    return ENROLLED + timedelta(days=day, seconds=draw(SECONDS))


@st.composite
def tiers(draw: st.DrawFn) -> tuple[Tier, ...]:
    count = draw(st.integers(1, 4))
    mins = sorted(draw(st.lists(st.integers(0, 25), min_size=count, max_size=count)))
    if draw(st.booleans()):
        mins[0] = 0
    floor = draw(st.one_of(st.none(), st.just(0), st.integers(0, count - 1)))
    result = []
    for rank, low in enumerate(mins):
        value_min = Decimal(low * 100)
        result.append(
            Tier(
                id=rank + 1,
                handle=f"t{rank}",
                name=f"T{rank}",
                rank=rank,
                value_min=value_min,
                value_maintain=Decimal(draw(st.integers(0, low)) * 100),
                is_floor=rank == floor,
                is_assignable=True,
                disable_credit=draw(st.booleans()),
                required_num_days_in_tier=draw(st.sampled_from([0, 0, 0, 10, 40])),
                max_inactive_days=draw(st.sampled_from([None, None, None, 20, 90])),
                required_achievements=draw(
                    st.sampled_from(
                        [
                            None,
                            None,
                            None,
                            AchievementRequirement(ids=("a",)),
                            AchievementRequirement(count=2),
                            AchievementRequirement(ids=("a", "b"), within_days=60),
                        ]
                    )
                ),
                also=draw(
                    st.sampled_from(
                        [(), (), (), (Requirement(metric=Metric.SPONSOR_POINTS, min=Decimal(50)),)]
                    )
                ),
            )
        )
    return tuple(result)


WINDOWS = st.one_of(
    st.builds(Window, kind=st.just(WindowKind.ROLLING), days=st.sampled_from([30, 90, 365])),
    st.builds(
        Window,
        kind=st.just(WindowKind.CALENDAR),
        period=st.sampled_from(list(Period)),
        reset_at=st.sampled_from([None, datetime(2020, 7, 1, tzinfo=UTC)]),
    ),
    st.just(Window(kind=WindowKind.LIFETIME)),
)
MAINTENANCES = st.one_of(
    st.builds(
        Maintenance,
        kind=st.just(MaintenanceKind.ANNIVERSARY),
        term_months=st.sampled_from([1, 3, 12]),
    ),
    st.just(Maintenance(kind=MaintenanceKind.PERIOD_END)),
    st.just(Maintenance(kind=MaintenanceKind.NONE)),
)


@st.composite
def groups(draw: st.DrawFn) -> GroupRules:
    return GroupRules(
        id=1,
        code="G",
        tiers=draw(tiers()),
        metric=draw(st.sampled_from([Metric.POINTS, Metric.POINTS, Metric.SPEND, Metric.VISITS])),
        window=draw(WINDOWS),
        maintenance=draw(MAINTENANCES),
        downgrade=Downgrade(
            policy=draw(st.sampled_from(list(DowngradePolicy))),
            grace_days=draw(st.sampled_from([0, 0, 10, 45])),
        ),
        credit=draw(st.booleans()),
        carry_excess=draw(st.booleans()),
        reversals=draw(st.sampled_from(list(ReversalPolicy))),
        qualifying=draw(
            st.sampled_from(
                [QualifyingFilter(), QualifyingFilter(business_units=frozenset({"web"}))]
            )
        ),
        timezone=draw(st.sampled_from(["UTC", "Australia/Melbourne"])),
    )


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[Entry, ...]:
    entries: list[Entry] = []
    for n in range(draw(st.integers(0, 12))):
        when = draw(instants(min_days=-40, max_days=1000))
        kind = draw(
            st.sampled_from(
                [EntryKind.PURCHASE] * 4
                + [EntryKind.ACHIEVEMENT, EntryKind.SPONSOR, EntryKind.ADJUSTMENT]
            )
        )
        points = Decimal(draw(st.integers(1, 30)) * 50)
        if kind is EntryKind.ADJUSTMENT:
            points = draw(st.sampled_from([Decimal(-200), points]))
        entries.append(
            Entry(
                id=f"e{n}",
                member_id="m1",
                occurred_at=when,
                kind=kind,
                points=ZERO if kind is EntryKind.ACHIEVEMENT else points,
                spend=points / 10 if kind is EntryKind.PURCHASE else ZERO,
                units=Decimal(draw(st.integers(1, 3))) if kind is EntryKind.PURCHASE else ZERO,
                business_unit=draw(st.sampled_from(["web", "web", "store"])),
                achievement_id=draw(st.sampled_from(["a", "b", "c"]))
                if kind is EntryKind.ACHIEVEMENT
                else None,
            )
        )
    refunds = []
    for entry in entries:
        if entry.kind is EntryKind.PURCHASE and draw(st.integers(0, 3)) == 0:
            share = draw(st.sampled_from([Decimal(1), Decimal("0.5")]))
            refunds.append(
                Entry(
                    id=f"r-{entry.id}",
                    member_id="m1",
                    occurred_at=entry.occurred_at
                    + timedelta(days=draw(st.integers(0, 200)), seconds=draw(SECONDS)),
                    kind=EntryKind.REFUND,
                    points=-entry.points * share,
                    spend=-entry.spend * share,
                    units=-entry.units * share,
                    business_unit=entry.business_unit,
                    reverses=entry.id,
                )
            )
    return tuple(entries + refunds)


ZERO = Decimal(0)


@st.composite
def assignment_lists(draw: st.DrawFn, tier_count: int) -> tuple[Assignment, ...]:
    result = []
    for n in range(draw(st.integers(0, 2))):
        effective = draw(instants(min_days=-20, max_days=900))
        until = draw(st.one_of(st.none(), st.integers(1, 400)))
        ended = draw(st.one_of(st.none(), st.none(), st.integers(1, 200)))
        result.append(
            Assignment(
                id=f"a{n}",
                tier_id=draw(st.integers(1, tier_count)),
                mode=draw(st.sampled_from(list(AssignmentMode))),
                effective_at=effective,
                until=None if until is None else effective + timedelta(days=until),
                ended_at=None if ended is None else effective + timedelta(days=ended),
            )
        )
    return tuple(result)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    rules = draw(groups())
    return Case(rules, draw(ledgers()), draw(assignment_lists(len(rules.tiers))))


# --------------------------------------------------------------------------- helpers


def comparable(state: TierState) -> TierState:
    """The state without what moves with the clock itself (as_of and the window's edges)."""
    figures = replace(state.figures, window_from=None, window_to=ENROLLED)
    return replace(state, as_of=ENROLLED, figures=figures)


def rank(rules: GroupRules, tier_id: int | None) -> int:
    return -1 if tier_id is None else rules.tier_by_id(tier_id).rank


# -------------------------------------------------------------------------- properties


@PROPERTY
@given(case=cases(), as_of=instants())
def test_same_inputs_give_the_same_evaluation(case: Case, as_of: datetime) -> None:
    assert case.at(as_of, explain=True) == case.at(as_of, explain=True)


@PROPERTY
@given(case=cases(), as_of=instants())
def test_passing_over_quiet_entries_gives_the_state_of_stepping_through_each(
    case: Case, as_of: datetime
) -> None:
    # `explain` steps through every entry to note it; without it the clock takes the entries
    # that can change nothing in one pass. Both must arrive at the same state and history.
    stepped = case.at(as_of, explain=True)
    passed = case.at(as_of)
    assert passed.state == stepped.state
    assert passed.history == stepped.history


@PROPERTY
@given(case=cases(), t1=instants(), gap=st.integers(0, 800))
def test_evaluations_that_share_a_ledger_give_what_each_gives_alone(
    case: Case, t1: datetime, gap: int
) -> None:
    # The groups of a subject that share a qualifying filter share one `SubjectLedger`, whose
    # indexes the first evaluation builds and the others read.
    shared = SubjectLedger(case.entries, case.rules.qualifying, ENROLLED)
    t2 = t1 + timedelta(days=gap)
    earlier = case.at(t1, entries=shared)
    assert earlier == case.at(t1)
    assert case.at(t2, entries=shared, explain=True) == case.at(t2, explain=True)
    assert case.at(t2, entries=shared, since=earlier) == case.at(t2, since=earlier)
    assert case.at(t2, entries=shared) == case.at(t2)


def test_a_ledger_built_for_another_enrolment_or_filter_is_refused() -> None:
    rules = omneo_group()
    entry = Entry("e1", "m1", ENROLLED + timedelta(days=1), points=Decimal(5))
    for ledger in (
        SubjectLedger([entry], rules.qualifying, ENROLLED + timedelta(seconds=1)),
        SubjectLedger([entry], QualifyingFilter(business_units=frozenset({"web"})), ENROLLED),
    ):
        with pytest.raises(ValueError, match="another enrolment or qualifying filter"):
            evaluate(rules, subject_id="m1", enrolled_at=ENROLLED, entries=ledger, as_of=ENROLLED)


@PROPERTY
@given(case=cases(), as_of=instants(), data=st.data())
def test_the_order_of_the_inputs_does_not_matter(
    case: Case, as_of: datetime, data: st.DataObject
) -> None:
    entries = data.draw(st.permutations(case.entries))
    assignments = data.draw(st.permutations(case.assignments))
    shuffled = case.at(as_of, entries=entries, assignments=assignments, explain=True)
    assert shuffled == case.at(as_of, explain=True)


@PROPERTY
@given(case=cases(), as_of=instants(), data=st.data())
def test_entries_given_as_columns_in_parts_give_what_the_entries_give(
    case: Case, as_of: datetime, data: st.DataObject
) -> None:
    # A ledger read for evaluation comes as each member's columns, a household's joined.
    entries = data.draw(st.permutations(case.entries))
    cut = data.draw(st.integers(0, len(entries)))
    columns = Entries.joined([Entries.of(entries[:cut]), Entries.of(entries[cut:])])
    assert case.at(as_of, entries=columns, explain=True) == case.at(as_of, explain=True)
    assert case.at(as_of, entries=columns) == case.at(as_of)


@PROPERTY
@given(case=cases(), as_ofs=st.lists(instants(), min_size=1, max_size=4))
def test_never_below_the_floor_tier_nor_an_active_floor_assignment(
    case: Case, as_ofs: list[datetime]
) -> None:
    rules = case.rules
    floor = rank(rules, None if rules.floor is None else rules.floor.id)
    # An operator may assign a tier below the floor on purpose; every automatic change
    # respects it, so only assignments at or above the floor are drawn here.
    assignments = [a for a in case.assignments if rank(rules, a.tier_id) >= floor]
    for as_of in as_ofs:
        evaluation = case.at(as_of, assignments=assignments)
        state = evaluation.state
        if rules.floor is not None:
            assert rank(rules, state.tier_id) >= floor
        if state.assignment is not None and state.assignment.mode is AssignmentMode.FLOOR:
            assert rank(rules, state.tier_id) >= rank(rules, state.assignment.tier_id)
        if rules.floor is not None:
            assert all(rank(rules, h.to_tier_id) >= floor for h in evaluation.history)


@PROPERTY
@given(case=cases(), as_of=instants(), fraction=st.integers(0, 1000))
def test_a_state_holds_until_stable_until(case: Case, as_of: datetime, fraction: int) -> None:
    stored = case.at(as_of)
    end = stored.state.stable_until or as_of + HORIZON
    span = int((end - as_of).total_seconds()) - 1
    later = as_of + timedelta(seconds=span * fraction // 1000)
    assert as_of <= later < end
    read = case.at(later)
    assert comparable(read.state) == comparable(stored.state)
    assert read.history == stored.history


@PROPERTY
@given(case=cases(), t1=instants(), gap=st.integers(0, 800))
def test_history_is_in_time_order_and_as_of_causal(case: Case, t1: datetime, gap: int) -> None:
    t2 = t1 + timedelta(days=gap, seconds=gap)
    early, late = case.at(t1).history, case.at(t2).history
    assert [h.at for h in late] == sorted(h.at for h in late)
    assert late[: len(early)] == early
    assert all(h.at > t1 for h in late[len(early) :])
    assert all(h.at <= t2 for h in late)


@PROPERTY
@given(case=cases(), as_of=instants())
def test_inputs_dated_after_as_of_change_nothing_but_the_look_ahead(
    case: Case, as_of: datetime
) -> None:
    entries = [e for e in case.entries if e.occurred_at <= as_of]
    assignments = [a for a in case.assignments if a.effective_at <= as_of]
    known = case.at(as_of, entries=entries, assignments=assignments, explain=True)
    everything = case.at(as_of, explain=True)
    for state in (everything.state, known.state):
        assert state.next_due_at is None or state.next_due_at > as_of
    blind = {"next_due_at": None, "stable_until": None}
    assert replace(everything.state, **blind) == replace(known.state, **blind)  # type: ignore[arg-type]
    assert everything.history == known.history
    assert everything.trace == known.trace


@PROPERTY
@given(case=cases(), as_of=instants())
def test_the_next_due_instant_is_after_as_of_and_bounds_the_stable_span(
    case: Case, as_of: datetime
) -> None:
    state = case.at(as_of).state
    if state.next_due_at is not None:
        assert state.next_due_at > state.as_of
        assert state.stable_until is not None
        assert state.stable_until <= state.next_due_at
    if state.stable_until is not None:
        assert state.stable_until > state.as_of
    if state.pending_promotion_at is not None:
        assert state.next_due_at is not None
        assert state.next_due_at <= state.pending_promotion_at


@PROPERTY
@given(case=cases(), as_of=instants())
def test_the_history_ends_where_the_state_is(case: Case, as_of: datetime) -> None:
    evaluation = case.at(as_of)
    history, state = evaluation.history, evaluation.state
    assert history[0].reason is Reason.ENROLLED
    assert history[-1].to_tier_id == state.tier_id
    changes = [h for h in history if h.from_tier_id != h.to_tier_id]
    for before, after in pairwise(changes):
        assert after.from_tier_id == before.to_tier_id
    assert state.achieved_at <= state.as_of
    assert state.credit >= 0


# ------------------------------------------------------------------------------ resuming

MARK = HistoryRecord(ENROLLED, None, None, Reason.RESET, {"mark": "prior"})
"""Appended to a prior history, it shows whether the clock resumed from it or replayed."""


def _up_to(
    entries: Sequence[Entry], assignments: Sequence[Assignment], at: datetime
) -> tuple[list[str], list[Assignment]]:
    """The inputs a state as of `at` depends on: the entries dated by then, and the assignments
    effective by then that ever took effect."""
    ids = sorted(e.id for e in entries if max(e.occurred_at, ENROLLED) <= at)
    started = [
        a
        for a in assignments
        if a.effective_at <= at and (a.ends_at is None or a.ends_at > max(a.effective_at, ENROLLED))
    ]
    return ids, sorted(started, key=lambda a: a.id)


@PROPERTY
@given(case=cases(), t1=instants(), gap=st.integers(0, 800), data=st.data())
def test_resuming_from_an_earlier_state_gives_the_replay(
    case: Case, t1: datetime, gap: int, data: st.DataObject
) -> None:
    # What the earlier state knew: any part of the entries (late ones missing, or some dated
    # after it present) and of the assignments, some not yet ended early.
    known_entries = [e for e in case.entries if data.draw(st.integers(0, 3), label="keep") > 0]
    known_assignments = [
        replace(a, ended_at=None) if data.draw(st.integers(0, 3), label="unended") == 0 else a
        for a in case.assignments
        if data.draw(st.integers(0, 3), label="assigned") > 0
    ]
    earlier = case.at(t1, entries=known_entries, assignments=known_assignments)
    prior = Evaluation(earlier.state, (*earlier.history, MARK))
    t2 = t1 + timedelta(days=gap, seconds=gap)
    replayed = case.at(t2)
    resumed = case.at(t2, since=prior)
    assert resumed.state == replayed.state
    a = earlier.state.as_of
    if _up_to(known_entries, known_assignments, a) == _up_to(case.entries, case.assignments, a):
        # Nothing the earlier state depends on changed: the clock resumed from it.
        assert replayed.history[: len(earlier.history)] == earlier.history
        assert resumed.history == (*prior.history, *replayed.history[len(earlier.history) :])
        assert resumed.resumed
        assert not replayed.resumed
    else:
        assert resumed.history == replayed.history
        assert not resumed.resumed


@PROPERTY
@given(case=cases(), steps=st.lists(st.integers(0, 300), min_size=1, max_size=5))
def test_resuming_again_and_again_gives_the_replay(case: Case, steps: list[int]) -> None:
    # A stored state is written from a resumed evaluation and resumed from in turn.
    at = ENROLLED
    evaluation = case.at(at)
    for days in steps:
        at += timedelta(days=days, hours=days % 5)
        evaluation = case.at(at, since=evaluation)
        replayed = case.at(at)
        assert (evaluation.state, evaluation.history) == (replayed.state, replayed.history)


@PROPERTY
@given(case=cases(), t1=instants(), gap=st.integers(0, 800))
def test_a_state_of_other_rules_or_a_later_instant_is_not_resumed_from(
    case: Case, t1: datetime, gap: int
) -> None:
    t2 = t1 + timedelta(days=gap)
    other = replace(case.rules, credit=not case.rules.credit)
    for since in (case.at(t1, rules=other), case.at(t2 + timedelta(days=1))):
        resumed = case.at(t2, since=Evaluation(since.state, (*since.history, MARK)))
        assert resumed == case.at(t2)


def test_an_explanation_replays_even_from_a_state_it_could_resume_from() -> None:
    rules = GroupRules(
        id=1,
        code="G",
        tiers=(
            Tier(id=1, handle="base", name="Base", rank=0, is_floor=True),
            Tier(id=2, handle="gold", name="Gold", rank=1, value_min=Decimal(500)),
        ),
    )
    entries = [
        Entry(id=f"e{i}", member_id="m1", occurred_at=ENROLLED + timedelta(days=30 * i),
              points=Decimal(200))
        for i in range(1, 5)
    ]  # fmt: skip
    t1, t2 = ENROLLED + timedelta(days=70), ENROLLED + timedelta(days=200)

    def at(as_of: datetime, *, since: Evaluation | None = None, explain: bool = False) -> Any:
        return evaluate(
            rules, subject_id="m1", enrolled_at=ENROLLED, entries=entries, as_of=as_of,
            since=since, explain=explain,
        )  # fmt: skip

    earlier = at(t1)
    prior = Evaluation(earlier.state, (*earlier.history, MARK))
    assert at(t2, since=prior).history[: len(prior.history)] == prior.history
    assert at(t2, since=prior, explain=True) == at(t2, explain=True)
    assert at(t2).state.tier_id == 2
