"""The native API over HTTP, on SQLite and PostgreSQL: an app, keys, and SPEC §3's program.

Every test gets an empty database (`database_url`), an app built by `bootstrap` with a clock
that stands still until the test moves it, and an `Api` per key: `api` (admin) for tenant
"acme", `make_api(tenant, scopes)` for any other.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

with warnings.catch_warnings():
    # Starlette 1.x would rather drive its test client with `httpx2`, which the project does not
    # install yet; `httpx` still works, so the notice is not an error here.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from tierbook.api.app import create_app
from tierbook.bootstrap import Container, bootstrap
from tierbook.config import Settings
from tierbook.service.auth import create_key
from tierbook.service.clocks import FixedClock

START = datetime(2025, 1, 1, tzinfo=UTC)
TENANT = "acme"

# SPEC §3's example, as the JSON a client PUTs: the file the README's curl lines send.
PROGRAM: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "examples" / "program.json").read_text(encoding="utf-8")
)
PROGRAM_ID = 123
GROUP_ID = 10


def program_document(**program: Any) -> dict[str, Any]:
    """SPEC §3's document, with program fields replaced (e.g. `timezone="UTC"`)."""
    document = copy.deepcopy(PROGRAM)
    document["program"].update(program)
    return document


def at(text: str) -> datetime:
    """`"2025-03-01 10:00"` as a UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rfc3339(text: str) -> str:
    """`"2025-03-01 10:00"` as the wire's `"2025-03-01T10:00:00Z"`."""
    return at(text).isoformat().replace("+00:00", "Z")


@dataclass
class Api:
    """A client holding one API key."""

    client: TestClient
    token: str | None

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {} if self.token is None else {"Authorization": f"Bearer {self.token}"}
        return headers | (extra or {})

    def request(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        response: httpx.Response = self.client.request(
            method, url, headers=self._headers(headers), **kwargs
        )
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    # The calls most tests make, checked for success.

    def put_program(self, document: dict[str, Any] | None = None) -> dict[str, Any]:
        document = document or PROGRAM
        response = self.put(f"/v1/programs/{document['program']['id']}", json=document)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def enrol(self, **member: Any) -> dict[str, Any]:
        response = self.post("/v1/members", json=member)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def record(self, **entry: Any) -> dict[str, Any]:
        response = self.post("/v1/activities", json=entry)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def tiers(self, member_id: str, as_of: str | None = None) -> dict[str, Any]:
        params = {} if as_of is None else {"as_of": as_of}
        response = self.get(f"/v1/members/{member_id}/tiers", params=params)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def state(self, member_id: str, as_of: str | None = None) -> dict[str, Any]:
        """The member's state in the one group of SPEC §3's program."""
        (state,) = self.tiers(member_id, as_of)["tiers"]
        return dict(state)


def new_key(container: Container, tenant_id: str, scopes: str = "admin") -> str:
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


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def container(database_url: str, clock: FixedClock) -> Iterator[Container]:
    container = bootstrap(Settings(database_url=database_url), clock=clock, migrate=True)
    yield container
    container.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as client:
        yield client


@pytest.fixture
def make_api(client: TestClient, container: Container) -> Callable[..., Api]:
    def make(tenant_id: str = TENANT, scopes: str = "admin") -> Api:
        return Api(client, new_key(container, tenant_id, scopes))

    return make


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    """An admin key of tenant "acme"."""
    return make_api()


@pytest.fixture
def program(api: Api) -> dict[str, Any]:
    """SPEC §3's program, put by tenant "acme"."""
    return api.put_program()


@pytest.fixture
def member(api: Api, program: dict[str, Any]) -> dict[str, Any]:
    """A member of SPEC §3's program, enrolled at START."""
    del program
    return api.enrol(email="ada@example.com", phone="+61412345678", custom={"card": "C-1"})
