"""The ports the service layer needs: repositories, the unit of work, and the clock.

Repositories never commit; the unit of work owns the transaction and rolls back unless told to
commit. Every method is scoped to one tenant: no repository call can reach another's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from tierbook.domain.ledger import Entries, Entry
from tierbook.domain.state import Assignment, HistoryRecord, TierState
from tierbook.service.model import (
    ApiKey,
    Delivery,
    Member,
    MemberSnapshot,
    OutboxEvent,
    ProgramConfig,
    StateRecord,
    StoredAssignment,
    StoredEntryResult,
    StoredState,
    Webhook,
)


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class StateWrite:
    """A state to store with the records its history gains, for `StateRepository.save_many`.

    `tail` follows the first `kept` stored records, which lead the history unchanged; `stored`
    is how many records were stored before (those after `kept` are replaced). Where `kept` is
    None every stored record stands and `tail` follows the last of them: the clock resumed from
    the stored state, so nothing had to read the stored history. All of it read in the same
    transaction, under the subject's lock, or checked unchanged since (the sweep).
    """

    state: TierState
    tail: Sequence[HistoryRecord]
    kept: int | None
    stored: int = 0


class ProgramRepository(Protocol):
    def save(self, tenant_id: str, program: ProgramConfig) -> None:
        """Create or replace the program with its groups and tiers."""

    def get(self, tenant_id: str, program_id: int) -> ProgramConfig | None: ...

    def list(self, tenant_id: str) -> list[ProgramConfig]: ...


class MemberRepository(Protocol):
    def add(self, member: Member) -> None:
        """Insert; raises DuplicateMember when the id is taken in the tenant."""

    def get(self, tenant_id: str, member_id: str) -> Member | None: ...

    def get_with_program(
        self, tenant_id: str, member_id: str
    ) -> tuple[Member, ProgramConfig] | None:
        """The member and its program, read at once (a hot read needs both)."""

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

    def get_many(self, tenant_id: str, member_ids: Iterable[str]) -> dict[str, Member]:
        """The members among these ids that exist, by id."""

    def households(
        self, tenant_id: str, program_id: int, household_ids: Iterable[str]
    ) -> dict[str, list[Member]]:
        """Each household's members (by id), as `household` lists them; empty ones are absent."""

    def ids(self, tenant_id: str, program_id: int) -> list[str]: ...


class LedgerRepository(Protocol):
    def append(
        self, tenant_id: str, program_id: int, entries: Sequence[Entry]
    ) -> list[StoredEntryResult]:
        """Append entries in order; one whose idempotency key the tenant already used is not
        written again and its result names the first entry with that key."""

    def get(self, tenant_id: str, ref: str) -> Entry | None:
        """An entry by id or idempotency key."""

    def get_many(self, tenant_id: str, refs: Iterable[str]) -> dict[str, Entry]:
        """`get` of each ref, by ref; refs that name no entry are absent."""

    def for_members(
        self, tenant_id: str, program_id: int, member_ids: Iterable[str]
    ) -> list[Entry]:
        """Every entry of these members, ordered by (occurred_at, recorded order)."""

    def ledgers(
        self, tenant_id: str, program_id: int, member_ids: Iterable[str], *, items: bool = True
    ) -> dict[str, Entries]:
        """Each member's entries, ordered by (occurred_at, recorded order), for evaluation.

        Entries come without `meta` and `recorded_at` (the tier clock never reads them), and
        without `items` unless `items` is true (only a group with an item filter reads them).
        Members without entries are absent.
        """


class AssignmentRepository(Protocol):
    def add(self, tenant_id: str, assignment: StoredAssignment) -> None: ...

    def for_subject(self, tenant_id: str, group_id: int, subject_id: str) -> list[Assignment]: ...

    def for_subjects(
        self, tenant_id: str, keys: Sequence[tuple[int, str]]
    ) -> dict[tuple[int, str], list[Assignment]]:
        """`for_subject` of each (group_id, subject_id); subjects without assignments are absent."""

    def end(self, tenant_id: str, group_id: int, subject_id: str, at: datetime) -> int:
        """Set `ended_at` on every assignment of the subject still running at `at`."""


class StateRepository(Protocol):
    def lock(self, tenant_id: str, keys: Sequence[tuple[int, str]]) -> None:
        """Serialise writers of these (group_id, subject_id) states until the transaction ends."""

    def get(self, tenant_id: str, group_id: int, subject_id: str) -> StoredState | None: ...

    def get_states(
        self, tenant_id: str, keys: Sequence[tuple[int, str]]
    ) -> dict[tuple[int, str], TierState]:
        """The states alone (no history), for reads."""

    def get_records(
        self, tenant_id: str, keys: Sequence[tuple[int, str]]
    ) -> dict[tuple[int, str], StateRecord]:
        """The states with their rows' timestamps (no history), for reads."""

    def save(
        self,
        tenant_id: str,
        program_id: int,
        state: TierState,
        history: Sequence[HistoryRecord],
    ) -> None:
        """Upsert the state and make its stored history equal `history`."""

    def due(self, as_of: datetime, limit: int) -> list[tuple[str, int, int, str]]:
        """(tenant_id, program_id, group_id, subject_id) of the states the sweep takes at
        `as_of`: those whose stable span ends by then (every due state among them), in the
        order the spans end."""

    def versions(
        self, tenant_id: str, keys: Sequence[tuple[int, str]]
    ) -> dict[tuple[int, str], int]:
        """Each stored state's version, which every write of it increments."""

    def due_among(
        self, tenant_id: str, as_of: datetime, keys: Sequence[tuple[int, str]]
    ) -> list[tuple[int, str]]:
        """Those of these (group_id, subject_id) states the sweep takes at `as_of` (`due`)."""

    def histories(
        self, tenant_id: str, keys: Sequence[tuple[int, str]]
    ) -> dict[tuple[int, str], tuple[HistoryRecord, ...]]:
        """The stored history of each of these states; a state with none (or no state) is absent."""

    def save_many(self, tenant_id: str, program_id: int, writes: Sequence[StateWrite]) -> None:
        """`save` each state (all of one program), writing only each history's new tail."""

    def held_tier_ids(self, tenant_id: str, program_id: int) -> set[int]: ...


class OutboxRepository(Protocol):
    def add(self, events: Sequence[OutboxEvent]) -> None: ...

    def pending(self, limit: int) -> list[OutboxEvent]: ...

    def mark_delivered(self, ids: Sequence[str], at: datetime) -> None: ...

    def for_subject(self, tenant_id: str, subject_id: str) -> list[OutboxEvent]: ...


class WebhookRepository(Protocol):
    def add(self, webhook: Webhook) -> None: ...

    def get(self, tenant_id: str, webhook_id: str) -> Webhook | None: ...

    def for_tenant(self, tenant_id: str) -> list[Webhook]: ...

    def disable(self, tenant_id: str, webhook_id: str, at: datetime) -> bool:
        """Disable the webhook and end its pending deliveries; False if unknown or disabled."""
        ...

    def active_for(self, tenant_ids: Iterable[str]) -> list[Webhook]: ...

    def add_deliveries(self, pairs: Sequence[tuple[OutboxEvent, Webhook]], at: datetime) -> None:
        """A pending delivery per (event, webhook), first due at `at` (a known pair is kept)."""
        ...

    def claim_due(self, at: datetime, limit: int, until: datetime) -> list[Delivery]:
        """Pending deliveries due at `at`, of every tenant, the longest-waiting first, each
        made due again only at `until` (a lease: no other deliverer takes them meanwhile, and
        `record_attempt` replaces it). Deliveries another transaction is claiming are skipped."""
        ...

    def record_attempt(self, delivery: Delivery) -> None:
        """Store a delivery's state after an attempt (its attempts, schedule and outcome)."""
        ...

    def deliveries(self, tenant_id: str, webhook_id: str, limit: int) -> list[Delivery]:
        """The webhook's deliveries, newest event first."""
        ...


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
    webhooks: WebhookRepository
    keys: ApiKeyRepository
    checkpoints: CheckpointRepository
    dialects: DialectRepository

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


StateKeys = Callable[[ProgramConfig, Member], Sequence[tuple[int, str]]]
"""The (group_id, subject_id) keys of the states a read wants of a member of a program."""


class HotReads(Protocol):
    """The storage path of the reads a front end makes on every page view.

    The member, its program and the stored states `keys` names, with their Omneo record ids,
    read together (one snapshot) with none of a unit of work's machinery, in the event loop
    that serves the request: it waits on the database without holding up other requests.
    """

    async def open(self) -> None:
        """Take what the reads need while the application runs (in its event loop)."""

    async def close(self) -> None:
        """Give back what `open` took."""

    async def snapshot(
        self, tenant_id: str, member_id: str, keys: StateKeys
    ) -> MemberSnapshot | None:
        """The member's snapshot; None when there is no such member or the read failed (a
        unit of work then answers, and reports what is wrong)."""


# -- what the vendor dialects keep -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserSession:
    """An Exchange Solutions user session: a client's handle on a member until closed or expired."""

    tenant_id: str
    correlation_id: str
    member_id: str
    channel: str
    identifier_type: str
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None = None

    def open_at(self, at: datetime) -> bool:
        return self.closed_at is None and at < self.expires_at


class DialectRepository(Protocol):
    """Records only the vendor dialects need: ES sessions, server secrets, Omneo record ids."""

    def add_session(self, session: UserSession) -> None:
        """Insert; raises Conflict when the tenant already has the correlation id."""

    def get_session(self, tenant_id: str, correlation_id: str) -> UserSession | None: ...

    def close_session(self, tenant_id: str, correlation_id: str, at: datetime) -> bool:
        """Close an open session; False when there is none open with that id."""

    def purge_sessions(self, tenant_id: str, expired_before: datetime) -> int:
        """Delete the tenant's sessions that expired before the instant; how many went."""

    def secret(self, name: str) -> str | None: ...

    def keep_secret(self, name: str, value: str, at: datetime) -> str:
        """Store `value` under `name` unless one is stored already; return the stored one."""

    def profile_tier_id(self, tenant_id: str, group_id: int, member_id: str) -> int | None: ...

    def allocate_profile_tier_id(self, tenant_id: str, group_id: int, member_id: str) -> int:
        """The record id of (member, group), made now if it has none (safe against a race)."""
