"""A database that cannot be reached: every API answers 503 in its own envelope, with a
`Retry-After`, never a 500; a PostgreSQL hot read stops waiting for its pool and leaves the
request to the route, which says the same.

Nothing listens on port 1 of the loopback, and no SQLite file can be made in a directory that
does not exist: neither needs a server, so these run everywhere."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from tierbook.adapters.db import hot
from tierbook.adapters.db.engine import make_engine
from tierbook.adapters.db.hot import SqlHotReads
from tierbook.api.app import create_app
from tierbook.api.errors import RETRY_AFTER_S
from tierbook.bootstrap import bootstrap
from tierbook.config import Settings

UNREACHABLE_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:1/test"
UNREACHABLE = {
    "postgres": UNREACHABLE_POSTGRES,
    "sqlite": "sqlite:////nonexistent-tierbook-directory/tierbook.db",
}
BEARER = {"Authorization": "Bearer key1.secret"}
BASIC = {"Authorization": "Basic a2V5MTpzZWNyZXQ="}  # key1:secret

# One request per API, each the first thing a client would send, with the envelope it answers in.
REQUESTS: list[tuple[str, str, dict[str, str], Any, str]] = [
    ("GET", "/v1/members/m-1/tiers", BEARER, None, "native"),
    ("GET", "/api/v3/profiles/m-1/tiers", BEARER, None, "omneo"),
    (
        "POST",
        "/api/v1.1/loyalty/account/tiers",
        BEARER,
        {"group_id": 1, "matching": "email", "email": "a@example.com"},
        "altcraft",
    ),
    ("GET", "/priv/v1/apps/key1/tiers", BASIC, None, "sessionm"),
    ("GET", "/client/users/c-1/membership", BEARER, None, "exchange_solutions"),
    ("POST", "/oauth/token", BASIC, None, "oauth"),
]


def _envelope(kind: str, body: dict[str, Any]) -> bool:
    """Whether `body` is a 503 in the API's own error envelope."""
    if kind == "native":
        return body["error"]["code"] == "unavailable"
    if kind == "omneo":
        return set(body) == {"message"}
    if kind == "altcraft":
        return body["error"] == 503
    if kind == "sessionm":
        return body["status"] == "error"
    if kind == "exchange_solutions":
        return set(body) == {"code", "message"}
    return body["error"] == "server_error"


@pytest.fixture(params=sorted(UNREACHABLE))
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    container = bootstrap(Settings(database_url=UNREACHABLE[request.param]))
    try:
        with TestClient(create_app(container), raise_server_exceptions=False) as client:
            yield client
    finally:
        container.close()


@pytest.mark.parametrize(("method", "path", "headers", "body", "kind"), REQUESTS)
def test_every_api_answers_503_in_its_envelope(
    client: TestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any,
    kind: str,
) -> None:
    if kind == "oauth":
        response = client.post(path, headers=headers, data={"grant_type": "client_credentials"})
    else:
        response = client.request(method, path, headers=headers, json=body)
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == str(RETRY_AFTER_S)
    assert _envelope(kind, response.json()), response.text


def test_a_postgresql_hot_read_stops_waiting_for_its_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pool keeps trying to connect; the read gives up after `POOL_WAIT_S` (psycopg_pool's
    own default would keep it 30 s) and gives no snapshot, so the route answers."""
    monkeypatch.setattr(hot, "POOL_WAIT_S", 0.2)
    engine = make_engine(UNREACHABLE_POSTGRES)
    reads = SqlHotReads(engine)

    async def read() -> object:
        await reads.open()
        try:
            return await asyncio.wait_for(reads.snapshot("acme", "m-1", lambda *_: []), 10)
        finally:
            await reads.close()

    try:
        assert asyncio.run(read()) is None
    finally:
        engine.dispose()
