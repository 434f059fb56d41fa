"""Exchange Solutions over HTTP: OAuth client credentials, user sessions, membership tiers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.dialects.conftest import PROGRAM_ID, Keys, at, enrol, golden, program_document, record
from tests.dialects.conftest import put_program as put
from tests.dialects.shapes import FORMATS, assert_same_shape
from tierbook.bootstrap import Container
from tierbook.service.clocks import FixedClock

# Present only where they apply: labels for unit groups, a context for household groups, an
# expiry where the tier can lapse.
OPTIONAL = frozenset(
    {"$.dateRange.expiry"}
    | {
        f"$.{code}.{name}"
        for code in ("SPEND", "UNITS", "STATUS")
        for name in ("qualifyingBehaviourTypeLabel", "qualifyingCartSelectorDesc", "tierContext")
    }
    | {f"$.{code}.dateRange.expiry" for code in ("SPEND", "UNITS", "STATUS")}
)


def token(client: TestClient, key: str) -> str:
    client_id, _, secret = key.partition(".")
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    assert response.headers["cache-control"] == "no-store"
    return str(body["access_token"])


def bearer(access: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access}"}


def open_session(
    client: TestClient,
    access: str,
    identifier: str,
    correlation_id: str = "c-1",
    kind: str | None = None,
) -> Any:
    headers = bearer(access) | ({} if kind is None else {"X-Identifier-Type": kind})
    return client.post(
        f"/client/users/{identifier}/sessions",
        json={"correlationId": correlation_id, "channel": "WEBSITE"},
        headers=headers,
    )


def membership(client: TestClient, access: str, correlation_id: str = "c-1") -> Any:
    return client.get(f"/client/users/{correlation_id}/membership", headers=bearer(access))


@pytest.fixture
def access(client: TestClient, keys: Keys) -> str:
    return token(client, keys.read)


def test_membership_is_keyed_by_program_code_in_the_seed_shape(
    client: TestClient, keys: Keys, container: Container, member: str
) -> None:
    record(container, member, at("2025-03-01 10:00"), points=1200)
    record(container, member, at("2025-04-01 10:00"), spend="150.25", business_unit="online")
    record(container, member, at("2025-05-01 10:00"), units=12)
    access = token(client, keys.read)
    assert open_session(client, access, member).status_code == 201
    response = membership(client, access)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"STATUS", "CLUB", "SPEND", "UNITS"}
    seed = golden("exchange_solutions_membership.json")
    shape = {"optional": OPTIONAL, "nullable": {"nextTier": "object"}}
    assert_same_shape({code: body[code] for code in seed}, seed, **shape)  # type: ignore[arg-type]
    assert_same_shape(body["CLUB"], seed["STATUS"], **shape)  # type: ignore[arg-type]

    status = body["STATUS"]
    assert (status["tierCode"], status["tierName"], status["tierRank"]) == ("silver", "Silver", 1)
    assert status["nextTier"] == {"id": "gold", "rank": 2, "tierName": "Gold"}
    assert status["pointsEarned"] == {"total": 1200, "next": 1300, "unused": 0}
    assert "contributions" not in status
    assert status["businessUnits"] == ["online", "stores"]
    assert status["dateRange"] == {
        "effective": "2025-03-01T10:00:00Z",
        "expiry": "2026-03-01T23:59:59Z",
    }
    assert "tierContext" not in status

    spend = body["SPEND"]
    assert spend["contributions"] == {"spend": {"total": 150.25, "next": 0, "unused": 0}}
    assert spend["nextTier"] is None  # the top tier
    assert spend["businessUnits"] == ["online"]
    assert "pointsEarned" not in spend
    assert "expiry" not in spend["dateRange"]  # cumulative: the tier never lapses

    units = body["UNITS"]
    assert units["contributions"] == {"unit": {"total": 12, "next": 0, "unused": 0}}
    assert units["qualifyingBehaviourTypeLabel"] == "Coffees"
    assert units["qualifyingCartSelectorDesc"] == "Any hot drink"
    assert units["tierContext"] == "HOUSEHOLD"
    for program in body.values():
        for instant in program["dateRange"].values():
            assert FORMATS["RFC 3339 UTC"].match(instant)


@pytest.mark.parametrize(
    ("kind", "identifier"),
    [
        (None, "ada"),
        ("ACCOUNT_ID", "ada"),
        ("LOYALTY_ID", "L-1"),
        ("EXTERNAL_ID", "X-1"),
        ("EMAIL", "ada@example.com"),
        ("PHONE_NUMBER", "+61412345678"),
        ("email", "ada@example.com"),
    ],
)
def test_a_session_opens_by_every_identifier_type(
    client: TestClient, access: str, member: str, kind: str | None, identifier: str
) -> None:
    response = open_session(client, access, identifier, kind=kind)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["accountId"], body["correlationId"], body["channel"]) == (
        member,
        "c-1",
        "WEBSITE",
    )
    assert body["expiresAt"] == "2025-01-01T00:30:00Z"


def test_opening_the_same_session_again_returns_it(
    client: TestClient, access: str, member: str
) -> None:
    assert open_session(client, access, member).status_code == 201
    again = open_session(client, access, member)
    assert again.status_code == 200, again.text


def test_a_member_without_an_active_group_reads_as_empty(
    client: TestClient, keys: Keys, container: Container
) -> None:
    document = program_document()
    for group in document["groups"]:
        group["active"] = False
    put(container, document)
    enrol(container, id="idle", program_id=PROGRAM_ID)
    access = token(client, keys.read)
    assert open_session(client, access, "idle").status_code == 201
    response = membership(client, access)
    assert (response.status_code, response.json()) == (200, {})


def test_a_closed_session_reads_nothing(client: TestClient, access: str, member: str) -> None:
    assert open_session(client, access, member).status_code == 201
    closed = client.delete("/client/users/c-1/sessions", headers=bearer(access))
    assert closed.status_code == 204, closed.text
    assert_session_not_found(membership(client, access))
    assert_session_not_found(client.delete("/client/users/c-1/sessions", headers=bearer(access)))
    # A correlation id is not reused once its session ended.
    assert open_session(client, access, member).status_code == 409


def test_a_session_expires(client: TestClient, access: str, clock: FixedClock, member: str) -> None:
    assert open_session(client, access, member).status_code == 201
    clock.set(clock.now() + timedelta(minutes=29))
    assert membership(client, access).status_code == 200
    clock.set(clock.now() + timedelta(minutes=1))
    assert_session_not_found(membership(client, access))


def test_a_token_expires(client: TestClient, access: str, clock: FixedClock, member: str) -> None:
    assert open_session(client, access, member).status_code == 201
    clock.set(clock.now() + timedelta(seconds=3600))
    assert_unauthorized(membership(client, access))


def test_the_token_secret_is_kept_across_apps(
    client: TestClient, access: str, container: Container, member: str
) -> None:
    from tierbook.api.app import create_app

    assert open_session(client, access, member).status_code == 201
    with TestClient(create_app(container)) as other:
        assert membership(other, access).status_code == 200


def test_basic_client_authentication_and_a_json_body_work_too(
    client: TestClient, keys: Keys
) -> None:
    client_id, _, secret = keys.read.partition(".")
    basic = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert basic.status_code == 200, basic.text
    as_json = client.post(
        "/oauth/token",
        json={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert as_json.status_code == 200, as_json.text


# -- errors -------------------------------------------------------------------------------------


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = dict(response.json())
    assert body["code"] == code
    assert isinstance(body["message"], str)
    return body


def assert_session_not_found(response: Any) -> None:
    assert_error(response, 404, "SessionNotFound")


def assert_unauthorized(response: Any) -> None:
    assert_error(response, 401, "Unauthorized")


def test_an_unknown_session_is_404(client: TestClient, access: str) -> None:
    assert_session_not_found(membership(client, access, "never-opened"))


def test_an_unknown_identifier_is_404(client: TestClient, access: str, member: str) -> None:
    del member
    response = open_session(client, access, "nobody@example.com", kind="EMAIL")
    assert_error(response, 404, "IdentifierNotFound")


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        ({"channel": "APP"}, {}, "correlationId"),
        ({"correlationId": "", "channel": "APP"}, {}, "correlationId"),
        ({"correlationId": "   "}, {}, "correlationId"),
        ({"correlationId": "c", "channel": " "}, {}, "channel"),
        ({"correlationId": 5}, {}, "correlationId"),
        ({"correlationId": "c"}, {"X-Identifier-Type": "PARTNER_LINK_ID"}, "X-Identifier-Type"),
        ({"correlationId": "c\u0000"}, {}, "correlationId"),
        # A path segment: a correlation id with a slash could never be read back.
        ({"correlationId": "a/b"}, {}, "correlationId"),
    ],
)
def test_a_bad_session_request_is_400_naming_the_field(
    client: TestClient,
    access: str,
    member: str,
    body: dict[str, Any],
    headers: dict[str, str],
    field: str,
) -> None:
    response = client.post(
        f"/client/users/{member}/sessions", json=body, headers=bearer(access) | headers
    )
    assert assert_error(response, 400, "BadRequest")["field"] == field


def test_a_session_is_another_tenants_to_nobody(
    client: TestClient, access: str, container: Container, member: str
) -> None:
    from tests.dialects.conftest import make_keys

    assert open_session(client, access, member).status_code == 201
    other = token(client, make_keys(container, "globex").read)
    assert_session_not_found(membership(client, other))
    assert_error(open_session(client, other, member), 404, "IdentifierNotFound")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
        {"Authorization": "Basic Zm9vOmJhcg=="},
    ],
)
def test_no_token_or_a_bad_one_is_401(client: TestClient, headers: dict[str, str]) -> None:
    assert_unauthorized(client.get("/client/users/c-1/membership", headers=headers))


def test_an_api_key_is_not_a_bearer_token_here(client: TestClient, keys: Keys) -> None:
    assert_unauthorized(membership(client, keys.read))


def test_a_revoked_keys_tokens_stop_working(
    client: TestClient, access: str, keys: Keys, container: Container
) -> None:
    with container.uow_factory() as uow:
        uow.keys.revoke(keys.read.partition(".")[0], container.clock.now())
        uow.commit()
    assert_unauthorized(membership(client, access))


def oauth_error(response: Any, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        (
            {
                "grant_type": "client_credentials",
                "client_id": "tb_0000000000000000",
                "client_secret": "x",
            },
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "client_credentials", "client_id": "KEY", "client_secret": "wrong"},
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "password", "client_id": "KEY", "client_secret": "x"},
            400,
            "unsupported_grant_type",
        ),
        ({"client_id": "KEY", "client_secret": "x"}, 400, "invalid_request"),
        ({"grant_type": "client_credentials", "client_id": "KEY"}, 400, "invalid_request"),
        ({"grant_type": "client_credentials"}, 400, "invalid_request"),
    ],
)
def test_bad_client_credentials_are_refused(
    client: TestClient, keys: Keys, data: dict[str, str], status: int, error: str
) -> None:
    key_id = keys.read.partition(".")[0]
    form = {k: v.replace("KEY", key_id) for k, v in data.items()}
    oauth_error(client.post("/oauth/token", data=form), status, error)


def test_a_malformed_token_request_is_invalid(client: TestClient) -> None:
    repeated = b"grant_type=client_credentials&grant_type=client_credentials"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    oauth_error(client.post("/oauth/token", content=repeated, headers=form), 400, "invalid_request")
    oauth_error(
        client.post("/oauth/token", content=b"\xff\xfe", headers=form), 400, "invalid_request"
    )
    oauth_error(
        client.post("/oauth/token", content=b"[1]", headers={"Content-Type": "application/json"}),
        400,
        "invalid_request",
    )
    response = client.get("/oauth/token")
    assert response.status_code == 405
    assert set(response.json()) == {"error", "error_description"}
