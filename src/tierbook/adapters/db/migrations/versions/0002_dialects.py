"""What the vendor dialects keep: ES user sessions, server secrets, Omneo profile-tier ids.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02 00:00:00

Additive only: three new tables, nothing existing changes. Types are spelled out, as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Instant = sa.DateTime(timezone=True)
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "es_sessions",
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.Text, nullable=False),
        sa.Column("member_id", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("identifier_type", sa.Text, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("expires_at", Instant, nullable=False),
        sa.Column("closed_at", Instant),
        sa.PrimaryKeyConstraint("tenant_id", "correlation_id", name="pk_es_sessions"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "member_id"],
            ["members.tenant_id", "members.id"],
            name="fk_es_sessions_tenant_id_member_id_members",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_es_sessions_tenant_id_expires_at", "es_sessions", ["tenant_id", "expires_at"]
    )

    op.create_table(
        "server_secrets",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_server_secrets"),
    )

    op.create_table(
        "profile_tier_ids",
        sa.Column("id", Seq, nullable=False, autoincrement=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("group_id", sa.BigInteger, nullable=False),
        sa.Column("member_id", sa.Text, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_profile_tier_ids"),
        sa.UniqueConstraint(
            "tenant_id",
            "group_id",
            "member_id",
            name="uq_profile_tier_ids_tenant_id_group_id_member_id",
        ),
    )


def downgrade() -> None:
    for table in ("profile_tier_ids", "server_secrets", "es_sessions"):
        op.drop_table(table)
