"""The ports the service layer needs: repositories, the unit of work, and the clock.

Repositories never commit; the unit of work owns the transaction and rolls back unless told to
commit. Every method is scoped to one tenant: no repository call can reach another's rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from tierbook.domain.ledger import Entry
from tierbook.domain.state import Assignment, HistoryRecord, TierState
from tierbook.service.model import (
    ApiKey,
    Member,
    OutboxEvent,
    ProgramConfig,
    StoredAssignment,
    StoredEntryResult,
    StoredState,
)


class Clock(Protocol):
    def now(self) -> datetime: ...


class ProgramRepository(Protocol):
    def save(self, tenant_id: str, program: ProgramConfig) -> None:
        """Create or replace the program with its groups and tiers."""

    def get(self, tenant_id: str, program_id: int) -> ProgramConfig | None: ...

    def list(self, tenant_id: str) -> list[ProgramConfig]: ...


class MemberRepository(Protocol):
    def add(self, member: Member) -> None:
        """Insert; raises DuplicateMember when the id is taken in the tenant."""

    def get(self, tenant_id: str, member_id: str) -> Member | None: ...

    def update(self, member: Member) -> None: ...

    def find(
        self,
        tenant_id: str,
        *,
        program_id: int | None = None,
        email: str | None = None,
        phone: str | None = None,
        custom: Mapping[str, str] | None = None,
        limit: int = 100,
    ) -> list[Member]:
        """Members matching every given criterion (custom values compare as strings)."""

    def household(self, tenant_id: str, program_id: int, household_id: str) -> list[Member]: ...

    def ids(self, tenant_id: str, program_id: int) -> list[str]: ...


class LedgerRepository(Protocol):
    def append(
        self, tenant_id: str, program_id: int, entries: Sequence[Entry]
    ) -> list[StoredEntryResult]:
        """Append entries in order; one whose idempotency key the tenant already used is not
        written again and its result names the first entry with that key."""

    def get(self, tenant_id: str, ref: str) -> Entry | None:
        """An entry by id or idempotency key."""

    def for_members(
        self, tenant_id: str, program_id: int, member_ids: Iterable[str]
    ) -> list[Entry]:
        """Every entry of these members, ordered by (occurred_at, recorded order)."""


class AssignmentRepository(Protocol):
    def add(self, tenant_id: str, assignment: StoredAssignment) -> None: ...

    def for_subject(self, tenant_id: str, group_id: int, subject_id: str) -> list[Assignment]: ...

    def end(self, tenant_id: str, group_id: int, subject_id: str, at: datetime) -> int:
        """Set `ended_at` on every assignment of the subject still running at `at`."""


class StateRepository(Protocol):
    def lock(self, tenant_id: str, program_id: int, keys: Sequence[tuple[int, str]]) -> None:
        """Serialise writers of these (group_id, subject_id) states until the transaction ends."""

    def get(self, tenant_id: str, group_id: int, subject_id: str) -> StoredState | None: ...

    def get_states(
        self, tenant_id: str, keys: Sequence[tuple[int, str]]
    ) -> dict[tuple[int, str], TierState]:
        """The states alone (no history), for reads."""

    def save(
        self,
        tenant_id: str,
        program_id: int,
        state: TierState,
        history: Sequence[HistoryRecord],
    ) -> None:
        """Upsert the state and make its stored history equal `history`."""

    def due(self, as_of: datetime, limit: int) -> list[tuple[str, int, int, str]]:
        """(tenant_id, program_id, group_id, subject_id) of states due at or before `as_of`."""

    def held_tier_ids(self, tenant_id: str, program_id: int) -> set[int]: ...


class OutboxRepository(Protocol):
    def add(self, events: Sequence[OutboxEvent]) -> None: ...

    def pending(self, limit: int) -> list[OutboxEvent]: ...

    def mark_delivered(self, ids: Sequence[str], at: datetime) -> None: ...

    def for_subject(self, tenant_id: str, subject_id: str) -> list[OutboxEvent]: ...


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey) -> None: ...

    def get(self, key_id: str) -> ApiKey | None: ...

    def list(self, tenant_id: str | None = None) -> list[ApiKey]: ...

    def revoke(self, key_id: str, at: datetime) -> bool: ...


class CheckpointRepository(Protocol):
    """Named positions for resumable jobs (e.g. how far an import file was read)."""

    def get(self, tenant_id: str, name: str) -> dict[str, Any] | None: ...

    def put(self, tenant_id: str, name: str, value: dict[str, Any]) -> None: ...


class UnitOfWork(Protocol):
    programs: ProgramRepository
    members: MemberRepository
    ledger: LedgerRepository
    assignments: AssignmentRepository
    states: StateRepository
    outbox: OutboxRepository
    keys: ApiKeyRepository
    checkpoints: CheckpointRepository

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = True) -> UnitOfWork:
        """A new unit of work; `write=False` promises reads only (no write lock is taken)."""
