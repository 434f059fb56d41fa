"""The rules of a tier group: metric, window, maintenance, downgrade, credit, tiers.

Every value here is an immutable value object; a group's rules are checked once, when they are
built (`GroupRules.__post_init__`), so the tier clock can trust them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from tierbook.domain.errors import InvalidRules


class Metric(StrEnum):
    POINTS = "points"
    SPEND = "spend"
    UNITS = "units"
    VISITS = "visits"
    SPONSOR_POINTS = "sponsor_points"
    ACHIEVEMENTS = "achievements"


class WindowKind(StrEnum):
    ROLLING = "rolling"
    CALENDAR = "calendar"
    LIFETIME = "lifetime"


class Period(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"

    @property
    def months(self) -> int:
        return {"month": 1, "quarter": 3, "year": 12}[self.value]


class MaintenanceKind(StrEnum):
    ANNIVERSARY = "anniversary"
    PERIOD_END = "period_end"
    NONE = "none"


class DowngradePolicy(StrEnum):
    TO_QUALIFYING = "to_qualifying"
    ONE_DOWN = "one_down"
    TO_FLOOR = "to_floor"


class ReversalPolicy(StrEnum):
    KEEP = "keep"
    REEVALUATE = "reevaluate"


class Context(StrEnum):
    INDIVIDUAL = "individual"
    HOUSEHOLD = "household"


@dataclass(frozen=True, slots=True)
class Window:
    """What "progress toward the next tier" measures.

    `reset_at` anchors calendar periods (and `period_end` maintenance): periods start at the
    anchor's local day-of-month and time, every `period` months from it. Without an anchor a
    period starts at local midnight on the first day of a month (January for years, January,
    April, July and October for quarters).
    """

    kind: WindowKind = WindowKind.ROLLING
    days: int = 365
    period: Period = Period.YEAR
    reset_at: datetime | None = None
    span: timedelta = field(init=False, repr=False, compare=False, hash=False)
    """A rolling window's length: `days` as a duration."""

    def __post_init__(self) -> None:
        if self.days < 1:
            raise InvalidRules("window.days must be at least 1", field="window.days")
        if self.reset_at is not None and self.reset_at.tzinfo is None:
            raise InvalidRules("window.reset_at must carry a UTC offset", field="window.reset_at")
        object.__setattr__(self, "span", timedelta(days=self.days))

    def bounds(
        self, at: datetime, period_start: datetime | None
    ) -> tuple[datetime | None, datetime]:
        """The window as of `at`, `(start, at]`: a rolling window starts its length before
        `at`, a calendar window at `period_start` (the start of the period holding `at`), and a
        lifetime window has no start."""
        if self.kind is WindowKind.ROLLING:
            return at - self.span, at
        if self.kind is WindowKind.CALENDAR:
            return period_start, at
        return None, at


@dataclass(frozen=True, slots=True)
class Maintenance:
    kind: MaintenanceKind = MaintenanceKind.ANNIVERSARY
    term_months: int = 12

    def __post_init__(self) -> None:
        if self.term_months < 1:
            raise InvalidRules(
                "maintenance.term_months must be at least 1", field="maintenance.term_months"
            )


@dataclass(frozen=True, slots=True)
class Downgrade:
    policy: DowngradePolicy = DowngradePolicy.TO_QUALIFYING
    grace_days: int = 0

    def __post_init__(self) -> None:
        if self.grace_days < 0:
            raise InvalidRules("downgrade.grace_days must not be negative", field="downgrade")


@dataclass(frozen=True, slots=True)
class QualifyingFilter:
    """Which entries count. An empty set means "all"."""

    business_units: frozenset[str] = frozenset()
    behaviour_types: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()

    @property
    def filters_items(self) -> bool:
        return bool(self.skus or self.categories)

    @property
    def counts_all(self) -> bool:
        """Whether every entry qualifies (no set filters anything)."""
        return not (self.business_units or self.behaviour_types or self.filters_items)


@dataclass(frozen=True, slots=True)
class Requirement:
    """An extra all-of requirement of a tier, e.g. `{metric: sponsor_points, min: 10}`."""

    metric: Metric
    min: Decimal


@dataclass(frozen=True, slots=True)
class AchievementRequirement:
    """Achievements needed to attain a tier.

    With `count` unset every id in `ids` must have been earned; with `count` set, that many
    achievement entries (of `ids`, or of any id where `ids` is empty) are needed. `within_days`
    limits the look-back; without it the group's window applies.
    """

    ids: tuple[str, ...] = ()
    count: int | None = None
    within_days: int | None = None

    def __post_init__(self) -> None:
        if not self.ids and self.count is None:
            raise InvalidRules(
                "required_achievements needs ids or a count", field="required_achievements"
            )
        if self.count is not None and self.count < 1:
            raise InvalidRules(
                "required_achievements.count must be at least 1", field="required_achievements"
            )
        if self.within_days is not None and self.within_days < 1:
            raise InvalidRules(
                "required_achievements.within_days must be at least 1",
                field="required_achievements",
            )


@dataclass(frozen=True, slots=True)
class Tier:
    id: int
    handle: str
    name: str
    rank: int
    value_min: Decimal = Decimal(0)
    value_maintain: Decimal = Decimal(0)
    is_floor: bool = False
    is_assignable: bool = False
    disable_credit: bool = False
    multiplier: str = "1.0"
    required_num_days_in_tier: int = 0
    max_inactive_days: int | None = None
    required_achievements: AchievementRequirement | None = None
    also: tuple[Requirement, ...] = ()
    external_id: str | None = None
    # Descriptive fields carried for clients; the clock never reads them.
    details: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.value_min < 0 or self.value_maintain < 0:
            raise InvalidRules(
                f"tier {self.handle}: thresholds must not be negative", field="tiers"
            )
        if self.required_num_days_in_tier < 0:
            raise InvalidRules(
                f"tier {self.handle}: required_num_days_in_tier must not be negative", field="tiers"
            )
        if self.max_inactive_days is not None and self.max_inactive_days < 1:
            raise InvalidRules(
                f"tier {self.handle}: max_inactive_days must be at least 1", field="tiers"
            )


@dataclass(frozen=True, slots=True)
class GroupRules:
    """One tier group's rules, with its tiers ordered by rank."""

    id: int
    code: str
    tiers: tuple[Tier, ...]
    metric: Metric = Metric.POINTS
    window: Window = Window()
    maintenance: Maintenance = Maintenance()
    downgrade: Downgrade = Downgrade()
    credit: bool = True
    carry_excess: bool = False
    reversals: ReversalPolicy = ReversalPolicy.KEEP
    context: Context = Context.INDIVIDUAL
    qualifying: QualifyingFilter = QualifyingFilter()
    timezone: str = "UTC"
    fingerprint: str = field(init=False, repr=False, compare=False, hash=False)
    """A digest of every field above: equal rules, equal fingerprints, in any process."""

    def __post_init__(self) -> None:
        if not self.tiers:
            raise InvalidRules(f"group {self.code}: needs at least one tier", field="tiers")
        ranks = [t.rank for t in self.tiers]
        if ranks != list(range(len(self.tiers))):
            raise InvalidRules(
                f"group {self.code}: tier ranks must be unique and contiguous from 0 "
                f"(got {sorted(ranks)})",
                field="tiers",
            )
        if sum(t.is_floor for t in self.tiers) > 1:
            raise InvalidRules(f"group {self.code}: at most one tier is_floor", field="tiers")
        for kind, seen in (("id", [t.id for t in self.tiers]), ("handle", self._handles())):
            if len(set(seen)) != len(seen):
                raise InvalidRules(f"group {self.code}: tier {kind}s must be unique", field="tiers")
        mins = [t.value_min for t in self.tiers]
        if mins != sorted(mins):
            raise InvalidRules(
                f"group {self.code}: value_min must not fall as rank rises", field="tiers"
            )
        try:
            ZoneInfo(self.timezone)
        except (KeyError, ValueError) as exc:
            raise InvalidRules(f"unknown timezone {self.timezone!r}", field="timezone") from exc
        digest = hashlib.blake2b(repr(_canonical(self)).encode(), digest_size=16).hexdigest()
        object.__setattr__(self, "fingerprint", digest)

    def _handles(self) -> list[str]:
        return [t.handle for t in self.tiers]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def floor(self) -> Tier | None:
        return next((t for t in self.tiers if t.is_floor), None)

    def tier_by_id(self, tier_id: int) -> Tier:
        for tier in self.tiers:
            if tier.id == tier_id:
                return tier
        raise KeyError(tier_id)

    def find_tier(self, ref: str | int) -> Tier | None:
        """A tier by id, handle or external id."""
        for tier in self.tiers:
            if ref in (tier.id, tier.handle, tier.external_id) or str(tier.id) == str(ref):
                return tier
        return None

    def above(self, tier: Tier | None) -> Tier | None:
        rank = -1 if tier is None else tier.rank
        return self.tiers[rank + 1] if rank + 1 < len(self.tiers) else None

    def rank_of(self, tier: Tier | None) -> int:
        return -1 if tier is None else tier.rank


def _canonical(value: Any) -> Any:
    """`value` as nested tuples of plain scalars, the same in every process: sets sorted
    (their order follows string hashing, which differs between processes), mappings by key."""
    if is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            tuple(
                (f.name, _canonical(getattr(value, f.name)))
                for f in fields(value)
                if f.init  # what is derived from the fields (a fingerprint, a span) is not one
            ),
        )
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, frozenset | set):
        return ("set", tuple(sorted((_canonical(v) for v in value), key=repr)))
    if isinstance(value, Mapping):
        return ("map", tuple(sorted(((str(k), _canonical(v)) for k, v in value.items()))))
    if isinstance(value, tuple | list):
        return tuple(_canonical(v) for v in value)
    if isinstance(value, Decimal | datetime):
        return str(value)
    return value
