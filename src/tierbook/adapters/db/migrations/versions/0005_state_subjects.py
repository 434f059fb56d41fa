"""Tier states by subject: the index the hot read finds a member's states with.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 03:00:00

Additive only. The hot read takes the member, its program and its stored states in one
statement, joining the states whose subject is the member or its household; the primary key
starts with the group, so that join needs `(tenant_id, subject_id)`.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_tier_states_tenant_id_subject_id", "tier_states", ["tenant_id", "subject_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_tier_states_tenant_id_subject_id", table_name="tier_states")
