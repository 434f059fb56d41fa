"""Manual assignments and the sweep that moves due states forward."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from tierbook.domain.errors import (
    InvalidAssignment,
    InvalidInput,
    TierNotAssignable,
    UnknownGroup,
    UnknownTier,
)
from tierbook.domain.state import Assignment, TierState
from tierbook.service.commands import AssignTier
from tierbook.service.members import not_in_future
from tierbook.service.model import GroupConfig, ProgramConfig, StoredAssignment
from tierbook.service.ports import Clock, UnitOfWork, UnitOfWorkFactory
from tierbook.service.subjects import (
    Subject,
    TierChange,
    load_member,
    load_program,
    lock,
    refresh,
    refresh_many,
    subject_for,
    subjects_by_keys,
)


def member_group(
    uow: UnitOfWork, tenant_id: str, member_id: str, group_id: int
) -> tuple[ProgramConfig, Subject]:
    member = load_member(uow, tenant_id, member_id)
    program = load_program(uow, tenant_id, member.program_id)
    group = program.group(group_id)
    if group is None:
        raise UnknownGroup(f"program {program.id} has no group {group_id}")
    return program, subject_for(uow, group, member)


def _assignable(group: GroupConfig, ref: str | int) -> int:
    tier = group.rules.find_tier(ref)
    if tier is None:
        raise UnknownTier(f"group {group.id} has no tier {ref!r}", field="tier")
    if not tier.is_assignable:
        raise TierNotAssignable(f"tier {tier.handle!r} is not assignable", field="tier")
    return tier.id


def assign(
    uow: UnitOfWork, clock: Clock, *, tenant_id: str, command: AssignTier
) -> tuple[Assignment, list[TierChange]]:
    now = clock.now()
    program, subject = member_group(uow, tenant_id, command.member_id, command.group_id)
    tier_id = _assignable(subject.group, command.tier)
    effective_at = not_in_future(command.effective_at or now, now, "effective_at")
    if command.until is not None and command.until <= effective_at:
        raise InvalidAssignment("until must come after effective_at", field="until")
    if command.reason is not None and len(command.reason) > 500:
        raise InvalidInput("reason is longer than 500 characters", field="reason")
    assignment = Assignment(
        id=str(uuid.uuid4()),
        tier_id=tier_id,
        mode=command.mode,
        effective_at=effective_at,
        until=command.until,
        reason=command.reason,
        assigned_at=now,
    )
    lock(uow, tenant_id, program.id, [subject])
    uow.assignments.add(
        tenant_id, StoredAssignment(program.id, subject.group.id, subject.id, assignment)
    )
    return assignment, refresh(uow, tenant_id, program, subject, now)


def end_assignment(
    uow: UnitOfWork, clock: Clock, *, tenant_id: str, member_id: str, group_id: int
) -> list[TierChange]:
    now = clock.now()
    program, subject = member_group(uow, tenant_id, member_id, group_id)
    lock(uow, tenant_id, program.id, [subject])
    if uow.assignments.end(tenant_id, subject.group.id, subject.id, now) == 0:
        raise InvalidAssignment("the member has no running assignment in this group")
    return refresh(uow, tenant_id, program, subject, now)


@dataclass(frozen=True, slots=True)
class SweepReport:
    states: int
    changes: int


def sweep(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    *,
    as_of: datetime | None = None,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> SweepReport:
    """Move every state due by `as_of` forward, one committed page at a time.

    Each state is re-evaluated as of `as_of`, which puts its next due instant after `as_of`,
    so the loop ends and a second sweep finds nothing to do. A page is read and written in a
    few queries (see `refresh_many`); the same subjects' other due states join their page, so
    each ledger is read once per sweep.
    """
    now = clock.now()
    at = not_in_future(as_of or now, now, "as_of")
    states = changes = 0
    programs: dict[tuple[str, int], ProgramConfig] = {}
    while True:
        with uow_factory() as uow:
            due = uow.states.due(at, batch_size)
            if not due:
                break
            pages: dict[tuple[str, int], list[tuple[int, str]]] = {}
            for tenant_id, program_id, group_id, subject_id in due:
                pages.setdefault((tenant_id, program_id), []).append((group_id, subject_id))
            moved = 0
            for (tenant_id, program_id), keys in pages.items():
                key = (tenant_id, program_id)
                if key not in programs:
                    programs[key] = load_program(uow, tenant_id, program_id)
                moved_page, changed = _sweep_page(uow, tenant_id, programs[key], keys, at)
                moved += moved_page
                changes += changed
            uow.commit()
        states += moved
        if progress is not None:
            progress(moved)
    return SweepReport(states=states, changes=changes)


def _sweep_page(
    uow: UnitOfWork,
    tenant_id: str,
    program: ProgramConfig,
    keys: list[tuple[int, str]],
    at: datetime,
) -> tuple[int, int]:
    """Refresh a page of due states of one program; (states moved, changes)."""
    # The other groups' states of the same holders, where due too, share their ledgers' read.
    holders = {subject_id for _, subject_id in keys}
    siblings = [(g.id, s) for g in program.groups for s in holders]
    keys = list(dict.fromkeys([*keys, *uow.states.due_among(tenant_id, at, siblings)]))
    subjects, orphans = subjects_by_keys(uow, tenant_id, program, keys)
    for group_id, subject_id in orphans:
        # A state whose group or holder is gone: nothing will ever be due again.
        stored = uow.states.get(tenant_id, group_id, subject_id)
        assert stored is not None
        uow.states.save(tenant_id, program.id, _undue(stored.state), stored.history)
    lock(uow, tenant_id, program.id, subjects)
    return len(keys), len(refresh_many(uow, tenant_id, program, subjects, at))


def _undue(state: TierState) -> TierState:
    return replace(state, next_due_at=None)
