"""SessionM Tiers API (`/priv/v1/apps/{api_key}`) shapes. Pure: no web framework, no database.

A SessionM tier system is a tier group; its tiers are the group's, by rank. A system resets
where its group runs on a calendar (a `calendar` window, or `period_end` maintenance): `reset_at`
is the start of the next period and `last_reset_at` the start of the current one, each local
midnight in the program's timezone, written in UTC.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tierbook.api.dialects.common import WireError, rfc3339, whole_up
from tierbook.domain.calendar import PeriodCalendar
from tierbook.domain.errors import UnknownTier
from tierbook.domain.rules import MaintenanceKind, Metric, Tier, WindowKind
from tierbook.service.model import GroupConfig, ProgramConfig

Json = dict[str, Any]

NOT_FOUND = "Tier ID does not exist."
INTERVALS = {"month": "monthly", "quarter": "quarterly", "year": "yearly"}
_ID = re.compile(r"^[1-9]\d{0,17}$")
_NUMERIC = re.compile(r"^\d{1,18}$")


def ok(**fields: Any) -> Json:
    return {"status": "ok", **fields}


def parse_tier_id(text: str) -> int:
    """A tier id from the path; anything that is not one names no tier."""
    if not _ID.match(text):
        raise UnknownTier(NOT_FOUND)
    return int(text)


def _achievement_ids(tier: Tier) -> tuple[str, ...]:
    return () if tier.required_achievements is None else tier.required_achievements.ids


def achievement_ids_text(ids: tuple[str, ...]) -> str:
    """SessionM's comma string, newline-terminated as the seed writes it: `"1,2\\n"`."""
    return ",".join(ids) + "\n" if ids else ""


def _first_numeric(ids: tuple[str, ...]) -> int | None:
    return int(ids[0]) if ids and _NUMERIC.match(ids[0]) else None


def _sponsor_points(tier: Tier) -> Decimal:
    return sum((r.min for r in tier.also if r.metric is Metric.SPONSOR_POINTS), Decimal(0))


def tier(tier: Tier, group: GroupConfig) -> Json:
    """A tier with every field of the seed; `next_tier_id` is null on the top tier."""
    above = group.rules.above(tier)
    achievements = tier.required_achievements
    ids = _achievement_ids(tier)
    count = 0 if achievements is None else achievements.count or len(achievements.ids)
    return {
        "id": tier.id,
        "name": tier.name,
        "identifier": tier.handle,
        "next_tier_id": None if above is None else above.id,
        "required_num_days_in_tier": tier.required_num_days_in_tier,
        # The seed types the point requirements integer: a fraction is shown as the whole it takes.
        "required_points": whole_up(tier.value_min),
        "required_application_achievement_ids": achievement_ids_text(ids),
        "required_num_achievements": count,
        "max_inactive_days": tier.max_inactive_days,
        "required_application_achievement_id": _first_numeric(ids),
        "num_days_to_earn_required_achievement": None
        if achievements is None
        else achievements.within_days,
        "required_sponsor_points": whole_up(_sponsor_points(tier)),
        "multiplier": tier.multiplier,
        "tier_system_id": group.id,
        "maintenance_required_points": whole_up(tier.value_maintain),
    }


def _calendar(group: GroupConfig) -> PeriodCalendar | None:
    rules = group.rules
    if (
        rules.window.kind is WindowKind.CALENDAR
        or rules.maintenance.kind is MaintenanceKind.PERIOD_END
    ):
        return PeriodCalendar.of(rules.window.period, rules.tz, rules.window.reset_at)
    return None


def tier_system(group: GroupConfig, now: datetime) -> Json:
    calendar = _calendar(group)
    reset_at = last_reset_at = None
    interval = "never"
    if calendar is not None:
        previous_end, end = calendar.bounds(now)
        # A period ends at 23:59:59 local; the next starts a second later, at local midnight.
        reset_at = rfc3339(end + timedelta(seconds=1))
        last_reset_at = rfc3339(previous_end + timedelta(seconds=1))
        interval = INTERVALS[group.rules.window.period.value]
    return {
        "id": group.id,
        "name": group.name,
        "external_id": group.external_id or group.code,
        "active": group.active,
        "reset_at": reset_at,
        "reset_interval": interval,
        "last_reset_at": last_reset_at,
    }


def all_tiers(programs: list[ProgramConfig]) -> Json:
    return ok(tiers=[tier(t, g) for p in programs for g in p.groups for t in g.rules.tiers])


def all_tier_systems(programs: list[ProgramConfig], now: datetime) -> Json:
    groups = sorted((g for p in programs for g in p.groups), key=lambda g: g.id)
    return ok(tier_systems=[tier_system(g, now) for g in groups])


def one_tier(programs: list[ProgramConfig], tier_id: int, now: datetime) -> Json:
    for program in programs:
        for group in program.groups:
            for found in group.rules.tiers:
                if found.id == tier_id:
                    return ok(tier=tier(found, group), tier_system=tier_system(group, now))
    raise UnknownTier(NOT_FOUND)


# -- errors -------------------------------------------------------------------------------------

CODES = {401: "invalid_api_key", 403: "forbidden", 404: "not_found"}


def error_body(error: WireError) -> tuple[int, Json]:
    """`{"status": "error", "errors": {"code", "message"}}`, an unknown tier in the seed's words."""
    code = CODES.get(error.status, error.code)
    message = NOT_FOUND if error.code == UnknownTier.code else error.message
    return error.status, {"status": "error", "errors": {"code": code, "message": message}}
