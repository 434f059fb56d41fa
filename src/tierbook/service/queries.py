"""Reads: a member's tiers, history and explanation, as of any instant.

A stored state answers for every instant in `[state.as_of, state.stable_until)`; outside that
span (the past, or after a due instant the sweep has not reached) the subject is replayed from
its ledger, so reads are right whether or not the sweep has run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tierbook.domain.errors import UnknownGroup, UnknownMember
from tierbook.domain.state import Decision, HistoryRecord, TierState
from tierbook.service.model import GroupConfig, Member, MemberSnapshot, ProgramConfig, StateRecord
from tierbook.service.ports import Clock, HotReads, UnitOfWork
from tierbook.service.subjects import (
    Subject,
    load_member,
    load_program,
    replay,
    state_key,
    subject_for,
)


@dataclass(frozen=True, slots=True)
class TierView:
    member: Member
    program: ProgramConfig
    group: GroupConfig
    subject_id: str
    state: TierState
    """The state that answers for `as_of`: evaluated as of it, or a stored state whose stable
    span holds it. A stored state read later in its span is not copied to the read's instant:
    its `as_of` and window bounds stay its own, as every other field holds unchanged in the
    span; `as_of` and `window` give the read's."""
    stored: StateRecord | None = None
    """The subject's stored state (whether or not it answered this read), where there is one."""
    read_at: datetime | None = None
    """The read's instant, where a stored state answers it (the state's own `as_of` else)."""

    @property
    def as_of(self) -> datetime:
        """The instant the view answers for."""
        return self.state.as_of if self.read_at is None else self.read_at

    @property
    def window(self) -> tuple[datetime | None, datetime]:
        """The bounds of the window the figures were summed over, as of `as_of`: a rolling
        window ends then and starts its length before; a calendar or lifetime window keeps its
        start (a stored state's span ends by its period's end)."""
        figures = self.state.figures
        at = self.read_at
        if at is None or at == self.state.as_of:
            return figures.window_from, figures.window_to
        # Within the state's stable span the calendar period is the stored state's.
        return self.group.rules.window.bounds(at, figures.window_from)


def _groups(program: ProgramConfig, group_id: int | None) -> list[GroupConfig]:
    if group_id is None:
        return [g for g in program.groups if g.active]
    group = program.group(group_id)
    if group is None:
        raise UnknownGroup(f"program {program.id} has no group {group_id}")
    return [group]


def member_tiers(
    uow: UnitOfWork,
    clock: Clock,
    *,
    tenant_id: str,
    member_id: str,
    as_of: datetime | None = None,
    group_id: int | None = None,
    choose: Callable[[ProgramConfig], GroupConfig] | None = None,
) -> list[TierView]:
    """The member's state in `group_id`, in the group `choose` picks from the member's program
    (a dialect's own way of naming a group), or in every active group.

    The hot read: the member and its program in one query, the stored states in another (and
    the household's members where a group pools them).
    """
    at = as_of or clock.now()
    found = uow.members.get_with_program(tenant_id, member_id)
    if found is None:
        raise UnknownMember(f"no member {member_id!r}")
    member, program = found
    groups = [choose(program)] if choose is not None else _groups(program, group_id)
    subjects = [subject_for(uow, g, member) for g in groups]
    stored = uow.states.get_records(tenant_id, [s.key for s in subjects])
    views = []
    for subject in subjects:
        record = stored.get(subject.key)
        state = answer(record, at)
        if state is None:  # the replay's state is as of `at` (or of enrolment, where later)
            state, read_at = replay(uow, tenant_id, program, subject, at).state, None
        else:
            read_at = at
        views.append(TierView(member, program, subject.group, subject.id, state, record, read_at))
    return views


def answer(record: StateRecord | None, at: datetime) -> TierState | None:
    """The stored state where its stable span covers `at` (see `TierView.state`); None where
    only a replay of the ledger can answer."""
    if record is None:
        return None
    state = record.state
    if state.as_of > at or (state.stable_until is not None and at >= state.stable_until):
        return None
    return state


async def stored_tiers(
    hot: HotReads,
    *,
    tenant_id: str,
    member_id: str,
    at: datetime,
    choose: Callable[[ProgramConfig], GroupConfig] | None = None,
) -> tuple[list[TierView], MemberSnapshot] | None:
    """`member_tiers` (every active group, or the one `choose` picks) where stored states answer
    it alone: the hot read, through `HotReads`.

    None where any state needs a replay, or there is no such member; `member_tiers` then
    answers (or reports what is wrong), so both give the same answer for every read.
    """
    chosen: list[tuple[GroupConfig, tuple[int, str]]] = []

    def keys(program: ProgramConfig, member: Member) -> list[tuple[int, str]]:
        groups = [choose(program)] if choose is not None else _groups(program, None)
        chosen[:] = [(g, state_key(g, member)) for g in groups]
        return [key for _, key in chosen]

    snapshot = await hot.snapshot(tenant_id, member_id, keys)
    if snapshot is None:
        return None
    member, program = snapshot.member, snapshot.program
    views = []
    for group, key in chosen:
        record = snapshot.records.get(key)
        state = answer(record, at)
        if state is None:
            return None
        views.append(TierView(member, program, group, key[1], state, record, at))
    return views, snapshot


def _one(
    uow: UnitOfWork, tenant_id: str, member_id: str, group_id: int
) -> tuple[Member, ProgramConfig, Subject]:
    member = load_member(uow, tenant_id, member_id)
    program = load_program(uow, tenant_id, member.program_id)
    (group,) = _groups(program, group_id)
    return member, program, subject_for(uow, group, member)


def history(
    uow: UnitOfWork,
    clock: Clock,
    *,
    tenant_id: str,
    member_id: str,
    group_id: int,
    as_of: datetime | None = None,
) -> tuple[TierView, tuple[HistoryRecord, ...]]:
    member, program, subject = _one(uow, tenant_id, member_id, group_id)
    evaluation = replay(uow, tenant_id, program, subject, as_of or clock.now())
    view = TierView(member, program, subject.group, subject.id, evaluation.state)
    return view, evaluation.history


def explain(
    uow: UnitOfWork,
    clock: Clock,
    *,
    tenant_id: str,
    member_id: str,
    group_id: int,
    as_of: datetime | None = None,
) -> tuple[TierView, tuple[HistoryRecord, ...], tuple[Decision, ...]]:
    member, program, subject = _one(uow, tenant_id, member_id, group_id)
    evaluation = replay(uow, tenant_id, program, subject, as_of or clock.now(), explain=True)
    view = TierView(member, program, subject.group, subject.id, evaluation.state)
    return view, evaluation.history, evaluation.trace
