"""The demo: ACME Rewards (`program.yaml`) with 50 members and a year of activity.

`load_demo` plays the seeded plan (`tierbook.demo.plan`) through the service layer in time
order, with a `FixedClock` moved along so that every enrolment, entry and assignment is dated
when it happened and is in the past when it is recorded, as in a live system fed in batches.
Everything is written in one unit of work: a failed load leaves nothing behind.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

import yaml

from tierbook.bootstrap import Container
from tierbook.demo.plan import (
    DEMO_GROUP_ID,
    DEMO_MEMBER_ID,
    DEMO_PROGRAM_ID,
    SEED,
    Plan,
    plan,
)
from tierbook.domain.ledger import EntryKind
from tierbook.service import activities, members, programs, queries, tiers
from tierbook.service.clocks import FixedClock
from tierbook.service.commands import AssignTier, EnrolMember, RecordActivity
from tierbook.service.documents import ProgramDocument, parse_document
from tierbook.service.ports import UnitOfWork

__all__ = [
    "DEMO_GROUP_ID",
    "DEMO_MEMBER_ID",
    "DEMO_PROGRAM_ID",
    "DEMO_TENANT",
    "SEED",
    "DemoSummary",
    "document",
    "is_loaded",
    "load_demo",
    "plan",
]

DEMO_TENANT = "demo"
_TZ = ZoneInfo("Australia/Melbourne")


@dataclass(frozen=True, slots=True)
class DemoSummary:
    tenant_id: str
    program_id: int
    program_name: str
    members: int
    households: int
    entries: int
    purchases: int
    refunds: int
    achievements: int
    assignments: int
    sample_member_id: str
    tiers: dict[str, dict[str, int]] = field(default_factory=dict)
    """Members per tier now, by group code then tier handle."""


def document() -> ProgramDocument:
    """The demo program's §3 document (`demo/program.yaml`)."""
    text = resources.files(__package__).joinpath("program.yaml").read_text(encoding="utf-8")
    return parse_document(yaml.safe_load(text))


def is_loaded(container: Container, *, tenant_id: str = DEMO_TENANT) -> bool:
    with container.uow_factory(write=False) as uow:
        return uow.programs.get(tenant_id, DEMO_PROGRAM_ID) is not None


def load_demo(
    container: Container,
    *,
    tenant_id: str = DEMO_TENANT,
    now: datetime | None = None,
    seed: int = SEED,
) -> DemoSummary:
    """Create the demo program in `tenant_id` and play a year of activity up to `now` into it."""
    now = (now or container.clock.now()).astimezone(UTC).replace(microsecond=0)
    the_plan = plan(seed, now)
    clock = FixedClock(min(e.at for e in the_plan.enrolments))
    with container.uow_factory() as uow:
        programs.put_program(uow, clock, tenant_id=tenant_id, document=document())
        for quarter in _quarters(the_plan):
            clock.set(min(now, quarter.last + timedelta(minutes=5)))
            for enrolment in quarter.enrolments:
                members.enrol(uow, clock, tenant_id=tenant_id, command=enrolment)
            for assignment in quarter.assignments:
                tiers.assign(uow, clock, tenant_id=tenant_id, command=assignment)
            if quarter.entries:
                activities.record(uow, clock, tenant_id=tenant_id, commands=quarter.entries)
        clock.set(now)
        summary = _summary(uow, clock, tenant_id, the_plan)
        uow.commit()
    return summary


@dataclass(slots=True)
class _Quarter:
    """What happened in one calendar quarter (Melbourne time), recorded just after its end."""

    last: datetime
    enrolments: list[EnrolMember] = field(default_factory=list)
    assignments: list[AssignTier] = field(default_factory=list)
    entries: list[RecordActivity] = field(default_factory=list)


def _quarters(the_plan: Plan) -> list[_Quarter]:
    """The plan in quarters, in time order.

    A quarter is recorded a few minutes after its last event, with every instant (`enrolled_at`,
    `effective_at`, `occurred_at`) given explicitly, so each is in the past when it is recorded,
    as in a live system fed in batches; fewer, larger batches keep the load fast.
    """
    quarters: dict[tuple[int, int], _Quarter] = {}

    def quarter(at: datetime) -> _Quarter:
        local = at.astimezone(_TZ)
        found = quarters.setdefault((local.year, (local.month - 1) // 3), _Quarter(at))
        found.last = max(found.last, at)
        return found

    for enrolment in the_plan.enrolments:
        quarter(enrolment.at).enrolments.append(enrolment.command)
    for assignment in the_plan.assignments:
        assert assignment.effective_at is not None, "the plan dates every assignment"
        quarter(assignment.effective_at).assignments.append(assignment)
    for entry in the_plan.entries:
        quarter(entry.occurred_at).entries.append(entry)
    return [quarters[key] for key in sorted(quarters)]


def _summary(uow: UnitOfWork, clock: FixedClock, tenant_id: str, the_plan: Plan) -> DemoSummary:
    counts: dict[str, Counter[str]] = {}
    program_name = ""
    for enrolment in the_plan.enrolments:
        member_id = str(enrolment.command.id)
        for view in queries.member_tiers(uow, clock, tenant_id=tenant_id, member_id=member_id):
            program_name = view.program.name
            tier_id = view.state.tier_id
            handle = "-" if tier_id is None else view.group.rules.tier_by_id(tier_id).handle
            counts.setdefault(view.group.code, Counter())[handle] += 1
    kinds = Counter(e.kind for e in the_plan.entries)
    households = {e.command.household_id for e in the_plan.enrolments} - {None}
    return DemoSummary(
        tenant_id=tenant_id,
        program_id=DEMO_PROGRAM_ID,
        program_name=program_name,
        members=len(the_plan.enrolments),
        households=len(households),
        entries=len(the_plan.entries),
        purchases=kinds[EntryKind.PURCHASE],
        refunds=kinds[EntryKind.REFUND],
        achievements=kinds[EntryKind.ACHIEVEMENT],
        assignments=len(the_plan.assignments),
        sample_member_id=DEMO_MEMBER_ID,
        tiers={code: dict(sorted(c.items())) for code, c in counts.items()},
    )
