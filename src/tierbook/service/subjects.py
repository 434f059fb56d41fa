"""Who a tier state belongs to, and how a stored state is brought up to date.

A state belongs to a member, or in a `household` group to the member's household. `refresh`
(or `refresh_many`, for many subjects at once) is the one place a state is written: it runs
the subject's ledger through the tier clock (from the stored state where the clock can resume
from it), stores the state and its history, and writes an outbox event for every change not
stored before, all inside the caller's unit of work. Where a replay no longer gives a stored
change (an entry dated before it moved or undid it), a `tier.retracted` event withdraws that
change, ahead of the events of what the replay gives instead.

`refresh_many` reads the ledgers, assignments, stored states and histories of all its subjects
in a few queries, and writes their states, history tails and events in a few more: the sweep's
path, with no query per entry and none per subject.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from tierbook.domain.clock import SubjectLedger, evaluate
from tierbook.domain.errors import UnknownMember, UnknownProgram
from tierbook.domain.ledger import Entries
from tierbook.domain.rules import Context, QualifyingFilter
from tierbook.domain.state import Evaluation, HistoryRecord, Reason
from tierbook.service.model import GroupConfig, Member, OutboxEvent, ProgramConfig
from tierbook.service.ports import StateWrite, UnitOfWork

EVENT_TYPES = {
    Reason.ENROLLED: "tier.achieved",
    Reason.QUALIFIED: "tier.upgraded",
    Reason.MAINTAINED: "tier.maintained",
    Reason.DOWNGRADED: "tier.downgraded",
    Reason.INACTIVITY: "tier.downgraded",
    Reason.REVERSAL: "tier.downgraded",
    Reason.GRACE_STARTED: "tier.at_risk",
    Reason.ASSIGNED: "tier.assigned",
    Reason.ASSIGNMENT_EXPIRED: "tier.assignment_expired",
    Reason.RESET: "tier.reset",
}
RETRACTED = "tier.retracted"
"""The event of a stored change that a replay of the subject no longer gives."""


@dataclass(frozen=True, slots=True)
class Subject:
    """The holder of one state: its id, the members whose entries pool, their enrolment."""

    group: GroupConfig
    id: str
    member_ids: tuple[str, ...]
    enrolled_at: datetime

    @property
    def key(self) -> tuple[int, str]:
        return (self.group.id, self.id)


@dataclass(frozen=True, slots=True)
class TierChange:
    program_id: int
    group_id: int
    subject_id: str
    record: HistoryRecord


def load_program(uow: UnitOfWork, tenant_id: str, program_id: int) -> ProgramConfig:
    program = uow.programs.get(tenant_id, program_id)
    if program is None:
        raise UnknownProgram(f"no program {program_id}")
    return program


def load_member(uow: UnitOfWork, tenant_id: str, member_id: str) -> Member:
    member = uow.members.get(tenant_id, member_id)
    if member is None:
        raise UnknownMember(f"no member {member_id!r}")
    return member


def state_key(group: GroupConfig, member: Member) -> tuple[int, str]:
    """The key of the state `member` holds in `group`: its household's in a household group.

    The same key `subject_for` gives, without reading the household.
    """
    if _pooled(group) and member.household_id:
        return (group.id, member.household_id)
    return (group.id, member.id)


def subject_for(uow: UnitOfWork, group: GroupConfig, member: Member) -> Subject:
    if group.rules.context is Context.HOUSEHOLD and member.household_id:
        household = uow.members.household(member.tenant_id, member.program_id, member.household_id)
        members = household or [member]
        return Subject(
            group=group,
            id=member.household_id,
            member_ids=tuple(sorted(m.id for m in members)),
            enrolled_at=min(m.enrolled_at for m in members),
        )
    return Subject(
        group=group, id=member.id, member_ids=(member.id,), enrolled_at=member.enrolled_at
    )


def subjects_of(uow: UnitOfWork, program: ProgramConfig, member: Member) -> list[Subject]:
    return [subject_for(uow, g, member) for g in program.groups if g.active]


def subjects_of_many(
    uow: UnitOfWork, tenant_id: str, program: ProgramConfig, members: Sequence[Member]
) -> dict[str, list[Subject]]:
    """`subjects_of` each member (all of `program`), by member id: one query for all households."""
    groups = [g for g in program.groups if g.active]
    households: dict[str, list[Member]] = {}
    if any(map(_pooled, groups)):
        ids = {m.household_id for m in members if m.household_id}
        households = uow.members.households(tenant_id, program.id, ids) if ids else {}
    found: dict[str, list[Subject]] = {}
    for member in members:
        found[member.id] = [
            _household_subject(
                g, member.household_id, households.get(member.household_id) or [member]
            )
            if _pooled(g) and member.household_id
            else Subject(
                group=g, id=member.id, member_ids=(member.id,), enrolled_at=member.enrolled_at
            )
            for g in groups
        ]
    return found


def subject_by_id(
    uow: UnitOfWork, tenant_id: str, program: ProgramConfig, group: GroupConfig, subject_id: str
) -> Subject | None:
    """The subject a stored state names (a household id or a member id)."""
    if group.rules.context is Context.HOUSEHOLD:
        household = uow.members.household(tenant_id, program.id, subject_id)
        if household:
            return subject_for(uow, group, household[0])
    member = uow.members.get(tenant_id, subject_id)
    return None if member is None else subject_for(uow, group, member)


def subjects_by_keys(
    uow: UnitOfWork, tenant_id: str, program: ProgramConfig, keys: Iterable[tuple[int, str]]
) -> tuple[list[Subject], list[tuple[int, str]]]:
    """`subject_by_id` for many stored states at once, in two queries.

    Returns the subjects, and the keys of states that no longer name their holder: a group or
    member gone, an empty household, or a member whose state in a household group is now held
    by the household.
    """
    wanted = list(dict.fromkeys(keys))
    groups = {key: program.group(key[0]) for key in wanted}
    pooled = [k for k, g in groups.items() if g is not None and _pooled(g)]
    households = uow.members.households(tenant_id, program.id, {s for _, s in pooled})
    single = {
        k[1] for k, g in groups.items() if g is not None and not (_pooled(g) and k[1] in households)
    }
    members = uow.members.get_many(tenant_id, single)
    subjects: list[Subject] = []
    orphans: list[tuple[int, str]] = []
    for key, group in groups.items():
        subject = None
        if group is not None:
            household = households.get(key[1]) if _pooled(group) else None
            if household:
                subject = _household_subject(group, household[0].household_id, household)
            elif key[1] in members:
                member = members[key[1]]
                if _pooled(group) and member.household_id:
                    pool = households.get(member.household_id) or [member]
                    subject = _household_subject(group, member.household_id, pool)
                else:
                    subject = subject_for(uow, group, member)
        if subject is None or subject.key != key:
            orphans.append(key)
        else:
            subjects.append(subject)
    return subjects, orphans


def _pooled(group: GroupConfig) -> bool:
    return group.rules.context is Context.HOUSEHOLD


def _household_subject(
    group: GroupConfig, household_id: str | None, members: Sequence[Member]
) -> Subject:
    assert household_id is not None
    return Subject(
        group=group,
        id=household_id,
        member_ids=tuple(sorted(m.id for m in members)),
        enrolled_at=min(m.enrolled_at for m in members),
    )


def replay(
    uow: UnitOfWork,
    tenant_id: str,
    program: ProgramConfig,
    subject: Subject,
    as_of: datetime,
    *,
    explain: bool = False,
) -> Evaluation:
    """Evaluate a subject from its ledger and assignments; reads only."""
    entries = uow.ledger.for_members(tenant_id, program.id, subject.member_ids)
    assignments = uow.assignments.for_subject(tenant_id, subject.group.id, subject.id)
    return evaluate(
        subject.group.rules,
        subject_id=subject.id,
        enrolled_at=subject.enrolled_at,
        entries=entries,
        assignments=assignments,
        as_of=as_of,
        explain=explain,
    )


def lock(uow: UnitOfWork, tenant_id: str, subjects: Sequence[Subject]) -> None:
    uow.states.lock(tenant_id, sorted({s.key for s in subjects}))


def refresh(
    uow: UnitOfWork, tenant_id: str, program: ProgramConfig, subject: Subject, as_of: datetime
) -> list[TierChange]:
    """Store the subject's state as of `as_of`; return the changes not stored before.

    The caller holds the subject's lock (see `lock`), so no other writer can interleave.
    """
    return refresh_many(uow, tenant_id, program, [subject], as_of)


def refresh_many(
    uow: UnitOfWork,
    tenant_id: str,
    program: ProgramConfig,
    subjects: Sequence[Subject],
    as_of: datetime,
) -> list[TierChange]:
    """`refresh` every subject (all of `program`), in a few queries for all of them.

    The caller holds every subject's lock. Changes come subject by subject, each in time order.
    """
    evaluated = evaluate_many(uow, tenant_id, program, subjects, as_of)
    return store(uow, tenant_id, program.id, evaluated)


@dataclass(frozen=True, slots=True)
class Evaluated:
    """A subject's state evaluated from what one transaction read, ready to be stored."""

    key: tuple[int, str]
    write: StateWrite
    changes: tuple[TierChange, ...]
    as_of: datetime
    withdrawn: tuple[TierChange, ...] = ()
    """Stored changes the evaluation no longer gives (its history differs from them on)."""


def evaluate_many(
    uow: UnitOfWork,
    tenant_id: str,
    program: ProgramConfig,
    subjects: Sequence[Subject],
    as_of: datetime,
) -> list[Evaluated]:
    """Evaluate every subject from its ledger, assignments and stored state; reads only.

    The clock resumes from each stored state whose basis the subject's inputs still match, so
    an entry dated after it, or the time passed since, costs what it adds rather than a replay
    of the whole history; the stored history of such a subject stands, and is not read. Only
    the histories of subjects the clock replayed are read, to find where each first differs.

    The result is right to store as long as nothing wrote these states since the reads: under
    the subjects' lock (`refresh_many`), or where their versions are unchanged (the sweep).
    """
    unique = list({s.key: s for s in subjects}.values())
    if not unique:
        return []
    keys = [s.key for s in unique]
    ledgers = uow.ledger.ledgers(
        tenant_id,
        program.id,
        {m for s in unique for m in s.member_ids},
        items=any(s.group.rules.qualifying.filters_items for s in unique),
    )
    assignments = uow.assignments.for_subjects(tenant_id, keys)
    states = uow.states.get_states(tenant_id, keys)
    evaluations: list[Evaluation] = []
    # The groups of a subject that share a qualifying filter share its ledger.
    shared: dict[tuple[tuple[str, ...], datetime, QualifyingFilter], SubjectLedger] = {}
    for subject in unique:
        state = states.get(subject.key)
        rules = subject.group.rules
        key = (subject.member_ids, subject.enrolled_at, rules.qualifying)
        ledger = shared.get(key)
        if ledger is None:
            pooled = _pool(ledgers, subject.member_ids)
            ledger = shared[key] = SubjectLedger(pooled, rules.qualifying, subject.enrolled_at)
        evaluations.append(
            evaluate(
                rules,
                subject_id=subject.id,
                enrolled_at=subject.enrolled_at,
                entries=ledger,
                assignments=assignments.get(subject.key, ()),
                as_of=as_of,
                since=None if state is None else Evaluation(state, ()),
            )
        )
    replayed = [s.key for s, e in zip(unique, evaluations, strict=True) if not e.resumed]
    stored = uow.states.histories(tenant_id, replayed) if replayed else {}
    evaluated: list[Evaluated] = []
    for subject, evaluation in zip(unique, evaluations, strict=True):
        new = evaluation.history
        withdrawn: tuple[HistoryRecord, ...] = ()
        if evaluation.resumed:  # `new` holds only what follows the stored history
            write, added = StateWrite(evaluation.state, new, kept=None), new
        else:
            old = stored.get(subject.key, ())
            same = 0
            while same < min(len(old), len(new)) and old[same] == new[same]:
                same += 1
            added, withdrawn = new[same:], old[same:]
            write = StateWrite(evaluation.state, added, kept=same, stored=len(old))
        evaluated.append(
            Evaluated(
                key=subject.key,
                write=write,
                changes=_changes(program.id, subject, added),
                as_of=as_of,
                withdrawn=_changes(program.id, subject, withdrawn),
            )
        )
    return evaluated


def store(
    uow: UnitOfWork, tenant_id: str, program_id: int, evaluated: Sequence[Evaluated]
) -> list[TierChange]:
    """Write evaluated states, their history tails and an outbox event for every change (after
    one for each stored change withdrawn)."""
    if not evaluated:
        return []
    uow.states.save_many(tenant_id, program_id, [e.write for e in evaluated])
    changes = [change for e in evaluated for change in e.changes]
    uow.outbox.add(
        [
            event
            for e in evaluated
            for event in (
                *(_event(tenant_id, c, e.as_of, retracted=True) for c in e.withdrawn),
                *(_event(tenant_id, c, e.as_of) for c in e.changes),
            )
        ]
    )
    return changes


def _changes(
    program_id: int, subject: Subject, records: Sequence[HistoryRecord]
) -> tuple[TierChange, ...]:
    return tuple(TierChange(program_id, subject.group.id, subject.id, r) for r in records)


def _pool(ledgers: Mapping[str, Entries], member_ids: Sequence[str]) -> Entries:
    # The clock orders the pooled entries itself.
    return Entries.joined([ledgers[m] for m in member_ids if m in ledgers] or [Entries()])


def _event(
    tenant_id: str, change: TierChange, now: datetime, *, retracted: bool = False
) -> OutboxEvent:
    """The change's event; with `retracted`, the event that withdraws it (its payload names the
    withdrawn event's type in `retracts`)."""
    record = change.record
    kind = EVENT_TYPES[record.reason]
    extra = {"retracts": kind} if retracted else {}
    return OutboxEvent(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        type=RETRACTED if retracted else kind,
        subject_id=change.subject_id,
        program_id=change.program_id,
        group_id=change.group_id,
        occurred_at=record.at,
        payload={
            "subject_id": change.subject_id,
            "program_id": change.program_id,
            "group_id": change.group_id,
            "from_tier_id": record.from_tier_id,
            "to_tier_id": record.to_tier_id,
            "reason": record.reason.value,
            "at": record.at.isoformat(),
            "figures": dict(record.figures),
        }
        | extra,
        created_at=now,
    )
