"""Records the service layer keeps beside the domain: tenants' programs, members, keys, events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tierbook.domain.rules import GroupRules
from tierbook.domain.state import Assignment, HistoryRecord, TierState


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """A tier group: its rules plus what clients display."""

    rules: GroupRules
    name: str
    description: str | None = None
    external_id: str | None = None
    active: bool = True
    qualifying_behaviour_type_label: str | None = None
    qualifying_cart_selector_desc: str | None = None

    @property
    def id(self) -> int:
        return self.rules.id

    @property
    def code(self) -> str:
        return self.rules.code


@dataclass(frozen=True, slots=True)
class ProgramConfig:
    id: int
    code: str
    name: str
    groups: tuple[GroupConfig, ...]
    timezone: str = "UTC"
    currency: str | None = None
    business_units: tuple[str, ...] = ()
    default_group_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def group(self, group_id: int) -> GroupConfig | None:
        return next((g for g in self.groups if g.id == group_id), None)

    @property
    def default_group(self) -> GroupConfig:
        chosen = self.group(self.default_group_id) if self.default_group_id is not None else None
        return chosen or self.groups[0]


@dataclass(frozen=True, slots=True)
class Member:
    tenant_id: str
    id: str
    program_id: int
    enrolled_at: datetime
    email: str | None = None
    phone: str | None = None
    custom: Mapping[str, Any] = field(default_factory=dict)
    household_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredEntryResult:
    """An entry and whether this call wrote it (False: an earlier call with the same key did)."""

    entry_id: str
    created: bool


@dataclass(frozen=True, slots=True)
class StoredAssignment:
    program_id: int
    group_id: int
    subject_id: str
    assignment: Assignment


@dataclass(frozen=True, slots=True)
class StoredState:
    """A materialised tier state, with its history, as the repository holds it."""

    program_id: int
    state: TierState
    history: tuple[HistoryRecord, ...]
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StateRecord:
    """A stored state without its history, and when its row was first and last written."""

    state: TierState
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MemberSnapshot:
    """A member, its program and the stored states a read asked for, read together.

    `records` holds the stored states of the keys asked for that exist; `profile_tier_ids` the
    Omneo record ids already given to the member's states, by group id.
    """

    member: Member
    program: ProgramConfig
    records: Mapping[tuple[int, str], StateRecord]
    profile_tier_ids: Mapping[int, int]


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    id: str
    tenant_id: str
    type: str
    subject_id: str
    program_id: int
    group_id: int
    occurred_at: datetime
    payload: Mapping[str, Any]
    created_at: datetime | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Webhook:
    """An endpoint a tenant registered for its tier events (`events` empty: every type)."""

    tenant_id: str
    id: str
    url: str
    secret: str
    events: frozenset[str]
    created_at: datetime
    disabled_at: datetime | None = None

    def wants(self, event: OutboxEvent) -> bool:
        """Whether the event goes to this webhook: a type it asked for, recorded after it was
        registered (a new webhook is not sent the past)."""
        assert event.created_at is not None, "a stored event has its creation time"
        return (not self.events or event.type in self.events) and (
            event.created_at >= self.created_at
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event's delivery to one webhook: attempts so far and where it stands."""

    event: OutboxEvent
    webhook: Webhook
    attempts: int = 0
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None

    @property
    def status(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        return "pending" if self.failed_at is None else "failed"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    tenant_id: str
    name: str
    scopes: frozenset[str]
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None = None
