"""Webhooks and their deliveries: what the delivery worker reads and writes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa

from tierbook.adapters.db.repositories import AnyRow, SqlRepository, chunked
from tierbook.adapters.db.repositories_ops import event_from_row
from tierbook.adapters.db.tables import outbox, webhook_deliveries, webhooks
from tierbook.service.model import Delivery, OutboxEvent, Webhook

_d = webhook_deliveries.c
_w = webhooks.c
_PENDING = (_d.delivered_at.is_(None), _d.failed_at.is_(None))
# A delivery read with its event and webhook: the event's columns as they are, the webhook's
# and the delivery's under their own labels.
_JOINED = sa.select(
    *outbox.c,
    *(c.label(f"w_{c.name}") for c in webhooks.c),
    *(c.label(f"d_{c.name}") for c in webhook_deliveries.c),
).select_from(
    webhook_deliveries.join(outbox, outbox.c.id == _d.event_id).join(
        webhooks, sa.and_(_w.tenant_id == _d.tenant_id, _w.id == _d.webhook_id)
    )
)


class SqlWebhookRepository(SqlRepository):
    def add(self, webhook: Webhook) -> None:
        self._conn.execute(
            sa.insert(webhooks).values(
                tenant_id=webhook.tenant_id,
                id=webhook.id,
                url=webhook.url,
                secret=webhook.secret,
                events=sorted(webhook.events),
                created_at=webhook.created_at,
                disabled_at=webhook.disabled_at,
            )
        )

    def get(self, tenant_id: str, webhook_id: str) -> Webhook | None:
        row = self._conn.execute(
            sa.select(webhooks).where(_w.tenant_id == tenant_id, _w.id == webhook_id)
        ).one_or_none()
        return None if row is None else _webhook(row)

    def for_tenant(self, tenant_id: str) -> list[Webhook]:
        rows = self._conn.execute(
            sa.select(webhooks).where(_w.tenant_id == tenant_id).order_by(_w.created_at, _w.id)
        )
        return [_webhook(row) for row in rows]

    def disable(self, tenant_id: str, webhook_id: str, at: datetime) -> bool:
        disabled = self._conn.execute(
            sa.update(webhooks)
            .where(_w.tenant_id == tenant_id, _w.id == webhook_id, _w.disabled_at.is_(None))
            .values(disabled_at=at)
        ).rowcount
        if disabled:
            self._conn.execute(
                sa.update(webhook_deliveries)
                .where(_d.tenant_id == tenant_id, _d.webhook_id == webhook_id, *_PENDING)
                .values(failed_at=at, next_attempt_at=None, last_error="webhook disabled")
            )
        return bool(disabled)

    def active_for(self, tenant_ids: Iterable[str]) -> list[Webhook]:
        found: list[Webhook] = []
        for chunk in chunked(sorted(set(tenant_ids))):
            rows = self._conn.execute(
                sa.select(webhooks)
                .where(_w.tenant_id.in_(chunk), _w.disabled_at.is_(None))
                .order_by(_w.tenant_id, _w.created_at, _w.id)
            )
            found += [_webhook(row) for row in rows]
        return found

    def add_deliveries(self, pairs: Sequence[tuple[OutboxEvent, Webhook]], at: datetime) -> None:
        if not pairs:
            return
        self._conn.execute(
            self._insert(webhook_deliveries).on_conflict_do_nothing(),
            [
                {
                    "event_id": event.id,
                    "webhook_id": webhook.id,
                    "tenant_id": webhook.tenant_id,
                    "attempts": 0,
                    "next_attempt_at": at,
                }
                for event, webhook in pairs
            ],
        )

    def claim_due(self, at: datetime, limit: int, until: datetime) -> list[Delivery]:
        # PostgreSQL locks the rows it returns and skips those another claim holds; SQLite has
        # one writer, so a claim there waits for the one before it and sees its lease.
        rows = self._conn.execute(
            _JOINED.where(*_PENDING, _d.next_attempt_at <= at, _w.disabled_at.is_(None))
            .order_by(_d.next_attempt_at, outbox.c.seq, _d.webhook_id)
            .limit(limit)
            .with_for_update(of=webhook_deliveries, skip_locked=True)
        )
        due = [_delivery(row) for row in rows]
        if due:
            self._conn.execute(
                _LEASE,
                [{"e": d.event.id, "w": d.webhook.id, "until": until} for d in due],
            )
        return due

    def record_attempt(self, delivery: Delivery) -> None:
        self._conn.execute(
            sa.update(webhook_deliveries)
            .where(_d.event_id == delivery.event.id, _d.webhook_id == delivery.webhook.id)
            .values(
                attempts=delivery.attempts,
                next_attempt_at=delivery.next_attempt_at,
                delivered_at=delivery.delivered_at,
                failed_at=delivery.failed_at,
                last_status=delivery.last_status,
                last_error=delivery.last_error,
            )
        )

    def deliveries(self, tenant_id: str, webhook_id: str, limit: int) -> list[Delivery]:
        rows = self._conn.execute(
            _JOINED.where(_d.tenant_id == tenant_id, _d.webhook_id == webhook_id)
            .order_by(outbox.c.seq.desc())
            .limit(limit)
        )
        return [_delivery(row) for row in rows]


_LEASE = (
    sa.update(webhook_deliveries)
    .where(_d.event_id == sa.bindparam("e"), _d.webhook_id == sa.bindparam("w"))
    .values(next_attempt_at=sa.bindparam("until"))
)


def _webhook(row: AnyRow, prefix: str = "") -> Webhook:
    m = row._mapping
    return Webhook(
        tenant_id=m[f"{prefix}tenant_id"],
        id=m[f"{prefix}id"],
        url=m[f"{prefix}url"],
        secret=m[f"{prefix}secret"],
        events=frozenset(m[f"{prefix}events"]),
        created_at=m[f"{prefix}created_at"],
        disabled_at=m[f"{prefix}disabled_at"],
    )


def _delivery(row: AnyRow) -> Delivery:
    m = row._mapping
    return Delivery(
        event=event_from_row(row),
        webhook=_webhook(row, "w_"),
        attempts=m["d_attempts"],
        next_attempt_at=m["d_next_attempt_at"],
        delivered_at=m["d_delivered_at"],
        failed_at=m["d_failed_at"],
        last_status=m["d_last_status"],
        last_error=m["d_last_error"],
    )
