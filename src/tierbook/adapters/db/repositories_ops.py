"""Operational records: the event outbox, API keys, and checkpoints of resumable jobs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tierbook.adapters.db.repositories import AnyRow, ManyRows, SqlRepository, chunked
from tierbook.adapters.db.tables import api_keys, checkpoints, outbox
from tierbook.service.model import ApiKey, OutboxEvent


class SqlOutboxRepository(SqlRepository):
    def add(self, events: Sequence[OutboxEvent]) -> None:
        if not events:
            return
        now = self._now()
        _ADD_EVENTS(
            self._conn,
            [
                (
                    e.id,
                    e.tenant_id,
                    e.type,
                    e.subject_id,
                    e.program_id,
                    e.group_id,
                    e.occurred_at,
                    dict(e.payload),
                    e.created_at or now,
                    e.delivered_at,
                )
                for e in events
            ],
        )

    def pending(self, limit: int) -> list[OutboxEvent]:
        """Undelivered events of every tenant, oldest first (the delivery worker's queue)."""
        rows = self._conn.execute(
            sa.select(outbox)
            .where(outbox.c.delivered_at.is_(None))
            .order_by(outbox.c.seq)
            .limit(limit)
        )
        return [event_from_row(row) for row in rows]

    def mark_delivered(self, ids: Sequence[str], at: datetime) -> None:
        for chunk in chunked(ids):
            self._conn.execute(
                sa.update(outbox)
                # A redelivery keeps the first delivery's time.
                .where(outbox.c.id.in_(chunk), outbox.c.delivered_at.is_(None))
                .values(delivered_at=at)
            )

    def for_subject(self, tenant_id: str, subject_id: str) -> list[OutboxEvent]:
        rows = self._conn.execute(
            sa.select(outbox)
            .where(outbox.c.tenant_id == tenant_id, outbox.c.subject_id == subject_id)
            .order_by(outbox.c.seq)
        )
        return [event_from_row(row) for row in rows]


def event_from_row(row: AnyRow) -> OutboxEvent:
    return OutboxEvent(
        id=row.id,
        tenant_id=row.tenant_id,
        type=row.type,
        subject_id=row.subject_id,
        program_id=row.program_id,
        group_id=row.group_id,
        occurred_at=row.occurred_at,
        payload=row.payload,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


class SqlApiKeyRepository(SqlRepository):
    def add(self, key: ApiKey) -> None:
        self._conn.execute(
            sa.insert(api_keys).values(
                id=key.id,
                tenant_id=key.tenant_id,
                name=key.name,
                scopes=sorted(key.scopes),
                secret_hash=key.secret_hash,
                created_at=key.created_at,
                revoked_at=key.revoked_at,
            )
        )

    def get(self, key_id: str) -> ApiKey | None:
        row = self._conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).one_or_none()
        return None if row is None else _key(row)

    def list(self, tenant_id: str | None = None) -> list[ApiKey]:
        query = sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if tenant_id is not None:
            query = query.where(api_keys.c.tenant_id == tenant_id)
        return [_key(row) for row in self._conn.execute(query)]

    def revoke(self, key_id: str, at: datetime) -> bool:
        """True when this call revoked the key; False when it is unknown or already revoked."""
        revoked = self._conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=at)
        ).rowcount
        return bool(revoked)


def _key(row: AnyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        scopes=frozenset(row.scopes),
        secret_hash=row.secret_hash,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class SqlCheckpointRepository(SqlRepository):
    def get(self, tenant_id: str, name: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self._conn.scalar(
            sa.select(checkpoints.c.value).where(
                checkpoints.c.tenant_id == tenant_id, checkpoints.c.name == name
            )
        )
        return value

    def put(self, tenant_id: str, name: str, value: dict[str, Any]) -> None:
        insert = self._insert(checkpoints).values(
            tenant_id=tenant_id, name=name, value=value, updated_at=self._now()
        )
        self._conn.execute(
            insert.on_conflict_do_update(
                index_elements=[checkpoints.c.tenant_id, checkpoints.c.name],
                set_={"value": insert.excluded.value, "updated_at": insert.excluded.updated_at},
            )
        )


EVENT_COLUMNS = (
    "id",
    "tenant_id",
    "type",
    "subject_id",
    "program_id",
    "group_id",
    "occurred_at",
    "payload",
    "created_at",
    "delivered_at",
)
"""The columns an outbox event is written with, in the order of its values."""
_ADD_EVENTS = ManyRows(sa.insert(outbox), outbox, EVENT_COLUMNS)
