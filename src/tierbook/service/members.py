"""Enrolling, updating and finding members."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from tierbook.domain.errors import InvalidInput, UnknownProgram
from tierbook.service.commands import EnrolMember, UpdateMember
from tierbook.service.model import Member, ProgramConfig
from tierbook.service.ports import Clock, UnitOfWork
from tierbook.service.subjects import (
    TierChange,
    load_member,
    load_program,
    lock,
    refresh,
    subject_by_id,
    subjects_of,
)

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MEMBER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
CLOCK_SKEW = timedelta(minutes=5)
UPDATABLE = frozenset({"email", "phone", "custom", "household_id"})


def not_in_future(value: datetime, now: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidInput(f"{field} must carry a UTC offset", field=field)
    if value > now + CLOCK_SKEW:
        raise InvalidInput(f"{field} is in the future", field=field)
    return value


def resolve_program(uow: UnitOfWork, tenant_id: str, program_id: int | None) -> ProgramConfig:
    """The named program, or the tenant's only one."""
    if program_id is not None:
        return load_program(uow, tenant_id, program_id)
    programs = uow.programs.list(tenant_id)
    if len(programs) == 1:
        return programs[0]
    if not programs:
        raise UnknownProgram("the tenant has no program yet; PUT /v1/programs/{id} first")
    raise InvalidInput("the tenant has several programs: name program_id", field="program_id")


def _check_contact(email: str | None, phone: str | None, custom: Any) -> None:
    if email is not None and not EMAIL.match(email):
        raise InvalidInput(f"email {email!r} is not an address", field="email")
    if phone is not None and not E164.match(phone):
        raise InvalidInput(f"phone {phone!r} is not E.164 (like +61412345678)", field="phone")
    if not isinstance(custom, dict) or not all(isinstance(k, str) and k for k in custom):
        raise InvalidInput("custom must map field names to values", field="custom")
    for name, value in custom.items():
        if not isinstance(value, str | int | float | bool) and value is not None:
            raise InvalidInput(f"custom.{name} must be a plain value", field=f"custom.{name}")


def enrol(
    uow: UnitOfWork, clock: Clock, *, tenant_id: str, command: EnrolMember
) -> tuple[Member, list[TierChange]]:
    now = clock.now()
    program = resolve_program(uow, tenant_id, command.program_id)
    member_id = command.id or str(uuid.uuid4())
    if not MEMBER_ID.match(member_id):
        raise InvalidInput(f"member id {member_id!r} has characters ids may not", field="id")
    _check_contact(command.email, command.phone, dict(command.custom))
    enrolled_at = not_in_future(command.enrolled_at or now, now, "enrolled_at")
    member = Member(
        tenant_id=tenant_id,
        id=member_id,
        program_id=program.id,
        enrolled_at=enrolled_at,
        email=command.email,
        phone=command.phone,
        custom=dict(command.custom),
        household_id=command.household_id,
        created_at=now,
        updated_at=now,
    )
    uow.members.add(member)
    changes = _refresh_member(uow, tenant_id, program, member, now)
    return member, changes


def update(
    uow: UnitOfWork, clock: Clock, *, tenant_id: str, command: UpdateMember
) -> tuple[Member, list[TierChange]]:
    now = clock.now()
    unknown = set(command.changes) - UPDATABLE
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}", field=min(unknown))
    member = load_member(uow, tenant_id, command.member_id)
    changed = replace(member, **dict(command.changes), updated_at=now)
    _check_contact(changed.email, changed.phone, dict(changed.custom))
    program = load_program(uow, tenant_id, member.program_id)
    before = subjects_of(uow, program, member)
    uow.members.update(changed)
    changes: list[TierChange] = []
    if changed.household_id != member.household_id:
        # Both households' pools change: the old one loses the member's entries.
        after = subjects_of(uow, program, changed)
        lock(uow, tenant_id, [*before, *after])
        for subject in {s.key: s for s in [*before, *after]}.values():
            # Re-read the pool: the member has moved, so each subject's members differ now.
            fresh = subject_by_id(uow, tenant_id, program, subject.group, subject.id)
            if fresh is not None:
                changes += refresh(uow, tenant_id, program, fresh, now)
    return changed, changes


def _refresh_member(
    uow: UnitOfWork, tenant_id: str, program: ProgramConfig, member: Member, now: datetime
) -> list[TierChange]:
    subjects = subjects_of(uow, program, member)
    lock(uow, tenant_id, subjects)
    changes: list[TierChange] = []
    for subject in subjects:
        changes += refresh(uow, tenant_id, program, subject, now)
    return changes


def find(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    email: str | None = None,
    phone: str | None = None,
    custom: dict[str, str] | None = None,
    limit: int = 100,
) -> list[Member]:
    if email is None and phone is None and not custom:
        raise InvalidInput("look members up by email, phone or custom.NAME", field="email")
    return uow.members.find(tenant_id, email=email, phone=phone, custom=custom, limit=limit)
