"""Webhooks: the endpoints a tenant registers, and each event's delivery to each of them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 00:00:00

Additive only: two new tables. The outbox's `delivered_at` now means "handed to delivery": the
dispatcher fans each event out to one `webhook_deliveries` row per subscribed webhook, and the
deliveries carry their own attempts, schedule and outcome.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("events", sa.JSON, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("disabled_at", Instant),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_webhooks"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("webhook_id", sa.Text, nullable=False),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", Instant),
        sa.Column("delivered_at", Instant),
        sa.Column("failed_at", Instant),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("event_id", "webhook_id", name="pk_webhook_deliveries"),
    )
    op.create_index(
        "ix_webhook_deliveries_next_attempt_at", "webhook_deliveries", ["next_attempt_at"]
    )
    op.create_index(
        "ix_webhook_deliveries_tenant_id_webhook_id",
        "webhook_deliveries",
        ["tenant_id", "webhook_id"],
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
