"""Wire models of the native API (`/v1`): request bodies, and response shapes for OpenAPI.

Conventions, the same on every endpoint:

- Names are SPEC §1's. Requests forbid unknown fields, so a misspelt one is a clear 422.
- Instants are RFC 3339 strings that carry an offset (`2025-01-10T10:00:00Z`); a naive one, a
  bare date or a Unix number is a 422. They are read into UTC and always written in UTC, `Z`.
- Amounts and figures are exact decimals of at most 4 places. In: a JSON number or a string
  (`600`, `12.5`, `"12.5"`). Out: a JSON number written with its exact digits, an integer where
  the value is integral (`600`, `12.5`), never a float approximation. The one exception is the
  program document (SPEC §3), returned as tierbook keeps it, thresholds as decimal strings
  (`"1000"`), like `multiplier`; it can be PUT back unchanged.
- Responses are built as plain dicts by `present`; the response models here document them in
  OpenAPI (and the e2e suite checks every response against its model).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)

from tierbook.domain.ledger import EntryKind, Item
from tierbook.domain.state import AssignmentMode, Reason
from tierbook.service.activities import MAX_BATCH
from tierbook.service.commands import AssignTier, EnrolMember, RecordActivity
from tierbook.service.documents import ProgramDocument, TierDoc

MAX_ID = 2**63 - 1
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
# `?as_of=...T10:00:00+11:00` sent without encoding the `+` arrives as a space.
_UNENCODED_PLUS = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:\d{2})$"
)


def _instant_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("an instant is an RFC 3339 string with an offset: 2025-01-10T10:00:00Z")
    return _UNENCODED_PLUS.sub(r"\1+\2", value)


def _in_range(value: datetime) -> datetime:
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 has no UTC instant
        value = EARLIEST - timedelta(1) if value.year == 1 else LATEST
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"instants must fall in the years [{EARLIEST.year}, {LATEST.year})")
    return value


Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_instant_text),
    AfterValidator(_in_range),
    WithJsonSchema({"type": "string", "format": "date-time", "example": "2025-01-10T10:00:00Z"}),
]
Amount = Annotated[
    Decimal,
    Field(max_digits=18, decimal_places=4, allow_inf_nan=False),
    WithJsonSchema(
        {"anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^-?\d+(\.\d{1,4})?$"}]}
    ),
]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Text = Annotated[str, Field(min_length=1, max_length=200)]
CustomValue = StrictStr | StrictInt | StrictFloat | StrictBool | None
Custom = dict[Annotated[str, Field(min_length=1, max_length=100)], CustomValue]
Meta = Annotated[dict[str, Any], Field(description="Free JSON kept with the entry")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


# -- members ------------------------------------------------------------------------------------


class MemberIn(_Request):
    id: Annotated[str | None, Field(min_length=1, max_length=128)] = Field(
        None, description="Default: a new UUID"
    )
    program_id: Id | None = Field(None, description="Optional where the tenant has one program")
    email: Annotated[str | None, Field(max_length=320)] = None
    phone: Annotated[str | None, Field(max_length=32, description="E.164")] = None
    custom: Custom = {}
    household_id: Text | None = None
    enrolled_at: Instant | None = Field(None, description="Default: now")

    def command(self) -> EnrolMember:
        return EnrolMember(**self.model_dump())


class MemberPatch(_Request):
    """Only the fields sent change; `null` clears one; `custom` replaces the whole map."""

    email: Annotated[str | None, Field(max_length=320)] = None
    phone: Annotated[str | None, Field(max_length=32)] = None
    custom: Custom = {}
    household_id: Text | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


# -- activities ---------------------------------------------------------------------------------


class ItemIn(_Request):
    sku: Text | None = None
    category: Text | None = None
    quantity: Amount = Decimal(1)
    amount: Amount = Decimal(0)


class ActivityIn(_Request):
    member_id: Annotated[str, Field(min_length=1, max_length=128)]
    program_id: Id | None = Field(None, description="Optional where the tenant has one program")
    occurred_at: Instant | None = Field(None, description="Default: now; never in the future")
    idempotency_key: Text | None = Field(
        None, description="E.g. the transaction id: a repeat returns the first entry"
    )
    kind: EntryKind = EntryKind.PURCHASE
    points: Amount = Decimal(0)
    spend: Amount = Decimal(0)
    units: Amount = Decimal(0)
    business_unit: Text | None = None
    behaviour_type: Text | None = None
    items: Annotated[list[ItemIn], Field(max_length=1000)] = []
    achievement_id: Text | None = None
    reverses: Text | None = Field(None, description="id or idempotency_key of the entry reversed")
    meta: Meta = {}

    def command(self, now: datetime) -> RecordActivity:
        return RecordActivity(
            member_id=self.member_id,
            occurred_at=self.occurred_at or now,
            program_id=self.program_id,
            idempotency_key=self.idempotency_key,
            kind=self.kind,
            points=self.points,
            spend=self.spend,
            units=self.units,
            business_unit=self.business_unit,
            behaviour_type=self.behaviour_type,
            items=tuple(Item(i.sku, i.category, i.quantity, i.amount) for i in self.items),
            achievement_id=self.achievement_id,
            reverses=self.reverses,
            meta=self.meta,
        )


class BatchIn(_Request):
    entries: list[ActivityIn] = Field(
        min_length=1,
        description=f"At most {MAX_BATCH:,} entries; all are written or none",
        json_schema_extra={"maxItems": MAX_BATCH},
    )

    def commands(self, now: datetime) -> list[RecordActivity]:
        return [entry.command(now) for entry in self.entries]


# -- assignments --------------------------------------------------------------------------------


class AssignIn(_Request):
    tier: StrictInt | Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="The tier's handle or id"
    )
    mode: AssignmentMode = AssignmentMode.OVERRIDE
    until: Instant | None = Field(None, description="Default: for good")
    reason: Annotated[str | None, Field(max_length=500)] = None
    effective_at: Instant | None = Field(
        None, description="Default: now; a past instant imports a tier held elsewhere"
    )

    def command(self, member_id: str, group_id: int) -> AssignTier:
        return AssignTier(member_id=member_id, group_id=group_id, **self.model_dump())


# -- responses (OpenAPI) ------------------------------------------------------------------------

Number = Annotated[Decimal, WithJsonSchema({"type": "number"})]
When = Annotated[datetime, WithJsonSchema({"type": "string", "format": "date-time"})]


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberOut(_Response):
    id: str
    program_id: int
    email: str | None
    phone: str | None
    custom: dict[str, CustomValue]
    household_id: str | None
    enrolled_at: When
    created_at: When | None
    updated_at: When | None


class MembersOut(_Response):
    members: list[MemberOut]


class ItemOut(_Response):
    sku: str | None
    category: str | None
    quantity: Number
    amount: Number


class EntryOut(_Response):
    id: str
    member_id: str
    occurred_at: When
    recorded_at: When | None
    idempotency_key: str | None
    kind: EntryKind
    points: Number
    spend: Number
    units: Number
    business_unit: str | None
    behaviour_type: str | None
    items: list[ItemOut]
    achievement_id: str | None
    reverses: str | None
    meta: dict[str, Any]


class TierRef(_Response):
    id: int
    handle: str | None
    name: str | None
    rank: int | None


class ChangeOut(_Response):
    group_id: int
    subject_id: str
    at: When
    reason: Reason
    from_: TierRef | None = Field(alias="from")
    to: TierRef | None
    figures: dict[str, str | None] = Field(description="The values the clock decided on")


class ActivityOut(_Response):
    entry: EntryOut
    created: bool = Field(description="False where an earlier call with the key wrote it")
    changes: list[ChangeOut]


class RecordedOut(_Response):
    id: str
    member_id: str
    idempotency_key: str | None = Field(description="As sent, or the id where none was")
    created: bool = Field(description="False where an earlier call with the key wrote it")


class BatchOut(_Response):
    results: list[RecordedOut] = Field(description="One per entry sent, in order")
    created: int
    replayed: int
    changes: list[ChangeOut]


class GroupRef(_Response):
    id: int
    code: str
    name: str
    metric: str


class AssignmentOut(_Response):
    id: str
    tier: TierRef
    mode: AssignmentMode
    effective_at: When | None = None
    until: When | None
    reason: str | None
    assigned_at: When | None


class WindowOut(_Response):
    value: Number
    from_: When | None = Field(alias="from")
    to: When


class TierStateOut(_Response):
    group: GroupRef
    subject_id: str = Field(description="The member, or the household in a household group")
    tier: TierRef | None = Field(description="null: not yet qualified")
    prev_tier: TierRef | None
    reason: Reason = Field(description="Why the member holds the tier")
    achieved_at: When
    anniversary_at: When | None
    maintained_at: When | None
    grace_until: When | None
    assigned_at: When | None
    credit: Number
    assignment: AssignmentOut | None
    window: WindowOut
    progress: Number = Field(description="Value in the tier year")
    remain_to_keep: Number
    next_tier: TierRef | None
    remain_to_next: Number
    total_points_12m: Number
    total_points_achievement: Number | None
    next_progress_change_at: When | None
    next_due_at: When | None


class MemberTiersOut(_Response):
    member_id: str
    program_id: int | None = Field(description="null only where the program has no active group")
    as_of: When
    tiers: list[TierStateOut]


class HistoryOut(_Response):
    member_id: str
    group_id: int
    subject_id: str
    as_of: When
    changes: list[ChangeOut]


class DecisionOut(_Response):
    at: When
    rule: str
    outcome: str
    message: str
    values: dict[str, str | None]


class ExplainOut(HistoryOut):
    state: TierStateOut
    decisions: list[DecisionOut]


class AssignOut(_Response):
    assignment: AssignmentOut
    changes: list[ChangeOut]


class EndAssignmentOut(_Response):
    changes: list[ChangeOut]


class ProgramsOut(_Response):
    programs: list[ProgramDocument] = Field(description="SPEC §3 documents")


class GroupTiersOut(_Response):
    program_id: int
    group_id: int
    tiers: list[TierDoc] = Field(description="The tier definitions of SPEC §3, by rank")


class ErrorBody(_Response):
    code: str
    message: str
    details: Any = None


class ErrorOut(_Response):
    error: ErrorBody


# -- webhooks -----------------------------------------------------------------------------------


class WebhookIn(_Request):
    url: Annotated[str, Field(min_length=1, max_length=2048)] = Field(
        description="An absolute http:// or https:// URL; deliveries are POSTed here"
    )
    events: list[str] = Field(
        default_factory=list,
        description="Event types to deliver (`tier.upgraded`, …); empty: every type",
    )
    secret: Annotated[str | None, Field(min_length=16, max_length=256)] = Field(
        None, description="The signing secret; default: one is made and returned once"
    )


class WebhookOut(_Response):
    id: str
    url: str
    events: list[str]
    created_at: When
    disabled_at: When | None


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="Shown only in this response")


class WebhooksOut(_Response):
    webhooks: list[WebhookOut]


class DeliveryOut(_Response):
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: When | None
    delivered_at: When | None
    failed_at: When | None
    last_status: int | None
    last_error: str | None


class DeliveriesOut(_Response):
    webhook_id: str
    deliveries: list[DeliveryOut]
