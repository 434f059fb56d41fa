"""What the tier clock produces: a state, its history of changes, and a trace of decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class AssignmentMode(StrEnum):
    OVERRIDE = "override"
    FLOOR = "floor"
    LOCK = "lock"


class Reason(StrEnum):
    ENROLLED = "enrolled"
    QUALIFIED = "qualified"
    MAINTAINED = "maintained"
    DOWNGRADED = "downgraded"
    GRACE_STARTED = "grace_started"
    ASSIGNED = "assigned"
    ASSIGNMENT_EXPIRED = "assignment_expired"
    REVERSAL = "reversal"
    INACTIVITY = "inactivity"
    RESET = "reset"


@dataclass(frozen=True, slots=True)
class Assignment:
    """A manual assignment as recorded; `ended_at` is set when an operator ends it early."""

    id: str
    tier_id: int
    mode: AssignmentMode
    effective_at: datetime
    until: datetime | None = None
    reason: str | None = None
    assigned_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def ends_at(self) -> datetime | None:
        ends = [t for t in (self.until, self.ended_at) if t is not None]
        return min(ends) if ends else None


@dataclass(frozen=True, slots=True)
class ActiveAssignment:
    id: str
    tier_id: int
    mode: AssignmentMode
    assigned_at: datetime
    until: datetime | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    at: datetime
    from_tier_id: int | None
    to_tier_id: int | None
    reason: Reason
    figures: dict[str, str | None] = field(default_factory=dict, compare=True, hash=False)


@dataclass(frozen=True, slots=True)
class Decision:
    """One step of the clock's reasoning, for `explain`."""

    at: datetime
    rule: str
    outcome: str
    message: str
    values: dict[str, str | None] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Figures:
    """Progress figures as of the evaluation instant."""

    window_value: Decimal
    window_from: datetime | None
    window_to: datetime
    progress: Decimal
    remain_to_keep: Decimal
    next_tier_id: int | None
    remain_to_next: Decimal
    total_points_12m: Decimal
    total_points_achievement: Decimal | None
    next_progress_change_at: datetime | None


@dataclass(frozen=True, slots=True)
class TierState:
    """A member's (or household's) state in one group, as of `as_of`.

    `next_due_at` is the next instant the clock changes something by itself (anniversary, grace
    end, inactivity deadline, pending promotion, assignment start or end); `stable_until` is the
    first instant any figure may change without a new entry, so a stored state answers reads
    for every instant in `[as_of, stable_until)`. `basis` is a digest of the inputs the clock
    computed it from (see `tierbook.domain.clock`), which lets the clock resume from it.
    """

    group_id: int
    subject_id: str
    as_of: datetime
    enrolled_at: datetime
    tier_id: int | None
    prev_tier_id: int | None
    achieved_at: datetime
    last_reason: Reason
    anniversary_at: datetime | None
    maintained_at: datetime | None
    tier_year_start: datetime
    credit: Decimal
    grace_until: datetime | None
    assigned_at: datetime | None
    assignment: ActiveAssignment | None
    last_activity_at: datetime | None
    pending_promotion_at: datetime | None
    inactivity_base: datetime | None
    figures: Figures
    next_due_at: datetime | None
    stable_until: datetime | None
    basis: str | None = None


@dataclass(frozen=True, slots=True)
class Evaluation:
    state: TierState
    history: tuple[HistoryRecord, ...]
    trace: tuple[Decision, ...] = ()
    resumed: bool = False
    """Whether the clock resumed from the earlier evaluation it was given (whose history then
    leads this one's) rather than replaying from enrolment."""
