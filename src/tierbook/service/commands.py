"""What callers ask of the service layer, free of any wire format."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from tierbook.domain.ledger import EntryKind, Item
from tierbook.domain.state import AssignmentMode


@dataclass(frozen=True, slots=True)
class EnrolMember:
    id: str | None = None
    program_id: int | None = None
    email: str | None = None
    phone: str | None = None
    custom: Mapping[str, Any] = field(default_factory=dict)
    household_id: str | None = None
    enrolled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UpdateMember:
    """Only the fields named in `changes` change (`email`, `phone`, `custom`, `household_id`)."""

    member_id: str
    changes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RecordActivity:
    member_id: str
    occurred_at: datetime
    program_id: int | None = None
    idempotency_key: str | None = None
    kind: EntryKind = EntryKind.PURCHASE
    points: Decimal = Decimal(0)
    spend: Decimal = Decimal(0)
    units: Decimal = Decimal(0)
    business_unit: str | None = None
    behaviour_type: str | None = None
    items: tuple[Item, ...] = ()
    achievement_id: str | None = None
    reverses: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AssignTier:
    member_id: str
    group_id: int
    tier: str | int
    mode: AssignmentMode = AssignmentMode.OVERRIDE
    until: datetime | None = None
    reason: str | None = None
    effective_at: datetime | None = None
