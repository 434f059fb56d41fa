"""The sweep takes states whose stable span has ended, by an index on `stable_until`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 08:30:00

A state's `stable_until` is never later than its `next_due_at` (due work is one of the things
that end a stable span), so every due state is also one whose span has ended. The sweep now
takes those, which also refreshes a state whose figures moved (an entry left its window): the
hot reads then keep answering it from the stored state. The index on `next_due_at` is no
longer read and goes.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ["tenant_id", "group_id", "subject_id"]


def upgrade() -> None:
    op.create_index(
        "ix_tier_states_stable_until_tenant_id_group_id_subject_id",
        "tier_states",
        ["stable_until", *_COLUMNS],
    )
    op.drop_index("ix_tier_states_next_due_at_tenant_id_group_id_subject_id", "tier_states")


def downgrade() -> None:
    op.create_index(
        "ix_tier_states_next_due_at_tenant_id_group_id_subject_id",
        "tier_states",
        ["next_due_at", *_COLUMNS],
    )
    op.drop_index("ix_tier_states_stable_until_tenant_id_group_id_subject_id", "tier_states")
