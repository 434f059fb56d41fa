"""The dialects' repository on SQLite and PostgreSQL: sessions, secrets, profile-tier ids."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.dialects.conftest import START, TENANT
from tierbook.adapters.db.uow import SqlUnitOfWorkFactory
from tierbook.domain.errors import Conflict, UnknownMember
from tierbook.service.ports import UserSession


def session(correlation_id: str = "c-1", member_id: str = "ada", **changes: Any) -> UserSession:
    fields: dict[str, Any] = {
        "tenant_id": TENANT,
        "correlation_id": correlation_id,
        "member_id": member_id,
        "channel": "APP",
        "identifier_type": "ACCOUNT_ID",
        "created_at": START,
        "expires_at": START + timedelta(minutes=30),
    }
    return UserSession(**(fields | changes))


@pytest.fixture
def factory(uow_factory: SqlUnitOfWorkFactory, member: str) -> SqlUnitOfWorkFactory:
    del member  # "ada" exists in tenant "acme"
    return uow_factory


def test_a_session_is_stored_read_and_closed(factory: SqlUnitOfWorkFactory) -> None:
    with factory() as uow:
        uow.dialects.add_session(session())
        uow.commit()
    with factory(write=False) as uow:
        assert uow.dialects.get_session(TENANT, "c-1") == session()
        assert uow.dialects.get_session("globex", "c-1") is None
    with factory() as uow:
        assert uow.dialects.close_session(TENANT, "c-1", START + timedelta(minutes=1))
        assert not uow.dialects.close_session(TENANT, "c-1", START + timedelta(minutes=2))
        uow.commit()
    with factory(write=False) as uow:
        closed = uow.dialects.get_session(TENANT, "c-1")
        assert closed is not None
        assert closed.closed_at == START + timedelta(minutes=1)
        assert not closed.open_at(START + timedelta(minutes=2))


def test_an_expired_session_cannot_be_closed_and_is_purged(factory: SqlUnitOfWorkFactory) -> None:
    with factory() as uow:
        uow.dialects.add_session(session())
        uow.dialects.add_session(session("c-2", expires_at=START + timedelta(days=3)))
        assert not uow.dialects.close_session(TENANT, "c-1", START + timedelta(hours=1))
        assert uow.dialects.purge_sessions(TENANT, START + timedelta(days=1)) == 1
        assert uow.dialects.get_session(TENANT, "c-1") is None
        assert uow.dialects.get_session(TENANT, "c-2") is not None


def test_a_correlation_id_is_taken_once_per_tenant(factory: SqlUnitOfWorkFactory) -> None:
    with factory() as uow:
        uow.dialects.add_session(session())
        uow.commit()
    with factory() as uow, pytest.raises(Conflict):
        uow.dialects.add_session(session())


def test_a_session_names_a_member(factory: SqlUnitOfWorkFactory) -> None:
    with factory() as uow, pytest.raises(UnknownMember):
        uow.dialects.add_session(session(member_id="nobody"))


def test_the_first_secret_kept_is_everyones(factory: SqlUnitOfWorkFactory) -> None:
    with factory() as uow:
        assert uow.dialects.secret("k") is None
        assert uow.dialects.keep_secret("k", "first", START) == "first"
        uow.commit()
    with factory() as uow:
        assert uow.dialects.keep_secret("k", "second", START) == "first"
        assert uow.dialects.secret("k") == "first"


def test_profile_tier_ids_are_stable_and_distinct(factory: SqlUnitOfWorkFactory) -> None:
    with factory() as uow:
        assert uow.dialects.profile_tier_id(TENANT, 10, "ada") is None
        first = uow.dialects.allocate_profile_tier_id(TENANT, 10, "ada")
        assert uow.dialects.allocate_profile_tier_id(TENANT, 10, "ada") == first
        other = uow.dialects.allocate_profile_tier_id(TENANT, 20, "ada")
        elsewhere = uow.dialects.allocate_profile_tier_id("globex", 10, "ada")
        uow.commit()
    assert len({first, other, elsewhere}) == 3
    with factory(write=False) as uow:
        assert uow.dialects.profile_tier_id(TENANT, 10, "ada") == first
