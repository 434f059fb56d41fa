"""Omneo (`/api/v3`) wire shapes to and from the service layer. Pure: no web framework, no database.

Omneo writes every date-time as `"YYYY-MM-DD HH:MM:SS"`, in UTC. A profile's tier is its state
in one group: the program's default group, or the one `?group=` names (by id or code).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr

from tierbook.api.dialects.common import (
    WireError,
    field_messages,
    in_range,
    parse_instant,
    whole_down,
    whole_up,
)
from tierbook.domain.errors import InvalidInput, UnknownGroup, UnknownTier
from tierbook.domain.rules import Tier
from tierbook.domain.state import AssignmentMode
from tierbook.service.commands import AssignTier
from tierbook.service.definitions import READ_ONLY, Definition
from tierbook.service.model import GroupConfig, ProgramConfig
from tierbook.service.queries import TierView

Json = dict[str, Any]

DATETIME = "%Y-%m-%d %H:%M:%S"
_OMNEO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
# `?as_of=…T10:00:00+11:00` sent without encoding the `+` arrives as a space.
_UNENCODED_PLUS = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:\d{2})$"
)
_ID = re.compile(r"^[1-9]\d{0,17}$")
UNAUTHENTICATED = "Unauthenticated."
QUEUED = "Queued for processing."

# Descriptive fields of an Omneo tier definition, in the seed's order.
DESCRIPTIVE = (
    "internal_notes",
    "description",
    "short_description",
    "long_description",
    "terms_conditions",
    "icon",
    "image_url",
    "earn_instructions",
)


def omneo_datetime(value: datetime | None) -> str | None:
    """`DATETIME` in UTC, cut from the ISO text: what `strftime(DATETIME)` writes (for years of
    four digits), in a third of its time. A profile tier holds up to seven."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ")[:19]


def parse_as_of(text: str) -> datetime:
    """`?as_of=`: RFC 3339, or Omneo's own `YYYY-MM-DD HH:MM:SS` (read as UTC)."""
    if _OMNEO_DATETIME.match(text):
        try:
            naive = datetime.strptime(text, DATETIME)
        except ValueError:
            raise InvalidInput("as_of is not a valid date and time", field="as_of") from None
        return in_range(naive.replace(tzinfo=UTC), "as_of")
    return parse_instant(_UNENCODED_PLUS.sub(r"\1+\2", text), "as_of")


def pick_group(program: ProgramConfig, ref: str | None) -> GroupConfig:
    """The group `?group=` names by id or code; the program's default group without one."""
    if ref is None or ref == "":
        return program.default_group
    for group in program.groups:
        if ref in (str(group.id), group.code):
            return group
    raise UnknownGroup(f"the profile's program has no tier group {ref!r}")


def parse_tier_id(text: str) -> int:
    """A definition id from the path; anything else names no definition (404)."""
    if not _ID.match(text):
        raise UnknownTier(f"no tier definition {text!r}")
    return int(text)


# -- responses ----------------------------------------------------------------------------------


def tier_definition(tier: Tier, program: ProgramConfig) -> Json:
    """A tier as Omneo's tier definition object."""
    details = tier.details
    created = details.get("created_at") or program.created_at
    updated = details.get("updated_at") or program.updated_at or created
    out: Json = {
        "id": tier.id,
        "name": tier.name,
        "handle": tier.handle,
        "is_floor": tier.is_floor,
        "value_min": tier.value_min,
        "value_maintain": tier.value_maintain,
        "is_assignable": tier.is_assignable,
    }
    out |= {name: details.get(name) for name in DESCRIPTIVE}
    out["tags"] = list(details.get("tags") or [])
    out["created_at"] = omneo_datetime(created)
    out["updated_at"] = omneo_datetime(updated)
    return out


def definition(found: Definition) -> Json:
    return tier_definition(found.tier, found.program)


def definitions(found: list[Definition]) -> Json:
    return {"data": [definition(d) for d in found]}


_KEPT_DEFINITIONS = 1_024
_definitions: dict[tuple[int, int, int], tuple[ProgramConfig, Json]] = {}


def _tier(view: TierView, tier_id: int | None) -> Json | None:
    """The tier's definition, kept for the parsed program it was written from: a profile tier
    holds up to three, and a program's tiers do not change while it is kept (a changed program
    is parsed anew, into another object)."""
    if tier_id is None:
        return None
    program = view.program
    key = (id(program), view.group.id, tier_id)
    kept = _definitions.get(key)
    if kept is not None and kept[0] is program:
        return dict(kept[1])
    for tier in view.group.rules.tiers:
        if tier.id == tier_id:
            written = tier_definition(tier, program)
            if len(_definitions) >= _KEPT_DEFINITIONS:
                _definitions.clear()
            _definitions[key] = (program, written)
            return dict(written)
    return None  # a tier a forced rules change removed


def _on_floor(view: TierView) -> bool:
    """Whether the profile is on the lowest tier it can hold (it can fall no further)."""
    state, rules = view.state, view.group.rules
    if state.tier_id is None:
        return False
    tier = rules.find_tier(state.tier_id)
    if tier is None:
        return False
    pinned = state.assignment is not None and state.assignment.mode is AssignmentMode.FLOOR
    floor = rules.floor
    return (
        tier.is_floor
        or (floor is None and tier.rank == 0)
        or (pinned and state.assignment is not None and state.assignment.tier_id == tier.id)
    )


@dataclass(frozen=True, slots=True)
class ProfileTierRecord:
    """What Omneo shows of the record beside the state: its id and timestamps."""

    id: int
    created_at: datetime | None
    updated_at: datetime | None


def profile_tier(view: TierView, record: ProfileTierRecord) -> Json:
    """The seed's ProfileTier, plus `maintained_at` and `next_progress_change_at`.

    The seed types every figure INTEGER, and amounts may have decimals (spend, or points given
    as decimals): what was earned is rounded down, what remains to earn is rounded up.
    """
    state, figures = view.state, view.state.figures
    created = record.created_at or view.member.created_at or view.member.enrolled_at
    achievement = figures.total_points_achievement
    return {
        "id": record.id,
        "profile_id": view.member.id,
        "current_tier": _tier(view, state.tier_id),
        "next_tier": _tier(view, figures.next_tier_id),
        "prev_tier": _tier(view, state.prev_tier_id),
        "is_floor": _on_floor(view),
        "current_credit": whole_down(state.credit),
        "current_progress": whole_down(figures.progress),
        "current_remain": whole_up(figures.remain_to_keep),
        "next_progress": whole_down(figures.window_value),
        "next_remain": whole_up(figures.remain_to_next),
        "total_points_12m": whole_down(figures.total_points_12m),
        "total_points_achievement": None if achievement is None else whole_down(achievement),
        "anniversary_at": omneo_datetime(state.anniversary_at),
        "assigned_at": omneo_datetime(state.assigned_at),
        "achieved_at": omneo_datetime(state.achieved_at),
        "created_at": omneo_datetime(created),
        "updated_at": omneo_datetime(record.updated_at or created),
        "maintained_at": omneo_datetime(state.maintained_at),
        "next_progress_change_at": omneo_datetime(figures.next_progress_change_at),
    }


# -- requests -----------------------------------------------------------------------------------


def _id_as_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class AssignIn(BaseModel):
    """`POST …/tiers/assign`: the tier to hold, by handle (or id)."""

    model_config = ConfigDict(extra="ignore")

    tier: Annotated[StrictStr, BeforeValidator(_id_as_text)] = Field(
        description="The tier's handle (or id)", max_length=100
    )


class ProfileRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    profile_id: StrictStr = Field(min_length=1, max_length=128)


class BatchIn(BaseModel):
    """`POST /profile/tiers/calculate/batch.json`: the profiles to recalculate."""

    model_config = ConfigDict(extra="ignore")

    profiles: list[ProfileRef] = Field(min_length=1, max_length=1000)


def assign_command(profile_id: str, group: GroupConfig, body: AssignIn) -> AssignTier:
    """Omneo's assign is an `override`: the profile holds the tier from now, rules resume after."""
    tier = body.tier
    if isinstance(tier, str) and tier.strip() == "":
        raise InvalidInput("tier must name a tier", field="tier")
    return AssignTier(
        member_id=profile_id, group_id=group.id, tier=tier, mode=AssignmentMode.OVERRIDE
    )


def batch_profiles(body: BatchIn) -> list[str]:
    return [p.profile_id for p in body.profiles]


def definition_fields(body: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """A definition's writable fields, and the group a new one goes to (`group_id`).

    The read-only `id`, `created_at` and `updated_at` are ignored, so a definition read with GET
    can be changed and PUT back whole.
    """
    fields = {k: v for k, v in body.items() if k not in READ_ONLY}
    group_id = fields.pop("group_id", None)
    if group_id is not None and (
        not isinstance(group_id, int) or isinstance(group_id, bool) or group_id < 1
    ):
        raise InvalidInput("group_id must be a group's id", field="group_id")
    return fields, group_id


# -- errors -------------------------------------------------------------------------------------


def error_body(error: WireError) -> tuple[int, Json]:
    """Omneo's envelopes: `{"message"}`, with `errors` by field on a 422."""
    if error.status == 401:
        return 401, {"message": UNAUTHENTICATED}
    if error.status == 422 or (error.status == 404 and error.field is not None):
        # A body field that names nothing (an unknown tier to assign) is invalid input here.
        return 422, {"message": error.message, "errors": field_messages(error)}
    return error.status, {"message": error.message}
