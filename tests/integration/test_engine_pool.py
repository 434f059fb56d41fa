"""A server keeps as many database connections open as it runs requests at once."""

from __future__ import annotations

from datetime import UTC

import pytest
import sqlalchemy as sa

from tierbook.bootstrap import bootstrap
from tierbook.config import Settings


def test_a_server_keeps_the_configured_number_of_connections(database_url: str) -> None:
    assert Settings(database_url=database_url).database_pool_size == 20
    container = bootstrap(Settings(database_url=database_url, database_pool_size=7))
    try:
        assert container.engine.pool.size() == 7  # type: ignore[attr-defined]
    finally:
        container.close()


def test_an_in_memory_database_is_one_shared_connection() -> None:
    container = bootstrap(Settings(database_url="sqlite://"), migrate=False)
    try:
        with container.engine.connect() as one, container.engine.connect() as two:
            assert one.connection.driver_connection is two.connection.driver_connection
    finally:
        container.close()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_postgresql_sessions_run_in_utc(engine: sa.Engine) -> None:
    """The driver then gives every instant in UTC already, with nothing to convert on read."""
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW TimeZone").scalar() == "UTC"
        now = connection.exec_driver_sql("SELECT now()").scalar()
    assert now.tzinfo is UTC
