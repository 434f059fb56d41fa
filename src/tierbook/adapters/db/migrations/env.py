"""Alembic's environment for tierbook: one migration history for SQLite and PostgreSQL.

The database URL comes from `tierbook.adapters.db.migrate.upgrade` (config attribute `url`),
else from `TIERBOOK_DATABASE_URL`, else from `sqlalchemy.url` in alembic.ini.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from tierbook.adapters.db.engine import WRITE_OPTION, make_engine
from tierbook.adapters.db.tables import metadata

# Any fixed 64-bit number; every tierbook process migrating PostgreSQL takes the same lock.
_MIGRATION_LOCK = 0x7469657262  # "tierb"

config = context.config


def _url() -> str:
    url = (
        config.attributes.get("url")
        or os.environ.get("TIERBOOK_DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise RuntimeError("no database URL: set TIERBOOK_DATABASE_URL")
    return str(url)


def run_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            # BEGIN IMMEDIATE on SQLite, so two processes starting at once migrate in turn.
            connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                    )
                context.configure(
                    connection=connection,
                    target_metadata=metadata,
                    render_as_batch=connection.dialect.name == "sqlite",
                )
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
