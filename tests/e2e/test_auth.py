"""Keys, scopes and tenants: no key sees another tenant's data, no scope does more than it may."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import PROGRAM, Api

WRITES = [
    ("POST", "/v1/members", {"email": "x@example.com"}),
    ("POST", "/v1/activities", {"member_id": "m", "points": 1}),
    ("POST", "/v1/activities:batch", {"entries": [{"member_id": "m", "points": 1}]}),
    ("PATCH", "/v1/members/m", {"email": "y@example.com"}),
    ("POST", "/v1/members/m/tiers/10/assign", {"tier": "silver"}),
    ("DELETE", "/v1/members/m/tiers/10/assign", None),
]
READS = [
    "/v1/programs",
    "/v1/programs/123",
    "/v1/programs/123/groups/10/tiers",
    "/v1/members/m",
    "/v1/members?email=x@example.com",
    "/v1/members/m/tiers",
    "/v1/members/m/tiers/10/history",
    "/v1/members/m/tiers/10/explain",
]


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("url", READS)
def test_no_key_is_401_with_a_challenge(api: Api, url: str) -> None:
    anonymous = Api(api.client, None)
    response = anonymous.get(url)
    assert_error(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        "tb_0000000000000000.wrong",
        "tb_\x7f.x",
        "../../etc.passwd",
        "a" * 5000 + ".b",
    ],
)
def test_a_bad_key_is_401(api: Api, token: str) -> None:
    assert_error(Api(api.client, token).get("/v1/programs"), 401, "unauthenticated")


def test_a_wrong_secret_for_a_real_key_is_401(api: Api) -> None:
    assert api.token is not None
    key_id = api.token.partition(".")[0]
    assert_error(Api(api.client, f"{key_id}.wrong").get("/v1/programs"), 401, "unauthenticated")


def test_basic_auth_is_not_the_native_scheme(api: Api) -> None:
    response = api.client.get("/v1/programs", auth=("id", "secret"))
    assert_error(response, 401, "unauthenticated")


@pytest.mark.parametrize(("method", "url", "body"), WRITES)
def test_a_read_key_cannot_write(
    make_api: Callable[..., Api], method: str, url: str, body: Any
) -> None:
    reader = make_api(scopes="read")
    assert_error(reader.request(method, url, json=body), 403, "forbidden")


def test_a_read_key_reads(make_api: Callable[..., Api], member: dict[str, Any]) -> None:
    reader = make_api(scopes="read")
    assert reader.get(f"/v1/members/{member['id']}/tiers").status_code == 200


def test_only_an_admin_key_puts_programs(make_api: Callable[..., Api]) -> None:
    writer = make_api(scopes="write")
    assert_error(writer.put("/v1/programs/123", json=PROGRAM), 403, "forbidden")
    assert make_api(scopes="admin").put("/v1/programs/123", json=PROGRAM).status_code == 201


@pytest.mark.usefixtures("program")
def test_a_write_key_writes_and_reads(make_api: Callable[..., Api]) -> None:
    writer = make_api(scopes="write")
    member = writer.enrol()
    writer.record(member_id=member["id"], points=10)
    assert writer.state(member["id"])["window"]["value"] == 10


def test_another_tenant_sees_nothing_of_ours(
    make_api: Callable[..., Api], api: Api, member: dict[str, Any]
) -> None:
    other = make_api("globex")
    assert other.get("/v1/programs").json() == {"programs": []}
    for url in READS[1:]:
        url = url.replace("/m", f"/{member['id']}").replace("x@example.com", member["email"])
        response = other.get(url)
        if url.startswith("/v1/members?"):
            assert response.json() == {"members": []}
        else:
            assert response.status_code == 404, url
    entry = {"member_id": member["id"], "points": 5000}
    assert other.post("/v1/activities", json=entry).status_code in (404, 422)
    assert (
        other.post(f"/v1/members/{member['id']}/tiers/10/assign", json={"tier": "gold"}).status_code
        == 404
    )
    assert (
        other.patch(f"/v1/members/{member['id']}", json={"email": "z@example.com"}).status_code
        == 404
    )
    assert api.state(member["id"])["tier"]["handle"] == "bronze"
    assert api.get(f"/v1/members/{member['id']}").json()["email"] == member["email"]


def test_tenants_may_use_the_same_ids(
    make_api: Callable[..., Api], api: Api, member: dict[str, Any]
) -> None:
    other = make_api("globex")
    other.put_program()
    theirs = other.enrol(id=member["id"])
    other.record(member_id=theirs["id"], points=3000)
    assert other.state(member["id"])["tier"]["handle"] == "gold"
    assert api.state(member["id"])["tier"]["handle"] == "bronze"


def test_an_idempotency_key_belongs_to_its_tenant(
    make_api: Callable[..., Api], api: Api, member: dict[str, Any]
) -> None:
    other = make_api("globex")
    other.put_program()
    theirs = other.enrol()
    ours = api.post("/v1/activities", json={"member_id": member["id"], "idempotency_key": "K"})
    their = other.post("/v1/activities", json={"member_id": theirs["id"], "idempotency_key": "K"})
    assert (ours.status_code, their.status_code) == (201, 201)
    assert ours.json()["entry"]["id"] != their.json()["entry"]["id"]
