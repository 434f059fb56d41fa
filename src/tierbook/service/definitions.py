"""Tier definitions one at a time (Omneo's `/tiers/definitions`), over `put_program`.

A definition is edited inside its program's §3 document and the whole document is put back, so
every check and guard of `put_program` holds: ranks unique and contiguous, `value_min` never
falling as rank rises, one floor, and a change that renumbers ranks (a tier inserted below
others, or removed from under them) or drops a held tier refused unless forced. Members are
re-evaluated under the new rules in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tierbook.domain.errors import InvalidInput, InvalidRules, UnknownTier
from tierbook.domain.rules import Tier
from tierbook.service.documents import parse_document, program_to_document
from tierbook.service.model import GroupConfig, ProgramConfig
from tierbook.service.ports import Clock, UnitOfWork
from tierbook.service.programs import put_program

# Set by the server, never by a caller.
READ_ONLY = frozenset({"id", "created_at", "updated_at"})
_TIER_FIELD = re.compile(r"^groups\.\d+\.tiers\.\d+\.?")


@dataclass(frozen=True, slots=True)
class Definition:
    program: ProgramConfig
    group: GroupConfig
    tier: Tier


def list_definitions(
    uow: UnitOfWork, *, tenant_id: str, group_id: int | None = None
) -> list[Definition]:
    """Every tier of the tenant, by program, group and rank (of one group, where named)."""
    return [
        Definition(program, group, tier)
        for program in sorted(uow.programs.list(tenant_id), key=lambda p: p.id)
        for group in program.groups
        if group_id is None or group.id == group_id
        for tier in group.rules.tiers
    ]


def get_definition(uow: UnitOfWork, *, tenant_id: str, tier_id: int) -> Definition:
    for found in list_definitions(uow, tenant_id=tenant_id):
        if found.tier.id == tier_id:
            return found
    raise UnknownTier(f"no tier definition {tier_id}")


def _writable(fields: Mapping[str, Any]) -> dict[str, Any]:
    given = sorted(READ_ONLY & set(fields))
    if given:
        raise InvalidInput(f"{given[0]} is set by the server", field=given[0])
    return dict(fields)


def _decimal(value: Any, field: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal("NaN")
    if isinstance(value, bool) or not number.is_finite():
        raise InvalidInput(f"{field} must be a number", field=field)
    return number


def _target_group(
    uow: UnitOfWork, tenant_id: str, group_id: int | None
) -> tuple[ProgramConfig, int]:
    programs = sorted(uow.programs.list(tenant_id), key=lambda p: p.id)
    if group_id is None:
        if len(programs) != 1:
            raise InvalidInput(
                "name the group_id of the new tier (the tenant has "
                f"{len(programs) or 'no'} programs)",
                field="group_id",
            )
        return programs[0], programs[0].default_group.id
    for program in programs:
        if program.group(group_id) is not None:
            return program, group_id
    raise InvalidInput(f"no group {group_id}", field="group_id")


def _put(
    uow: UnitOfWork,
    clock: Clock,
    tenant_id: str,
    program: ProgramConfig,
    group_id: int,
    tiers: list[dict[str, Any]],
    force: bool,
) -> ProgramConfig:
    """Put the program back with the group's tiers replaced (ranks renumbered in list order)."""
    document = program_to_document(program)
    for group in document["groups"]:
        if group["id"] == group_id:
            group["tiers"] = [tier | {"rank": rank} for rank, tier in enumerate(tiers)]
    try:
        parsed = parse_document(document)
    except InvalidRules as exc:
        # `groups.0.tiers.3.value_min` is the caller's `value_min`.
        field = _TIER_FIELD.sub("", exc.field or "") or exc.field
        message = exc.message.replace(exc.field or "\0", field or "", 1)
        details = [
            problem | {"field": _TIER_FIELD.sub("", str(problem.get("field", "")))}
            for problem in exc.details or []
        ]
        raise InvalidRules(message, field=field, details=details or None) from None
    applied = put_program(
        uow, clock, tenant_id=tenant_id, document=parsed, program_id=program.id, force=force
    )
    return applied.program


def _found(program: ProgramConfig, tier_id: int) -> Definition:
    for group in program.groups:
        for tier in group.rules.tiers:
            if tier.id == tier_id:
                return Definition(program, group, tier)
    raise AssertionError(f"tier {tier_id} was just written to program {program.id}")


def _group_tiers(program: ProgramConfig, group_id: int) -> list[dict[str, Any]]:
    document = program_to_document(program)
    group = next(g for g in document["groups"] if g["id"] == group_id)
    tiers: list[dict[str, Any]] = group["tiers"]
    return tiers


def create_definition(
    uow: UnitOfWork,
    clock: Clock,
    *,
    tenant_id: str,
    fields: Mapping[str, Any],
    group_id: int | None = None,
    force: bool = False,
) -> Definition:
    """Add a tier to a group (the only program's default group where none is named).

    Without a `rank` it goes above every tier whose `value_min` it reaches.
    """
    tier = _writable(fields)
    program, group_id = _target_group(uow, tenant_id, group_id)
    tiers = _group_tiers(program, group_id)
    used = [t.id for p in uow.programs.list(tenant_id) for g in p.groups for t in g.rules.tiers]
    now = clock.now().isoformat()
    tier |= {"id": max(used, default=0) + 1, "created_at": now, "updated_at": now}
    if "rank" in tier:
        position = tier.pop("rank")
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise InvalidInput("rank must be a whole number from 0", field="rank")
    else:
        value_min = _decimal(tier.get("value_min", 0), "value_min")
        position = sum(_decimal(t["value_min"], "value_min") <= value_min for t in tiers)
    tiers.insert(min(position, len(tiers)), tier)
    return _found(_put(uow, clock, tenant_id, program, group_id, tiers, force), tier["id"])


def update_definition(
    uow: UnitOfWork,
    clock: Clock,
    *,
    tenant_id: str,
    tier_id: int,
    changes: Mapping[str, Any],
    force: bool = False,
    group_id: int | None = None,
) -> Definition:
    """Change the fields named in `changes`; a `rank` moves the tier within its group.

    A tier stays in its group: a `group_id` other than the tier's own is refused.
    """
    changed = _writable(changes)
    found = get_definition(uow, tenant_id=tenant_id, tier_id=tier_id)
    if group_id is not None and group_id != found.group.id:
        raise InvalidInput(
            f"tier {tier_id} belongs to group {found.group.id}; a tier cannot move to another "
            "group (create it there instead)",
            field="group_id",
        )
    tiers = _group_tiers(found.program, found.group.id)
    index = next(i for i, t in enumerate(tiers) if t["id"] == tier_id)
    tier = tiers.pop(index) | changed | {"updated_at": clock.now().isoformat()}
    position = tier.pop("rank", index)
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise InvalidInput("rank must be a whole number from 0", field="rank")
    tiers.insert(min(position, len(tiers)), tier)
    program = _put(uow, clock, tenant_id, found.program, found.group.id, tiers, force)
    return _found(program, tier_id)


def delete_definition(
    uow: UnitOfWork, clock: Clock, *, tenant_id: str, tier_id: int, force: bool = False
) -> None:
    """Remove a tier; the last tier of a group cannot go (a group needs one)."""
    found = get_definition(uow, tenant_id=tenant_id, tier_id=tier_id)
    tiers = [t for t in _group_tiers(found.program, found.group.id) if t["id"] != tier_id]
    if not tiers:
        raise InvalidRules(f"tier {tier_id} is the only tier of group {found.group.id}")
    _put(uow, clock, tenant_id, found.program, found.group.id, tiers, force)
