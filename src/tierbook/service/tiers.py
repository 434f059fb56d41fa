"""Manual assignments: a tier set by hand, and ended by hand."""

from __future__ import annotations

import uuid

from tierbook.domain.errors import (
    InvalidAssignment,
    InvalidInput,
    TierNotAssignable,
    UnknownGroup,
    UnknownTier,
)
from tierbook.domain.state import Assignment
from tierbook.service.commands import AssignTier
from tierbook.service.members import not_in_future
from tierbook.service.model import GroupConfig, ProgramConfig, StoredAssignment
from tierbook.service.ports import Clock, UnitOfWork
from tierbook.service.subjects import (
    Subject,
    TierChange,
    load_member,
    load_program,
    lock,
    refresh,
    subject_for,
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
    lock(uow, tenant_id, [subject])
    uow.assignments.add(
        tenant_id, StoredAssignment(program.id, subject.group.id, subject.id, assignment)
    )
    return assignment, refresh(uow, tenant_id, program, subject, now)


def end_assignment(
    uow: UnitOfWork, clock: Clock, *, tenant_id: str, member_id: str, group_id: int
) -> list[TierChange]:
    now = clock.now()
    program, subject = member_group(uow, tenant_id, member_id, group_id)
    lock(uow, tenant_id, [subject])
    if uow.assignments.end(tenant_id, subject.group.id, subject.id, now) == 0:
        raise InvalidAssignment("the member has no running assignment in this group")
    return refresh(uow, tenant_id, program, subject, now)
