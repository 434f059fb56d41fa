"""Creating and replacing programs (the §3 document), guarded against harmful changes."""

from __future__ import annotations

from dataclasses import dataclass, replace

from tierbook.domain.errors import InvalidRules, RulesChangeRefused
from tierbook.service.documents import ProgramDocument, program_to_document, to_config
from tierbook.service.model import ProgramConfig
from tierbook.service.ports import Clock, UnitOfWork
from tierbook.service.subjects import lock, refresh, subjects_of


@dataclass(frozen=True, slots=True)
class Applied:
    program: ProgramConfig
    created: bool
    changed: bool
    states: int


def _refusals(old: ProgramConfig, new: ProgramConfig, held: set[int]) -> list[str]:
    problems = []
    new_tiers = {t.id: (g.id, t) for g in new.groups for t in g.rules.tiers}
    for group in old.groups:
        for tier in group.rules.tiers:
            found = new_tiers.get(tier.id)
            if found is None:
                if tier.id in held:
                    problems.append(f"tier {tier.handle!r} ({tier.id}) is held by members")
            elif found[1].rank != tier.rank:
                problems.append(
                    f"tier {tier.handle!r} would move from rank {tier.rank} to {found[1].rank}"
                )
            elif found[0] != group.id:
                problems.append(f"tier {tier.handle!r} would move to another group")
    return problems


def _clashes(uow: UnitOfWork, tenant_id: str, program: ProgramConfig) -> None:
    """Group and tier ids are unique in a tenant (vendor APIs address them without a program)."""
    groups = {g.id for g in program.groups}
    tiers = {t.id for g in program.groups for t in g.rules.tiers}
    for other in uow.programs.list(tenant_id):
        if other.id == program.id:
            continue
        taken = groups & {g.id for g in other.groups}
        if taken:
            raise InvalidRules(f"group id {min(taken)} is used by program {other.id}")
        taken = tiers & {t.id for g in other.groups for t in g.rules.tiers}
        if taken:
            raise InvalidRules(f"tier id {min(taken)} is used by program {other.id}")


def put_program(
    uow: UnitOfWork,
    clock: Clock,
    *,
    tenant_id: str,
    document: ProgramDocument,
    program_id: int | None = None,
    force: bool = False,
) -> Applied:
    """Create or replace a program; existing members are re-evaluated under the new rules."""
    now = clock.now()
    program = to_config(document)
    if program_id is not None and program_id != program.id:
        raise InvalidRules(
            f"the path names program {program_id} but the document {program.id}",
            field="program.id",
        )
    _clashes(uow, tenant_id, program)
    old = uow.programs.get(tenant_id, program.id)
    if old is not None:
        problems = _refusals(old, program, uow.states.held_tier_ids(tenant_id, program.id))
        if problems and not force:
            raise RulesChangeRefused(
                "refused: " + "; ".join(problems) + " (apply with force to do it anyway)",
                details=problems,
            )
        if program_to_document(old) == program_to_document(program):
            return Applied(old, created=False, changed=False, states=0)
    stamped = replace(program, created_at=now if old is None else old.created_at, updated_at=now)
    uow.programs.save(tenant_id, stamped)
    states = 0
    if old is not None:
        for member_id in uow.members.ids(tenant_id, program.id):
            member = uow.members.get(tenant_id, member_id)
            assert member is not None
            subjects = subjects_of(uow, stamped, member)
            lock(uow, tenant_id, subjects)
            for subject in subjects:
                refresh(uow, tenant_id, stamped, subject, now)
                states += 1
    return Applied(stamped, created=old is None, changed=True, states=states)
