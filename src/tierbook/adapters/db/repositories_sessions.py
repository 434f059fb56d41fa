"""What the vendor dialects keep: ES user sessions, server secrets, Omneo profile-tier ids."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from tierbook.adapters.db.repositories import AnyRow, SqlRepository, missing_reference_raises
from tierbook.adapters.db.tables import es_sessions, profile_tier_ids, server_secrets
from tierbook.domain.errors import Conflict, UnknownMember
from tierbook.service.ports import UserSession


class SqlDialectRepository(SqlRepository):
    def add_session(self, session: UserSession) -> None:
        insert = self._insert(es_sessions).values(
            tenant_id=session.tenant_id,
            correlation_id=session.correlation_id,
            member_id=session.member_id,
            channel=session.channel,
            identifier_type=session.identifier_type,
            created_at=session.created_at,
            expires_at=session.expires_at,
            closed_at=session.closed_at,
        )
        # psycopg reports an INSERT's rowcount only when asked to keep it.
        statement = insert.on_conflict_do_nothing().execution_options(preserve_rowcount=True)
        with missing_reference_raises(UnknownMember(f"no member {session.member_id!r}")):
            written = self._conn.execute(statement).rowcount
        if not written:
            raise Conflict(
                f"correlationId {session.correlation_id!r} is already in use", field="correlationId"
            )

    def get_session(self, tenant_id: str, correlation_id: str) -> UserSession | None:
        row = self._conn.execute(
            sa.select(es_sessions).where(
                es_sessions.c.tenant_id == tenant_id,
                es_sessions.c.correlation_id == correlation_id,
            )
        ).one_or_none()
        return None if row is None else _session(row)

    def close_session(self, tenant_id: str, correlation_id: str, at: datetime) -> bool:
        c = es_sessions.c
        closed = self._conn.execute(
            sa.update(es_sessions)
            .where(
                c.tenant_id == tenant_id,
                c.correlation_id == correlation_id,
                c.closed_at.is_(None),
                c.expires_at > at,
            )
            .values(closed_at=at)
        ).rowcount
        return bool(closed)

    def purge_sessions(self, tenant_id: str, expired_before: datetime) -> int:
        c = es_sessions.c
        return int(
            self._conn.execute(
                sa.delete(es_sessions).where(
                    c.tenant_id == tenant_id, c.expires_at < expired_before
                )
            ).rowcount
        )

    def secret(self, name: str) -> str | None:
        value: str | None = self._conn.scalar(
            sa.select(server_secrets.c.value).where(server_secrets.c.name == name)
        )
        return value

    def keep_secret(self, name: str, value: str, at: datetime) -> str:
        # A racing process may have stored one first: the first one stored is everyone's.
        self._conn.execute(
            self._insert(server_secrets)
            .values(name=name, value=value, created_at=at)
            .on_conflict_do_nothing()
        )
        stored = self.secret(name)
        assert stored is not None, "a secret just stored is there to read"
        return stored

    def profile_tier_id(self, tenant_id: str, group_id: int, member_id: str) -> int | None:
        found: int | None = self._conn.scalar(
            _PROFILE_TIER_ID,
            {"tenant_id": tenant_id, "group_id": group_id, "member_id": member_id},
        )
        return found

    def allocate_profile_tier_id(self, tenant_id: str, group_id: int, member_id: str) -> int:
        self._conn.execute(
            self._insert(profile_tier_ids)
            .values(
                tenant_id=tenant_id, group_id=group_id, member_id=member_id, created_at=self._now()
            )
            .on_conflict_do_nothing()
        )
        found = self.profile_tier_id(tenant_id, group_id, member_id)
        assert found is not None, "an id just allocated is there to read"
        return found


# Read on every Omneo profile read: built once, as a statement with bound parameters.
_PROFILE_TIER_ID = sa.select(profile_tier_ids.c.id).where(
    profile_tier_ids.c.tenant_id == sa.bindparam("tenant_id"),
    profile_tier_ids.c.group_id == sa.bindparam("group_id"),
    profile_tier_ids.c.member_id == sa.bindparam("member_id"),
)


def _session(row: AnyRow) -> UserSession:
    return UserSession(
        tenant_id=row.tenant_id,
        correlation_id=row.correlation_id,
        member_id=row.member_id,
        channel=row.channel,
        identifier_type=row.identifier_type,
        created_at=row.created_at,
        expires_at=row.expires_at,
        closed_at=row.closed_at,
    )
