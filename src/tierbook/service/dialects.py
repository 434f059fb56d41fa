"""Use cases only the vendor dialects need, over the same engine and services.

Finding a member by a vendor's identifier, registering one idempotently (Altcraft), bringing
stored states up to now on request (Omneo's `calculate`), Exchange Solutions user sessions, the
key that signs ES bearer tokens, and Omneo's integer profile-tier record ids. None of them holds
a tier rule: states come from `subjects.refresh_many` and `queries`, like everywhere else.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tierbook.domain.errors import Conflict, InvalidInput, NotFound, UnknownMember
from tierbook.service import members
from tierbook.service.commands import EnrolMember
from tierbook.service.model import Member, ProgramConfig, StateRecord
from tierbook.service.ports import Clock, UnitOfWork, UnitOfWorkFactory, UserSession
from tierbook.service.subjects import load_program, lock, refresh_many, subjects_of

MAX_RECALCULATE = 1_000
TOKEN_SECRET_NAME = "es_token_signing_key"
EXPIRED_SESSIONS_KEPT = timedelta(days=1)


class UnknownSession(NotFound):
    """No open, unexpired session has the correlation id."""

    code = "unknown_session"


class LookupBy(StrEnum):
    ID = "id"
    EMAIL = "email"
    PHONE = "phone"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class MemberLookup:
    """One identifier of a member: its id, email, phone, or a custom field's value.

    `field` is the name the caller's wire gave the identifier, so an error can name it.
    """

    by: LookupBy
    value: str
    field: str
    custom_name: str | None = None


def find_member(
    uow: UnitOfWork, *, tenant_id: str, lookup: MemberLookup, program_id: int | None = None
) -> Member:
    """The one member the identifier names (in `program_id`, where given)."""
    if lookup.by is LookupBy.ID:
        found = uow.members.get(tenant_id, lookup.value)
        matches = [] if found is None else [found]
    else:
        matches = uow.members.find(
            tenant_id,
            program_id=program_id,
            email=lookup.value if lookup.by is LookupBy.EMAIL else None,
            phone=lookup.value if lookup.by is LookupBy.PHONE else None,
            custom={str(lookup.custom_name): lookup.value}
            if lookup.by is LookupBy.CUSTOM
            else None,
            limit=2,
        )
    matches = [m for m in matches if program_id is None or m.program_id == program_id]
    where = "" if program_id is None else f" in program {program_id}"
    if not matches:
        raise UnknownMember(f"no member has {lookup.field} {lookup.value!r}{where}")
    if len(matches) > 1:
        raise InvalidInput(
            f"several members have {lookup.field} {lookup.value!r}{where}: look one up by its id",
            field=lookup.field,
        )
    return matches[0]


def register(
    uow: UnitOfWork,
    clock: Clock,
    *,
    tenant_id: str,
    program_id: int,
    lookup: MemberLookup,
    registered_at: datetime | None = None,
) -> tuple[Member, bool]:
    """Enrol the member the identifier names, or find it enrolled already (False)."""
    load_program(uow, tenant_id, program_id)
    try:
        return find_member(uow, tenant_id=tenant_id, lookup=lookup, program_id=program_id), False
    except UnknownMember:
        pass
    command = EnrolMember(
        id=lookup.value if lookup.by is LookupBy.ID else None,
        program_id=program_id,
        email=lookup.value if lookup.by is LookupBy.EMAIL else None,
        phone=lookup.value if lookup.by is LookupBy.PHONE else None,
        custom={str(lookup.custom_name): lookup.value} if lookup.by is LookupBy.CUSTOM else {},
        enrolled_at=registered_at,
    )
    member, _ = members.enrol(uow, clock, tenant_id=tenant_id, command=command)
    return member, True


def recalculate(uow: UnitOfWork, clock: Clock, *, tenant_id: str, member_ids: Sequence[str]) -> int:
    """Store the states of these members as of now; ids of no member are skipped.

    Reads are right without it (they evaluate up to the instant asked); this writes the history
    and the outbox events of whatever fell due, as the sweep would, for just these members.
    """
    if len(member_ids) > MAX_RECALCULATE:
        raise InvalidInput(
            f"at most {MAX_RECALCULATE} profiles per call (got {len(member_ids)})",
            field="profiles",
        )
    now = clock.now()
    by_program: dict[int, list[Member]] = {}
    for member_id in dict.fromkeys(member_ids):
        member = uow.members.get(tenant_id, member_id)
        if member is not None:
            by_program.setdefault(member.program_id, []).append(member)
    done = 0
    for program_id, found in sorted(by_program.items()):
        program = load_program(uow, tenant_id, program_id)
        subjects = [s for m in found for s in subjects_of(uow, program, m)]
        lock(uow, tenant_id, subjects)
        refresh_many(uow, tenant_id, program, subjects, now)
        done += len(found)
    return done


# -- Exchange Solutions user sessions ----------------------------------------------------------


def open_session(
    uow: UnitOfWork,
    clock: Clock,
    *,
    tenant_id: str,
    lookup: MemberLookup,
    identifier_type: str,
    correlation_id: str,
    channel: str,
    ttl: timedelta,
) -> tuple[UserSession, bool]:
    """Open a session on the member the identifier names; True when this call opened it.

    Opening the same correlation id on the same member again while it is open returns it; a
    correlation id is never reused for another member or after its session ended.
    """
    now = clock.now()
    member = find_member(uow, tenant_id=tenant_id, lookup=lookup)
    existing = uow.dialects.get_session(tenant_id, correlation_id)
    if existing is not None:
        if existing.member_id == member.id and existing.open_at(now):
            return existing, False
        raise Conflict(f"correlationId {correlation_id!r} is already in use", field="correlationId")
    uow.dialects.purge_sessions(tenant_id, now - EXPIRED_SESSIONS_KEPT)
    session = UserSession(
        tenant_id=tenant_id,
        correlation_id=correlation_id,
        member_id=member.id,
        channel=channel,
        identifier_type=identifier_type,
        created_at=now,
        expires_at=now + ttl,
    )
    uow.dialects.add_session(session)
    return session, True


def live_session(
    uow: UnitOfWork, clock: Clock, *, tenant_id: str, correlation_id: str
) -> UserSession:
    session = uow.dialects.get_session(tenant_id, correlation_id)
    if session is None or not session.open_at(clock.now()):
        raise UnknownSession(f"no open session has correlation id {correlation_id!r}")
    return session


def close_session(uow: UnitOfWork, clock: Clock, *, tenant_id: str, correlation_id: str) -> None:
    if not uow.dialects.close_session(tenant_id, correlation_id, clock.now()):
        raise UnknownSession(f"no open session has correlation id {correlation_id!r}")


# -- secrets and record ids ----------------------------------------------------------------------


def token_secret(uow_factory: UnitOfWorkFactory, clock: Clock) -> str:
    """The key that signs ES bearer tokens when none is configured: made once, then kept."""
    with uow_factory(write=False) as uow:
        found = uow.dialects.secret(TOKEN_SECRET_NAME)
    if found is not None:
        return found
    with uow_factory() as uow:
        kept = uow.dialects.keep_secret(TOKEN_SECRET_NAME, secrets.token_urlsafe(48), clock.now())
        uow.commit()
    return kept


def profile_tier_id(
    uow_factory: UnitOfWorkFactory, *, tenant_id: str, group_id: int, member_id: str
) -> int:
    """Omneo's integer id of the (member, group) tier record, handed out on first read."""
    with uow_factory(write=False) as uow:
        found = uow.dialects.profile_tier_id(tenant_id, group_id, member_id)
    if found is not None:
        return found
    with uow_factory() as uow:
        made = uow.dialects.allocate_profile_tier_id(tenant_id, group_id, member_id)
        uow.commit()
    return made


@dataclass(frozen=True, slots=True)
class TierRecord:
    """What Omneo shows of a member's tier record beside its state: an id and timestamps."""

    id: int | None
    created_at: datetime | None
    updated_at: datetime | None


def tier_record(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    group_id: int,
    member_id: str,
    stored: StateRecord | None,
    allocate: bool = False,
) -> TierRecord:
    """The record of the member's state in the group, `stored` as the read found it; its id is
    made here only if `allocate` (which needs a writing unit of work), else it may be None (see
    `profile_tier_id`)."""
    ids = uow.dialects
    record_id = (
        ids.allocate_profile_tier_id(tenant_id, group_id, member_id)
        if allocate
        else ids.profile_tier_id(tenant_id, group_id, member_id)
    )
    return TierRecord(
        id=record_id,
        created_at=None if stored is None else stored.created_at,
        updated_at=None if stored is None else stored.updated_at,
    )


def programs_of(uow: UnitOfWork, tenant_id: str) -> list[ProgramConfig]:
    return sorted(uow.programs.list(tenant_id), key=lambda p: p.id)
