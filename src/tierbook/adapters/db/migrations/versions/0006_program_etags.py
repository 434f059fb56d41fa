"""Programs carry an etag: a token every write of the program replaces.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 08:00:00

Additive only. A process keeps the programs it has parsed; the hot read asks for a program's
etag instead of its whole document and uses the kept program while the etag is unchanged.
Programs stored before get an etag here; a program whose etag is NULL is read by its document.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("programs", sa.Column("etag", sa.Text, nullable=True))
    programs = sa.table("programs", sa.column("tenant_id"), sa.column("id"), sa.column("etag"))
    connection = op.get_bind()
    for tenant_id, program_id in connection.execute(sa.select(programs.c.tenant_id, programs.c.id)):
        connection.execute(
            programs.update()
            .where(programs.c.tenant_id == tenant_id, programs.c.id == program_id)
            .values(etag=uuid.uuid4().hex)
        )


def downgrade() -> None:
    with op.batch_alter_table("programs") as batch:
        batch.drop_column("etag")
