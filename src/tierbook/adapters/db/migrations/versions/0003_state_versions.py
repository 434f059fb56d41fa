"""A version per stored tier state, for writers that evaluate before they lock.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 00:00:00

Every write of a state increments its version. A sweep worker evaluates a page of states under a
read transaction and stores the results only where the versions it read are still current, so
evaluation runs in parallel while writes stay serial. Additive: existing rows start at 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tier_states") as batch:
        batch.add_column(
            sa.Column("version", sa.BigInteger, nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("tier_states") as batch:
        batch.drop_column("version")
