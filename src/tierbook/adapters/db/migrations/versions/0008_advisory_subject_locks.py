"""Subject locks on PostgreSQL are advisory locks: the `subject_locks` rows go.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 09:10:00

A writer used to insert a row per subject it would write (if missing) and lock it `FOR
UPDATE`: two statements per group, on every write. It now takes a transaction-level advisory
lock per subject, all in one statement, and the table those rows lived in is dropped. SQLite
never used it: its single writer lock serialises writers already.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("subject_locks")


def downgrade() -> None:
    op.create_table(
        "subject_locks",
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("group_id", sa.BigInteger, nullable=False),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("program_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "group_id", "subject_id", name="pk_subject_locks"),
    )
