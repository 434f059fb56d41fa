"""Recording ledger entries: one or a batch, all or nothing, idempotent per entry."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tierbook.domain.errors import BatchTooLarge, InvalidEntry, TierbookError
from tierbook.domain.ledger import Entry, EntryKind
from tierbook.service.commands import RecordActivity
from tierbook.service.members import not_in_future, resolve_program
from tierbook.service.model import Member, ProgramConfig
from tierbook.service.ports import Clock, UnitOfWork
from tierbook.service.subjects import (
    Subject,
    TierChange,
    lock,
    refresh_many,
    subjects_of,
    subjects_of_many,
)

MAX_BATCH = 10_000
MAX_PLACES = 4
MAX_AMOUNT = Decimal(10) ** 14


@dataclass(frozen=True, slots=True)
class Recorded:
    """One entry as stored; `created` is False where an earlier call with its key wrote it."""

    entry: Entry
    created: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a call recorded, every tier change it caused (in time order), and the programs of
    its entries (read once here, so the caller can present the changes without reading them)."""

    entries: tuple[Recorded, ...]
    changes: tuple[TierChange, ...]
    programs: Mapping[int, ProgramConfig]


def _amount(value: Decimal, field: str) -> Decimal:
    if not value.is_finite():
        raise InvalidEntry(f"{field} must be a finite number", field=field)
    exponent = value.as_tuple().exponent
    if (
        isinstance(exponent, int)
        and exponent < -MAX_PLACES
        and value != value.quantize(Decimal(1).scaleb(-MAX_PLACES))
    ):
        raise InvalidEntry(f"{field} has more than {MAX_PLACES} decimal places", field=field)
    if abs(value) >= MAX_AMOUNT:
        raise InvalidEntry(f"{field} is out of range", field=field)
    return value


def _entry(
    command: RecordActivity, member: Member, entry_id: str, reverses: str | None, now: datetime
) -> Entry:
    for name in ("points", "spend", "units"):
        _amount(getattr(command, name), name)
    for i, item in enumerate(command.items):
        _amount(item.amount, f"items[{i}].amount")
        _amount(item.quantity, f"items[{i}].quantity")
    return Entry(
        id=entry_id,
        member_id=member.id,
        occurred_at=command.occurred_at,
        kind=command.kind,
        points=command.points,
        spend=command.spend,
        units=command.units,
        business_unit=command.business_unit,
        behaviour_type=command.behaviour_type,
        items=command.items,
        achievement_id=command.achievement_id,
        reverses=reverses,
        idempotency_key=command.idempotency_key or entry_id,
        recorded_at=now,
        meta=dict(command.meta),
    )


def record(
    uow: UnitOfWork,
    clock: Clock,
    *,
    tenant_id: str,
    commands: Sequence[RecordActivity],
) -> Outcome:
    """Validate every entry, append them, and bring each affected state up to date.

    Nothing is written unless every entry is valid; an entry whose idempotency key was seen
    before is not written again and reports the first entry with that key.
    """
    if not commands:
        raise InvalidEntry("no entries to record", field="entries")
    if len(commands) > MAX_BATCH:
        raise BatchTooLarge(f"at most {MAX_BATCH} entries per batch (got {len(commands)})")
    now = clock.now()
    programs: dict[int | None, ProgramConfig] = {}
    # Everything the entries name is read up front, in a query or two for the whole batch.
    members = _members(uow, tenant_id, commands, programs)
    reversed_entries = _reversed(uow, tenant_id, commands)
    entries: list[tuple[ProgramConfig, Entry]] = []
    by_key: dict[str, Entry] = {}
    for index, command in enumerate(commands):
        try:
            program, entry = _prepare(
                uow, tenant_id, command, now, members, programs, by_key, reversed_entries
            )
        except TierbookError as exc:
            if len(commands) == 1:
                raise
            raise type(exc)(
                f"entries[{index}]: {exc.message}",
                field=f"entries[{index}].{exc.field or ''}".rstrip("."),
                details=exc.details,
            ) from None
        if entry.idempotency_key in by_key:
            entries.append((program, by_key[str(entry.idempotency_key)]))
            continue
        by_key[str(entry.idempotency_key)] = entry
        entries.append((program, entry))
    return _append(uow, tenant_id, now, entries, members)


def record_together(
    uow: UnitOfWork,
    clock: Clock,
    *,
    tenant_id: str,
    commands: Sequence[RecordActivity],
) -> list[Outcome | TierbookError | None]:
    """Record independent single activities in one transaction, each as `record` would alone.

    Each command stands on its own, as a request of its own: an invalid one gets its error
    (unprefixed, as alone) and the others go on. The valid ones share the reads, the append
    and the evaluation. They are taken in order up to the first command that shares a tier
    state, an idempotency key or an entry with an earlier one (a second entry of a member or
    of a household, a repeated key, a refund of an entry an earlier command records): that
    command and every one after it are left out (None), to be recorded after this
    transaction commits. Those taken touch nothing in common, so each outcome, tier change
    and stored state is the one that recording the commands one after another would give.
    """
    now = clock.now()
    programs: dict[int | None, ProgramConfig] = {}
    members = uow.members.get_many(tenant_id, {c.member_id for c in commands})
    reversed_entries = _reversed(uow, tenant_id, commands)
    results: list[Outcome | TierbookError | None] = [None] * len(commands)
    keys: set[str] = set()
    prepared: list[tuple[int, ProgramConfig, Entry]] = []
    cut = len(commands)
    for index, command in enumerate(commands):
        if command.reverses in keys or command.idempotency_key in keys:
            cut = index  # it names an entry an earlier command records: after that one commits
            break
        try:
            program, entry = _prepare(
                uow, tenant_id, command, now, members, programs, {}, reversed_entries
            )
        except TierbookError as exc:
            results[index] = exc
            continue
        keys.add(str(entry.idempotency_key))
        prepared.append((index, program, entry))
    subjects = {
        program.id: subjects_of_many(
            uow, tenant_id, program, [members[e.member_id] for _, p, e in prepared if p is program]
        )
        for program in {p.id: p for _, p, _ in prepared}.values()
    }
    taken: set[tuple[int, str]] = set()
    together: list[tuple[int, ProgramConfig, Entry, set[tuple[int, str]]]] = []
    for index, program, entry in prepared:
        own = {s.key for s in subjects[program.id][entry.member_id]}
        if own & taken:
            cut = index  # a state an earlier command moves: after that one commits
            break
        taken |= own
        together.append((index, program, entry, own))
    results[cut:] = [None] * (len(commands) - cut)
    if not together:
        return results
    known: dict[int, dict[str, list[Subject]]] = {}
    for _, program, entry, _ in together:
        known.setdefault(program.id, {})[entry.member_id] = subjects[program.id][entry.member_id]
    outcome = _append(uow, tenant_id, now, [(p, e) for _, p, e, _ in together], members, known)
    for (index, program, entry, own), recorded in zip(together, outcome.entries, strict=True):
        changes = [c for c in outcome.changes if (c.group_id, c.subject_id) in own]
        if not recorded.created:
            changes = _replayed_changes(uow, tenant_id, program, entry, members)
        results[index] = Outcome(
            entries=(recorded,), changes=tuple(changes), programs={program.id: program}
        )
    return results


def _reversed(
    uow: UnitOfWork, tenant_id: str, commands: Sequence[RecordActivity]
) -> Mapping[str, Entry]:
    """The stored entries the commands' refunds name, by the reference they give."""
    refs = {c.reverses for c in commands if c.reverses is not None}
    return uow.ledger.get_many(tenant_id, refs) if refs else {}


def _prepare(
    uow: UnitOfWork,
    tenant_id: str,
    command: RecordActivity,
    now: datetime,
    members: Mapping[str, Member],
    programs: dict[int | None, ProgramConfig],
    earlier: Mapping[str, Entry],
    reversed_entries: Mapping[str, Entry],
) -> tuple[ProgramConfig, Entry]:
    """The command's program and its entry, checked; `earlier` holds the entries of the
    commands before it in the same call, by idempotency key."""
    program = programs.get(command.program_id) or resolve_program(
        uow, tenant_id, command.program_id
    )
    programs[command.program_id] = program
    member = members.get(command.member_id)
    if member is None or member.program_id != program.id:
        raise InvalidEntry(
            f"no member {command.member_id!r} in program {program.id}", field="member_id"
        )
    not_in_future(command.occurred_at, now, "occurred_at")
    reverses = _resolve_reverses(command, member, earlier, reversed_entries)
    return program, _entry(command, member, str(uuid.uuid4()), reverses, now)


def _members(
    uow: UnitOfWork,
    tenant_id: str,
    commands: Sequence[RecordActivity],
    programs: dict[int | None, ProgramConfig],
) -> Mapping[str, Member]:
    """The members the commands name, by id. A lone entry that names its program (the common
    single request) reads its member and the program in one query, and keeps the program in
    `programs` where it is the one named."""
    if len(commands) == 1 and commands[0].program_id is not None:
        found = uow.members.get_with_program(tenant_id, commands[0].member_id)
        if found is None:
            return {}
        member, program = found
        if program.id == commands[0].program_id:
            programs[program.id] = program
        return {member.id: member}
    return uow.members.get_many(tenant_id, {c.member_id for c in commands})


def _resolve_reverses(
    command: RecordActivity,
    member: Member,
    earlier: Mapping[str, Entry],
    stored: Mapping[str, Entry],
) -> str | None:
    """The id of the entry a refund reverses: one earlier in the batch, or one stored."""
    if command.reverses is None:
        return None
    if command.kind is not EntryKind.REFUND:
        raise InvalidEntry("only a refund reverses an entry", field="reverses")
    target = earlier.get(command.reverses) or stored.get(command.reverses)
    if target is None or target.member_id != member.id:
        raise InvalidEntry(
            f"reverses {command.reverses!r}: no such entry of this member", field="reverses"
        )
    return target.id


def _append(
    uow: UnitOfWork,
    tenant_id: str,
    now: datetime,
    entries: list[tuple[ProgramConfig, Entry]],
    members: Mapping[str, Member],
    known: Mapping[int, Mapping[str, list[Subject]]] | None = None,
) -> Outcome:
    """Append the entries, then evaluate each subject they touch once, whatever their number.

    `known` holds the subjects of the entries' members where the caller read them, by program.
    """
    programs = {program.id: program for program, _ in entries}
    unique: dict[str, tuple[ProgramConfig, Entry]] = {e.id: (p, e) for p, e in entries}
    stored: dict[str, Recorded] = {}
    changes: list[TierChange] = []
    wrote = False
    # Programs in id order, so two batches naming the same programs lock them in one order.
    for program in sorted(programs.values(), key=lambda p: p.id):
        batch = [e for p, e in unique.values() if p.id == program.id]
        subjects = (
            known[program.id]
            if known is not None
            else subjects_of_many(
                uow, tenant_id, program, [members[m] for m in sorted({e.member_id for e in batch})]
            )
        )
        lock(uow, tenant_id, [s for group in subjects.values() for s in group])
        results = uow.ledger.append(tenant_id, program.id, batch)
        touched: dict[tuple[int, str], Subject] = {}
        repeats: list[tuple[str, str]] = []
        for entry, result in zip(batch, results, strict=True):
            if result.created:
                stored[entry.id] = Recorded(entry, created=True)
                touched.update({s.key: s for s in subjects[entry.member_id]})
            else:
                repeats.append((entry.id, result.entry_id))
        if repeats:
            firsts = uow.ledger.get_many(tenant_id, {first for _, first in repeats})
            for entry_id, first_id in repeats:
                assert first_id in firsts, "the ledger named an entry it does not hold"
                stored[entry_id] = Recorded(firsts[first_id], created=False)
        if touched:
            wrote = True
            changes += refresh_many(uow, tenant_id, program, list(touched.values()), now)
    if not wrote and len(unique) == 1:
        changes = _replayed_changes(uow, tenant_id, *next(iter(unique.values())), members)
    changes.sort(key=lambda c: (c.record.at, c.group_id))
    # A key repeated within the batch is one entry: only its first mention wrote it.
    reported: set[str] = set()
    outcomes: list[Recorded] = []
    for _, mentioned in entries:
        outcome = stored[mentioned.id]
        if mentioned.id in reported:
            outcome = Recorded(outcome.entry, created=False)
        reported.add(mentioned.id)
        outcomes.append(outcome)
    return Outcome(entries=tuple(outcomes), changes=tuple(changes), programs=programs)


def _replayed_changes(
    uow: UnitOfWork,
    tenant_id: str,
    program: ProgramConfig,
    entry: Entry,
    members: Mapping[str, Member],
) -> list[TierChange]:
    """For a repeated single entry: the changes stored at the first entry's instant."""
    first = uow.ledger.get(tenant_id, str(entry.idempotency_key))
    if first is None:
        return []
    changes: list[TierChange] = []
    for subject in subjects_of(uow, program, members[entry.member_id]):
        state = uow.states.get(tenant_id, subject.group.id, subject.id)
        if state is not None:
            changes += [
                TierChange(program.id, subject.group.id, subject.id, record)
                for record in state.history
                if record.at == first.occurred_at
            ]
    return changes
