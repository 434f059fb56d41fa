"""tierbook's first schema: programs, members, ledger, tier states, outbox, keys, checkpoints.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Types are spelled out here rather than imported from `tables`, so this revision keeps creating
the same schema however `tables` changes later. `Instant` is what `tables.UtcDateTime` stores.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Instant = sa.DateTime(timezone=True)
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.Text, nullable=False)


def upgrade() -> None:
    op.create_table(
        "programs",
        _tenant(),
        sa.Column("id", sa.BigInteger, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_programs"),
    )
    op.create_index("ix_programs_tenant_id_code", "programs", ["tenant_id", "code"])

    op.create_table(
        "members",
        _tenant(),
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("program_id", sa.BigInteger, nullable=False),
        sa.Column("email", sa.Text),
        sa.Column("phone", sa.Text),
        sa.Column("custom", sa.JSON, nullable=False),
        sa.Column("household_id", sa.Text),
        sa.Column("enrolled_at", Instant, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_members"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "program_id"],
            ["programs.tenant_id", "programs.id"],
            name="fk_members_tenant_id_program_id_programs",
        ),
    )
    op.create_index("ix_members_tenant_id_email", "members", ["tenant_id", "email"])
    op.create_index("ix_members_tenant_id_phone", "members", ["tenant_id", "phone"])
    op.create_index(
        "ix_members_tenant_id_program_id_household_id",
        "members",
        ["tenant_id", "program_id", "household_id"],
    )

    op.create_table(
        "member_custom",
        _tenant(),
        sa.Column("member_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "member_id", "name", name="pk_member_custom"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "member_id"],
            ["members.tenant_id", "members.id"],
            name="fk_member_custom_tenant_id_member_id_members",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_member_custom_tenant_id_name_digest", "member_custom", ["tenant_id", "name", "digest"]
    )

    op.create_table(
        "ledger",
        sa.Column("seq", Seq, nullable=False, autoincrement=True),
        _tenant(),
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("program_id", sa.BigInteger, nullable=False),
        sa.Column("member_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("occurred_at", Instant, nullable=False),
        sa.Column("recorded_at", Instant),
        sa.Column("idempotency_key", sa.Text),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("spend", sa.BigInteger, nullable=False),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.Column("business_unit", sa.Text),
        sa.Column("behaviour_type", sa.Text),
        sa.Column("achievement_id", sa.Text),
        sa.Column("reverses", sa.Text),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_ledger"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_ledger_tenant_id_id"),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name="uq_ledger_tenant_id_idempotency_key"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "member_id"],
            ["members.tenant_id", "members.id"],
            name="fk_ledger_tenant_id_member_id_members",
        ),
    )
    op.create_index(
        "ix_ledger_tenant_id_program_id_member_id_occurred_at",
        "ledger",
        ["tenant_id", "program_id", "member_id", "occurred_at"],
    )

    op.create_table(
        "assignments",
        sa.Column("seq", Seq, nullable=False, autoincrement=True),
        _tenant(),
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("program_id", sa.BigInteger, nullable=False),
        sa.Column("group_id", sa.BigInteger, nullable=False),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("tier_id", sa.BigInteger, nullable=False),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("effective_at", Instant, nullable=False),
        sa.Column("until", Instant),
        sa.Column("reason", sa.Text),
        sa.Column("assigned_at", Instant),
        sa.Column("ended_at", Instant),
        sa.PrimaryKeyConstraint("seq", name="pk_assignments"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_assignments_tenant_id_id"),
    )
    op.create_index(
        "ix_assignments_tenant_id_group_id_subject_id",
        "assignments",
        ["tenant_id", "group_id", "subject_id"],
    )

    op.create_table(
        "tier_states",
        _tenant(),
        sa.Column("group_id", sa.BigInteger, nullable=False),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("program_id", sa.BigInteger, nullable=False),
        sa.Column("tier_id", sa.BigInteger),
        sa.Column("as_of", Instant, nullable=False),
        sa.Column("next_due_at", Instant),
        sa.Column("stable_until", Instant),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "group_id", "subject_id", name="pk_tier_states"),
    )
    op.create_index(
        "ix_tier_states_next_due_at_tenant_id_group_id_subject_id",
        "tier_states",
        ["next_due_at", "tenant_id", "group_id", "subject_id"],
    )
    op.create_index(
        "ix_tier_states_tenant_id_program_id_tier_id",
        "tier_states",
        ["tenant_id", "program_id", "tier_id"],
    )

    op.create_table(
        "tier_history",
        _tenant(),
        sa.Column("group_id", sa.BigInteger, nullable=False),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", Instant, nullable=False),
        sa.Column("from_tier_id", sa.BigInteger),
        sa.Column("to_tier_id", sa.BigInteger),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("figures", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "group_id", "subject_id", "seq", name="pk_tier_history"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "group_id", "subject_id"],
            ["tier_states.tenant_id", "tier_states.group_id", "tier_states.subject_id"],
            name="fk_tier_history_tenant_id_group_id_subject_id_tier_states",
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "outbox",
        sa.Column("seq", Seq, nullable=False, autoincrement=True),
        sa.Column("id", sa.Text, nullable=False),
        _tenant(),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("program_id", sa.BigInteger, nullable=False),
        sa.Column("group_id", sa.BigInteger, nullable=False),
        sa.Column("occurred_at", Instant, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("delivered_at", Instant),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("seq", name="pk_outbox"),
        sa.UniqueConstraint("id", name="uq_outbox_id"),
    )
    op.create_index("ix_outbox_tenant_id_subject_id", "outbox", ["tenant_id", "subject_id"])
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["seq"],
        sqlite_where=sa.text("delivered_at IS NULL"),
        postgresql_where=sa.text("delivered_at IS NULL"),
    )

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text, nullable=False),
        _tenant(),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("secret_hash", sa.Text, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("revoked_at", Instant),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])

    op.create_table(
        "checkpoints",
        _tenant(),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "name", name="pk_checkpoints"),
    )

    op.create_table(
        "subject_locks",
        _tenant(),
        sa.Column("group_id", sa.BigInteger, nullable=False),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("program_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "group_id", "subject_id", name="pk_subject_locks"),
    )


def downgrade() -> None:
    for table in (
        "subject_locks",
        "checkpoints",
        "api_keys",
        "outbox",
        "tier_history",
        "tier_states",
        "assignments",
        "ledger",
        "member_custom",
        "members",
        "programs",
    ):
        op.drop_table(table)
