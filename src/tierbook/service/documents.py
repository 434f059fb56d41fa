"""The program document of SPEC §3 (YAML or JSON) and its translation to and from the rules.

The same document is what `tierbook apply` reads, what `PUT /v1/programs/{id}` accepts and what
the program repository stores, so there is one schema and one translation.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from tierbook.domain.errors import InvalidRules
from tierbook.domain.rules import (
    AchievementRequirement,
    Context,
    Downgrade,
    DowngradePolicy,
    GroupRules,
    Maintenance,
    MaintenanceKind,
    Metric,
    Period,
    QualifyingFilter,
    Requirement,
    ReversalPolicy,
    Tier,
    Window,
    WindowKind,
)
from tierbook.service.model import GroupConfig, ProgramConfig

DESCRIPTIVE_FIELDS = (
    "internal_notes",
    "description",
    "short_description",
    "long_description",
    "terms_conditions",
    "icon",
    "image_url",
    "earn_instructions",
    "tags",
    "meta",
    "created_at",
    "updated_at",
)


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, int | float | Decimal) else value


_DECIMAL_TEXT = re.compile(r"^\d{1,12}(\.\d{1,4})?$")


def _decimal_text(value: str) -> str:
    # Clients show the multiplier as written ("1.0"), so the text is kept, but it must be one.
    if not _DECIMAL_TEXT.match(value):
        raise ValueError(f'must be a decimal string like "1.5" (got {value!r})')
    return value


Threshold = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=4)]
# Ids are stored in 64-bit integer columns; a larger one is refused here, not by the driver.
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
Multiplier = Annotated[str, BeforeValidator(_text), AfterValidator(_decimal_text)]
# A century: day counts beyond it overflow the calendar's arithmetic instead of meaning anything.
MAX_DAYS = 36_500


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowDoc(_Doc):
    kind: WindowKind = WindowKind.ROLLING
    days: int = Field(365, ge=1, le=36_500)
    period: Period = Period.YEAR
    reset_at: datetime | None = None


class MaintenanceDoc(_Doc):
    kind: MaintenanceKind = MaintenanceKind.ANNIVERSARY
    term_months: int = Field(12, ge=1, le=1200)


class DowngradeDoc(_Doc):
    policy: DowngradePolicy = DowngradePolicy.TO_QUALIFYING
    grace_days: int = Field(0, ge=0, le=3650)


class QualifyingDoc(_Doc):
    business_units: list[str] = []
    behaviour_types: list[str] = []
    skus: list[str] = []
    categories: list[str] = []


class RequirementDoc(_Doc):
    metric: Metric
    min: Threshold


class AchievementsDoc(_Doc):
    ids: list[Annotated[str, BeforeValidator(_text)]] = []
    count: int | None = Field(None, ge=1)
    within_days: int | None = Field(None, ge=1, le=MAX_DAYS)


class TierDoc(_Doc):
    id: Id
    handle: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    rank: int = Field(ge=0)
    value_min: Threshold = Decimal(0)
    value_maintain: Threshold | None = None
    is_floor: bool = False
    is_assignable: bool = False
    disable_credit: bool = False
    multiplier: Multiplier = "1.0"
    required_num_days_in_tier: int = Field(0, ge=0, le=MAX_DAYS)
    max_inactive_days: int | None = Field(None, ge=1, le=MAX_DAYS)
    required_achievements: AchievementsDoc | None = None
    also: list[RequirementDoc] = []
    external_id: str | None = None
    internal_notes: str | None = None
    description: str | None = None
    short_description: str | None = None
    long_description: str | None = None
    terms_conditions: str | None = None
    icon: str | None = None
    image_url: str | None = None
    earn_instructions: str | None = None
    tags: list[str] = []
    meta: dict[str, Any] = {}
    created_at: datetime | None = None
    updated_at: datetime | None = None


class GroupDoc(_Doc):
    id: Id
    code: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    external_id: str | None = None
    description: str | None = None
    active: bool = True
    metric: Metric = Metric.POINTS
    window: WindowDoc = WindowDoc()
    maintenance: MaintenanceDoc = MaintenanceDoc()
    downgrade: DowngradeDoc = DowngradeDoc()
    credit: bool = True
    carry_excess: bool = False
    reversals: ReversalPolicy = ReversalPolicy.KEEP
    context: Context = Context.INDIVIDUAL
    qualifying: QualifyingDoc = QualifyingDoc()
    qualifying_behaviour_type_label: str | None = None
    qualifying_cart_selector_desc: str | None = None
    tiers: list[TierDoc] = Field(min_length=1)


class ProgramDoc(_Doc):
    id: Id
    code: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    timezone: str = "UTC"
    currency: str | None = None
    business_units: list[str] = []
    default_group_id: Id | None = None


class ProgramDocument(_Doc):
    """The whole §3 document: a program and its groups with their tiers."""

    program: ProgramDoc
    groups: list[GroupDoc] = Field(min_length=1)
    kind: Literal["tierbook/program"] | None = None


def parse_document(raw: Any) -> ProgramDocument:
    """Validate a loaded YAML/JSON document; errors name the offending field."""
    try:
        return ProgramDocument.model_validate(raw)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]) or "document", "message": err["msg"]}
            for err in exc.errors()
        ]
        first = problems[0]
        raise InvalidRules(
            f"{first['field']}: {first['message']}", field=first["field"], details=problems
        ) from None


def _tier(doc: TierDoc) -> Tier:
    achievements = doc.required_achievements
    return Tier(
        id=doc.id,
        handle=doc.handle,
        name=doc.name,
        rank=doc.rank,
        value_min=doc.value_min,
        value_maintain=doc.value_min if doc.value_maintain is None else doc.value_maintain,
        is_floor=doc.is_floor,
        is_assignable=doc.is_assignable,
        disable_credit=doc.disable_credit,
        multiplier=doc.multiplier,
        required_num_days_in_tier=doc.required_num_days_in_tier,
        max_inactive_days=doc.max_inactive_days,
        required_achievements=None
        if achievements is None
        else AchievementRequirement(
            ids=tuple(achievements.ids),
            count=achievements.count,
            within_days=achievements.within_days,
        ),
        also=tuple(Requirement(metric=r.metric, min=r.min) for r in doc.also),
        external_id=doc.external_id,
        details={name: getattr(doc, name) for name in DESCRIPTIVE_FIELDS},
    )


def _group(doc: GroupDoc, timezone: str) -> GroupConfig:
    rules = GroupRules(
        id=doc.id,
        code=doc.code,
        tiers=tuple(sorted((_tier(t) for t in doc.tiers), key=lambda t: t.rank)),
        metric=doc.metric,
        window=Window(
            kind=doc.window.kind,
            days=doc.window.days,
            period=doc.window.period,
            reset_at=doc.window.reset_at,
        ),
        maintenance=Maintenance(kind=doc.maintenance.kind, term_months=doc.maintenance.term_months),
        downgrade=Downgrade(policy=doc.downgrade.policy, grace_days=doc.downgrade.grace_days),
        credit=doc.credit,
        carry_excess=doc.carry_excess,
        reversals=doc.reversals,
        context=doc.context,
        qualifying=QualifyingFilter(
            business_units=frozenset(doc.qualifying.business_units),
            behaviour_types=frozenset(doc.qualifying.behaviour_types),
            skus=frozenset(doc.qualifying.skus),
            categories=frozenset(doc.qualifying.categories),
        ),
        timezone=timezone,
    )
    return GroupConfig(
        rules=rules,
        name=doc.name,
        description=doc.description,
        external_id=doc.external_id,
        active=doc.active,
        qualifying_behaviour_type_label=doc.qualifying_behaviour_type_label,
        qualifying_cart_selector_desc=doc.qualifying_cart_selector_desc,
    )


def to_config(document: ProgramDocument) -> ProgramConfig:
    """Build (and so check) the rules a document describes."""
    program = document.program
    groups = tuple(_group(g, program.timezone) for g in document.groups)
    group_ids = [g.id for g in groups]
    if len(set(group_ids)) != len(group_ids):
        raise InvalidRules("group ids must be unique within a program", field="groups")
    codes = [g.code for g in groups]
    if len(set(codes)) != len(codes):
        raise InvalidRules("group codes must be unique within a program", field="groups")
    tier_ids = [t.id for g in groups for t in g.rules.tiers]
    if len(set(tier_ids)) != len(tier_ids):
        raise InvalidRules("tier ids must be unique within a program", field="groups.tiers")
    if program.default_group_id is not None and program.default_group_id not in group_ids:
        raise InvalidRules(
            f"default_group_id {program.default_group_id} is not a group of the program",
            field="program.default_group_id",
        )
    return ProgramConfig(
        id=program.id,
        code=program.code,
        name=program.name,
        groups=groups,
        timezone=program.timezone,
        currency=program.currency,
        business_units=tuple(program.business_units),
        default_group_id=program.default_group_id,
    )


def program_from_document(raw: Any) -> ProgramConfig:
    return to_config(parse_document(raw))


def _tier_doc(tier: Tier) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": tier.id,
        "handle": tier.handle,
        "name": tier.name,
        "rank": tier.rank,
        "value_min": tier.value_min,
        "value_maintain": tier.value_maintain,
        "is_floor": tier.is_floor,
        "is_assignable": tier.is_assignable,
        "disable_credit": tier.disable_credit,
        "multiplier": tier.multiplier,
        "required_num_days_in_tier": tier.required_num_days_in_tier,
        "max_inactive_days": tier.max_inactive_days,
        "required_achievements": None
        if tier.required_achievements is None
        else {
            "ids": list(tier.required_achievements.ids),
            "count": tier.required_achievements.count,
            "within_days": tier.required_achievements.within_days,
        },
        "also": [{"metric": r.metric, "min": r.min} for r in tier.also],
        "external_id": tier.external_id,
    }
    doc.update({name: tier.details.get(name) for name in DESCRIPTIVE_FIELDS})
    doc["tags"] = list(doc["tags"] or [])
    doc["meta"] = dict(doc["meta"] or {})
    return doc


def _group_doc(group: GroupConfig) -> dict[str, Any]:
    rules = group.rules
    return {
        "id": rules.id,
        "code": rules.code,
        "name": group.name,
        "external_id": group.external_id,
        "description": group.description,
        "active": group.active,
        "metric": rules.metric,
        "window": {
            "kind": rules.window.kind,
            "days": rules.window.days,
            "period": rules.window.period,
            "reset_at": rules.window.reset_at,
        },
        "maintenance": {
            "kind": rules.maintenance.kind,
            "term_months": rules.maintenance.term_months,
        },
        "downgrade": {
            "policy": rules.downgrade.policy,
            "grace_days": rules.downgrade.grace_days,
        },
        "credit": rules.credit,
        "carry_excess": rules.carry_excess,
        "reversals": rules.reversals,
        "context": rules.context,
        "qualifying": {
            "business_units": sorted(rules.qualifying.business_units),
            "behaviour_types": sorted(rules.qualifying.behaviour_types),
            "skus": sorted(rules.qualifying.skus),
            "categories": sorted(rules.qualifying.categories),
        },
        "qualifying_behaviour_type_label": group.qualifying_behaviour_type_label,
        "qualifying_cart_selector_desc": group.qualifying_cart_selector_desc,
        "tiers": [_tier_doc(t) for t in rules.tiers],
    }


def program_to_document(program: ProgramConfig) -> dict[str, Any]:
    """The §3 document of a program, JSON-ready (decimals and instants as strings)."""
    document = ProgramDocument.model_validate(
        {
            "program": {
                "id": program.id,
                "code": program.code,
                "name": program.name,
                "timezone": program.timezone,
                "currency": program.currency,
                "business_units": list(program.business_units),
                "default_group_id": program.default_group_id,
            },
            "groups": [_group_doc(g) for g in program.groups],
        }
    )
    return document.model_dump(mode="json", exclude={"kind"})
