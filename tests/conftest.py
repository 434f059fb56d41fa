"""Database fixtures shared by every suite: each test gets an empty, migrated database.

`database_url` runs a test on SQLite and on PostgreSQL. SQLite: a copy of a file migrated once
per session, under the test's `tmp_path`. PostgreSQL (marked `postgres`): the server named by
TIERBOOK_TEST_POSTGRES_URL, in a schema of this session's own (so parallel runs do not meet),
migrated once and emptied before each test. Without the variable the PostgreSQL runs are
skipped; with it set, a server that cannot be reached fails them.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tierbook.adapters.db.engine import make_engine
from tierbook.adapters.db.migrate import upgrade
from tierbook.adapters.db.tables import metadata
from tierbook.adapters.db.uow import SqlUnitOfWorkFactory

POSTGRES_URL_VARIABLE = "TIERBOOK_TEST_POSTGRES_URL"


@dataclass(frozen=True)
class _Postgres:
    url: str
    engine: sa.Engine


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "tierbook.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres() -> Iterator[_Postgres]:
    server_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not server_url:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set")
    schema = f"tierbook_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = make_engine(server_url)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.SQLAlchemyError as exc:
        admin.dispose()
        pytest.fail(f"cannot reach PostgreSQL at {server_url}: {exc}", pytrace=False)
    url = (
        make_url(server_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    engine = make_engine(url)
    try:
        upgrade(url)
        yield _Postgres(url=url, engine=engine)
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def _copy_sqlite(template: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        source = template.with_name(template.name + suffix)
        if source.exists():
            shutil.copyfile(source, target.with_name(target.name + suffix))


def _empty(engine: sa.Engine) -> None:
    # DELETE, not TRUNCATE: it takes no table lock, and the tables hold a handful of rows.
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(
    params=[
        pytest.param("sqlite"),
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "tierbook.db"
        _copy_sqlite(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    postgres: _Postgres = request.getfixturevalue("_postgres")
    _empty(postgres.engine)
    return postgres.url


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def uow_factory(engine: sa.Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(engine)
