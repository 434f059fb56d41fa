"""Programs (stored as their §3 document) and members (with indexed custom fields)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import sqlalchemy as sa

from tierbook.adapters.db.repositories import (
    AnyRow,
    SqlRepository,
    chunked,
    missing_reference_raises,
)
from tierbook.adapters.db.serialize import custom_digest, custom_text
from tierbook.adapters.db.tables import member_custom, members, programs
from tierbook.domain.errors import DuplicateMember, UnknownMember, UnknownProgram
from tierbook.service.documents import program_from_document, program_to_document
from tierbook.service.model import Member, ProgramConfig


class SqlProgramRepository(SqlRepository):
    def save(self, tenant_id: str, program: ProgramConfig) -> None:
        now = self._now()
        insert = self._insert(programs).values(
            tenant_id=tenant_id,
            id=program.id,
            code=program.code,
            name=program.name,
            document=program_to_document(program),
            created_at=program.created_at or now,
            updated_at=program.updated_at or now,
            etag=uuid.uuid4().hex,
        )
        changed = ("code", "name", "document", "updated_at", "etag")
        self._conn.execute(
            insert.on_conflict_do_update(
                index_elements=[programs.c.tenant_id, programs.c.id],
                set_={name: insert.excluded[name] for name in changed},
            )
        )

    def get(self, tenant_id: str, program_id: int) -> ProgramConfig | None:
        row = self._conn.execute(
            _PROGRAM, {"tenant_id": tenant_id, "program_id": program_id}
        ).one_or_none()
        return None if row is None else parsed_programs.program(tenant_id, row)

    def list(self, tenant_id: str) -> list[ProgramConfig]:
        rows = self._conn.execute(
            _PROGRAM_ROWS.where(programs.c.tenant_id == tenant_id).order_by(programs.c.id)
        )
        return [parsed_programs.program(tenant_id, row) for row in rows]


# The document as the text the database holds, so that a row can be checked against the one a
# program was parsed from without parsing anything.
_PROGRAM_COLUMNS = (
    programs.c.id.label("program_id"),
    sa.cast(programs.c.document, sa.Text).label("program_document"),
    programs.c.created_at.label("program_created_at"),
    programs.c.updated_at.label("program_updated_at"),
    programs.c.etag.label("program_etag"),
)
_PROGRAM_ROWS = sa.select(*_PROGRAM_COLUMNS)
_PROGRAM = _PROGRAM_ROWS.where(
    programs.c.tenant_id == sa.bindparam("tenant_id"), programs.c.id == sa.bindparam("program_id")
)


class ParsedPrograms:
    """Programs parsed from their stored rows, kept per tenant and program id.

    Parsing and validating a program's document costs a hot read more than the rest of it, and
    a program changes rarely. A kept program is used only for a row whose document text,
    timestamps and etag are exactly those it was parsed from, so a changed program (by this
    process or any other) is parsed again on its next read, and a row never yields another
    row's program. `by_etag` finds a kept program by its etag alone, for a read that leaves the
    document out: every write gives a program a new random etag, unique across databases.
    """

    def __init__(self, limit: int = 1024) -> None:
        self._limit = limit
        self._kept: dict[tuple[str, int], tuple[tuple[Any, ...], ProgramConfig]] = {}

    def program(self, tenant_id: str, row: AnyRow) -> ProgramConfig:
        """The program of a row with the `_PROGRAM_COLUMNS`, read in `tenant_id`."""
        key = (tenant_id, row.program_id)
        stamp = (
            row.program_etag,
            row.program_document,
            row.program_created_at,
            row.program_updated_at,
        )
        kept = self._kept.get(key)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        program = dataclasses.replace(
            program_from_document(orjson.loads(row.program_document)),
            created_at=row.program_created_at,
            updated_at=row.program_updated_at,
        )
        if len(self._kept) >= self._limit:
            self._kept.clear()
        self._kept[key] = (stamp, program)
        return program

    def by_etag(self, tenant_id: str, program_id: int, etag: str | None) -> ProgramConfig | None:
        """The kept program with this etag, or None (never kept, changed since, or no etag)."""
        kept = self._kept.get((tenant_id, program_id))
        if etag is None or kept is None or kept[0][0] != etag:
            return None
        return kept[1]


parsed_programs = ParsedPrograms()


class SqlMemberRepository(SqlRepository):
    def add(self, member: Member) -> None:
        now = self._now()
        values = _member_values(member) | {
            "tenant_id": member.tenant_id,
            "id": member.id,
            "created_at": member.created_at or now,
            "updated_at": member.updated_at or now,
        }
        # ON CONFLICT rather than catching the key violation: on PostgreSQL a failed statement
        # would abort the caller's whole transaction.
        insert = (
            self._insert(members)
            .values(values)
            .on_conflict_do_nothing()
            # psycopg reports an INSERT's rowcount only when asked to keep it.
            .execution_options(preserve_rowcount=True)
        )
        with missing_reference_raises(_unknown_program(member)):
            written = self._conn.execute(insert).rowcount
        if not written:
            raise DuplicateMember(f"member {member.id!r} already exists", field="id")
        self._write_custom(member)

    def get(self, tenant_id: str, member_id: str) -> Member | None:
        row = self._conn.execute(
            _MEMBER, {"tenant_id": tenant_id, "member_id": member_id}
        ).one_or_none()
        return None if row is None else member_from_row(row)

    def get_with_program(
        self, tenant_id: str, member_id: str
    ) -> tuple[Member, ProgramConfig] | None:
        row = self._conn.execute(
            MEMBER_WITH_PROGRAM, {"tenant_id": tenant_id, "member_id": member_id}
        ).one_or_none()
        return (
            None if row is None else (member_from_row(row), parsed_programs.program(tenant_id, row))
        )

    def update(self, member: Member) -> None:
        values = _member_values(member) | {"updated_at": member.updated_at or self._now()}
        with missing_reference_raises(_unknown_program(member)):
            written = self._conn.execute(
                sa.update(members)
                .where(members.c.tenant_id == member.tenant_id, members.c.id == member.id)
                .values(values)
            ).rowcount
        if not written:
            raise UnknownMember(f"member {member.id!r} does not exist")
        self._conn.execute(
            sa.delete(member_custom).where(
                member_custom.c.tenant_id == member.tenant_id,
                member_custom.c.member_id == member.id,
            )
        )
        self._write_custom(member)

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
        query = sa.select(members).where(members.c.tenant_id == tenant_id)
        if program_id is not None:
            query = query.where(members.c.program_id == program_id)
        if email is not None:
            query = query.where(members.c.email == email)
        if phone is not None:
            query = query.where(members.c.phone == phone)
        for name, value in (custom or {}).items():
            text = str(value)
            query = query.where(
                members.c.id.in_(
                    sa.select(member_custom.c.member_id).where(
                        member_custom.c.tenant_id == tenant_id,
                        member_custom.c.name == name,
                        member_custom.c.digest == custom_digest(text),
                        member_custom.c.value == text,
                    )
                )
            )
        rows = self._conn.execute(query.order_by(members.c.id).limit(limit))
        return [member_from_row(row) for row in rows]

    def household(self, tenant_id: str, program_id: int, household_id: str) -> list[Member]:
        rows = self._conn.execute(
            _HOUSEHOLD,
            {"tenant_id": tenant_id, "program_id": program_id, "household_id": household_id},
        )
        # Sorted here, not by ORDER BY: for `ORDER BY id` SQLite would rather walk the whole
        # tenant in primary-key order than use the household index.
        return sorted((member_from_row(row) for row in rows), key=lambda m: m.id)

    def get_many(self, tenant_id: str, member_ids: Iterable[str]) -> dict[str, Member]:
        found: dict[str, Member] = {}
        for chunk in chunked(sorted(set(member_ids))):
            rows = self._conn.execute(
                sa.select(members).where(members.c.tenant_id == tenant_id, members.c.id.in_(chunk))
            )
            found.update((row.id, member_from_row(row)) for row in rows)
        return found

    def households(
        self, tenant_id: str, program_id: int, household_ids: Iterable[str]
    ) -> dict[str, list[Member]]:
        found: dict[str, list[Member]] = {}
        for chunk in chunked(sorted(set(household_ids))):
            # Sorted here, not by `ORDER BY household_id, id`: for a single household that
            # makes SQLite walk the primary key through every member of the tenant.
            rows = self._conn.execute(
                sa.select(members).where(
                    members.c.tenant_id == tenant_id,
                    members.c.program_id == program_id,
                    members.c.household_id.in_(chunk),
                )
            )
            for row in rows:
                found.setdefault(row.household_id, []).append(member_from_row(row))
        for pool in found.values():
            pool.sort(key=lambda m: m.id)
        return dict(sorted(found.items()))

    def ids(self, tenant_id: str, program_id: int) -> list[str]:
        return list(
            self._conn.scalars(
                sa.select(members.c.id)
                .where(members.c.tenant_id == tenant_id, members.c.program_id == program_id)
                .order_by(members.c.id)
            )
        )

    def _write_custom(self, member: Member) -> None:
        rows = [
            {
                "tenant_id": member.tenant_id,
                "member_id": member.id,
                "name": name,
                "value": text,
                "digest": custom_digest(text),
            }
            for name, value in member.custom.items()
            if (text := custom_text(value)) is not None
        ]
        if rows:
            self._conn.execute(sa.insert(member_custom), rows)


# The hot reads' statements, built once (building one costs more than running it).
_MEMBER = sa.select(members).where(
    members.c.tenant_id == sa.bindparam("tenant_id"), members.c.id == sa.bindparam("member_id")
)
MEMBER_WITH_PROGRAM = (
    sa.select(members, *_PROGRAM_COLUMNS[1:])
    .join_from(
        members,
        programs,
        sa.and_(programs.c.tenant_id == members.c.tenant_id, programs.c.id == members.c.program_id),
    )
    .where(
        members.c.tenant_id == sa.bindparam("tenant_id"),
        members.c.id == sa.bindparam("member_id"),
    )
)
_HOUSEHOLD = sa.select(members).where(
    members.c.tenant_id == sa.bindparam("tenant_id"),
    members.c.program_id == sa.bindparam("program_id"),
    members.c.household_id == sa.bindparam("household_id"),
)


def _unknown_program(member: Member) -> UnknownProgram:
    return UnknownProgram(f"program {member.program_id} does not exist", field="program_id")


def _member_values(member: Member) -> dict[str, Any]:
    return {
        "program_id": member.program_id,
        "email": member.email,
        "phone": member.phone,
        "custom": dict(member.custom),
        "household_id": member.household_id,
        "enrolled_at": member.enrolled_at,
    }


def member_from_row(row: AnyRow) -> Member:
    return Member(
        tenant_id=row.tenant_id,
        id=row.id,
        program_id=row.program_id,
        enrolled_at=row.enrolled_at,
        email=row.email,
        phone=row.phone,
        custom=row.custom,
        household_id=row.household_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
