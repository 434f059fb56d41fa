"""The vendor dialects over HTTP, on SQLite and PostgreSQL: an app, keys, and a program whose
groups cover every shape the seeds show.

Every test gets an empty database (`database_url`, from `tests/conftest.py`) already migrated
to the latest revision, an app whose clock stands still until the test moves it, and keys of
tenant "acme" in each scope. The program is put and members enrolled through the service layer
(not over HTTP) where a test is about reading them back.
"""

from __future__ import annotations

import base64
import copy
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    # Starlette would rather drive its test client with `httpx2`, which the project does not
    # install; `httpx` still works, so the notice is not an error here.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from tierbook.api.app import create_app
from tierbook.bootstrap import Container, bootstrap
from tierbook.config import Settings
from tierbook.domain.ledger import EntryKind
from tierbook.service import activities, members, programs
from tierbook.service.auth import create_key
from tierbook.service.clocks import FixedClock
from tierbook.service.commands import EnrolMember, RecordActivity
from tierbook.service.documents import parse_document

START = datetime(2025, 1, 1, tzinfo=UTC)
TENANT = "acme"
GOLDEN = Path(__file__).with_name("golden")

PROGRAM_ID = 123
STATUS = 10  # points, rolling 365 days: SPEC §3's group, Omneo's and Altcraft's
SESSIONM = 20  # points, calendar year from 1 June: a SessionM tier system with every field
SPEND = 30  # spend, lifetime: ES contributions.spend, Altcraft "cumulative"
UNITS = 40  # units, household: ES contributions.unit with its labels and tierContext

_DESCRIPTIVE = {
    "short_description": "★",
    "long_description": "<p>Silver Tier</p>",
    "tags": ["vip"],
}

PROGRAM: dict[str, Any] = {
    "program": {
        "id": PROGRAM_ID,
        "code": "acme",
        "name": "ACME Rewards",
        "timezone": "UTC",
        "currency": "AUD",
        "business_units": ["online", "stores"],
        "default_group_id": STATUS,
    },
    "groups": [
        {
            "id": STATUS,
            "code": "STATUS",
            "name": "Status",
            "external_id": "status",
            "metric": "points",
            "window": {"kind": "rolling", "days": 365},
            "maintenance": {"kind": "anniversary", "term_months": 12},
            "tiers": [
                {
                    "id": 1,
                    "handle": "bronze",
                    "name": "Bronze",
                    "rank": 0,
                    "is_floor": True,
                    "value_min": 0,
                    "value_maintain": 0,
                    "short_description": "Bronze",
                    "long_description": "<p>Bronze Tier </p>",
                    "external_id": "bronze1-1",
                },
                {
                    "id": 2,
                    "handle": "silver",
                    "name": "Silver",
                    "rank": 1,
                    "value_min": 1000,
                    "value_maintain": 1000,
                    "is_assignable": True,
                    "multiplier": "1.5",
                    "external_id": "silver1-2",
                    **_DESCRIPTIVE,
                },
                {
                    "id": 3,
                    "handle": "gold",
                    "name": "Gold",
                    "rank": 2,
                    "value_min": 2500,
                    "value_maintain": 2000,
                    "is_assignable": True,
                    "multiplier": "2.0",
                    "external_id": "gold1-3",
                },
            ],
        },
        {
            "id": SESSIONM,
            "code": "CLUB",
            "name": "1",
            "external_id": "t1",
            "metric": "points",
            "window": {"kind": "calendar", "period": "year", "reset_at": "2017-06-01T00:00:00Z"},
            "maintenance": {"kind": "period_end"},
            "tiers": [
                {
                    "id": 21,
                    "handle": "bronze-club",
                    "name": "bronze",
                    "rank": 0,
                    "is_floor": True,
                    "value_min": 0,
                    "value_maintain": 0,
                },
                {
                    "id": 22,
                    "handle": "silver-club",
                    "name": "Silver",
                    "rank": 1,
                    "value_min": 500,
                    "value_maintain": 100,
                    "multiplier": "10.0",
                    "required_num_days_in_tier": 10,
                    "max_inactive_days": 10,
                    "required_achievements": {"ids": ["1", "2"], "count": 3, "within_days": 50},
                    "also": [{"metric": "sponsor_points", "min": 10}],
                },
            ],
        },
        {
            "id": SPEND,
            "code": "SPEND",
            "name": "Spend",
            "metric": "spend",
            "window": {"kind": "lifetime"},
            "maintenance": {"kind": "none"},
            "qualifying": {"business_units": ["online"]},
            "tiers": [
                {"id": 31, "handle": "member", "name": "Member", "rank": 0, "is_floor": True},
                {"id": 32, "handle": "plus", "name": "Plus", "rank": 1, "value_min": 100},
            ],
        },
        {
            "id": UNITS,
            "code": "UNITS",
            "name": "Units",
            "metric": "units",
            "context": "household",
            "window": {"kind": "rolling", "days": 365},
            "qualifying_behaviour_type_label": "Coffees",
            "qualifying_cart_selector_desc": "Any hot drink",
            "tiers": [
                {"id": 41, "handle": "sip", "name": "Sip", "rank": 0, "is_floor": True},
                {"id": 42, "handle": "gulp", "name": "Gulp", "rank": 1, "value_min": 10},
            ],
        },
    ],
}


def at(text: str) -> datetime:
    """`"2025-03-01 10:00"` as a UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rfc3339(text: str) -> str:
    return at(text).strftime("%Y-%m-%dT%H:%M:%SZ")


def golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text())


def program_document(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(PROGRAM)
    document["program"].update(changes)
    return document


@dataclass
class Keys:
    """A tenant's keys, as `ID.SECRET` tokens, one per scope."""

    read: str
    write: str
    admin: str

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    @staticmethod
    def basic(token: str) -> dict[str, str]:
        pair = base64.b64encode(token.replace(".", ":", 1).encode()).decode()
        return {"Authorization": f"Basic {pair}"}


def new_key(container: Container, tenant_id: str, scopes: str) -> str:
    with container.uow_factory() as uow:
        _, token = create_key(
            uow,
            container.clock,
            tenant_id=tenant_id,
            name=f"{tenant_id} {scopes}",
            scopes=frozenset(scopes.split(",")),
        )
        uow.commit()
    return token


def make_keys(container: Container, tenant_id: str) -> Keys:
    return Keys(*(new_key(container, tenant_id, scope) for scope in ("read", "write", "admin")))


def put_program(container: Container, document: dict[str, Any], tenant_id: str = TENANT) -> None:
    with container.uow_factory() as uow:
        programs.put_program(
            uow, container.clock, tenant_id=tenant_id, document=parse_document(document)
        )
        uow.commit()


def enrol(container: Container, tenant_id: str = TENANT, **fields: Any) -> str:
    with container.uow_factory() as uow:
        member, _ = members.enrol(
            uow, container.clock, tenant_id=tenant_id, command=EnrolMember(**fields)
        )
        uow.commit()
    return member.id


def record(
    container: Container,
    member_id: str,
    when: datetime,
    tenant_id: str = TENANT,
    **amounts: Any,
) -> None:
    """One entry at `when`, with the clock moved there first."""
    assert isinstance(container.clock, FixedClock)
    container.clock.set(when)
    fields = {
        k: Decimal(str(v)) if k in ("points", "spend", "units") else v for k, v in amounts.items()
    }
    fields.setdefault("kind", EntryKind.PURCHASE)
    with container.uow_factory() as uow:
        activities.record(
            uow,
            container.clock,
            tenant_id=tenant_id,
            commands=[RecordActivity(member_id=member_id, occurred_at=when, **fields)],
        )
        uow.commit()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def container(database_url: str, clock: FixedClock) -> Iterator[Container]:
    # The database is migrated already (tests/conftest.py); no second pass needed.
    container = bootstrap(Settings(database_url=database_url), clock=clock)
    yield container
    container.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as client:
        yield client


@pytest.fixture
def keys(container: Container) -> Keys:
    return make_keys(container, TENANT)


@pytest.fixture
def program(container: Container) -> dict[str, Any]:
    put_program(container, PROGRAM)
    return PROGRAM


@pytest.fixture
def member(container: Container, program: dict[str, Any]) -> str:
    """Ada, enrolled at START with an email, a phone and a custom card number."""
    del program
    return enrol(
        container,
        id="ada",
        email="ada@example.com",
        phone="+61412345678",
        custom={"card": "C-1", "loyalty_id": "L-1", "external_id": "X-1"},
        household_id="h1",
    )
