"""Random JSON (and random bytes) at every writing endpoint: never a 500, always the envelope."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import Api

# Field names each endpoint knows, so random bodies often get past "unknown field".
FIELDS = {
    "/v1/members": ["id", "program_id", "email", "phone", "custom", "household_id", "enrolled_at"],
    "/v1/activities": [
        "member_id",
        "program_id",
        "occurred_at",
        "idempotency_key",
        "kind",
        "points",
        "spend",
        "units",
        "business_unit",
        "behaviour_type",
        "items",
        "achievement_id",
        "reverses",
        "meta",
    ],
    "/v1/members/{member}/tiers/10/assign": ["tier", "mode", "until", "reason", "effective_at"],
    "/v1/programs/123": ["program", "groups", "kind"],
}
FIELDS["/v1/activities:batch"] = ["entries"]
FIELDS["/v1/members/{member}"] = ["email", "phone", "custom", "household_id"]
METHODS = {"/v1/programs/123": "PUT", "/v1/members/{member}": "PATCH"}

WORDS = [
    "{member}",
    "2025-01-01T00:00:00Z",
    "2025-01-01T00:00:00",
    "2099-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "purchase",
    "refund",
    "achievement",
    "silver",
    "bronze",
    "gold",
    "override",
    "floor",
    "lock",
    "1.23456",
    "-600",
    "1e400",
    "NaN",
    "\x00",
    "\ud800",
    "a@example.com",
    "+61412345678",
    "",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.decimals(allow_nan=False, allow_infinity=False).map(str)
    | st.text(max_size=12)
    | st.sampled_from(WORDS)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(max_size=8) | st.sampled_from(sorted(set().union(*FIELDS.values()))),
            inner,
            max_size=5,
        )
    ),
    max_leaves=16,
)


def bodies(path: str) -> st.SearchStrategy[Any]:
    known = st.dictionaries(st.sampled_from(FIELDS[path]), values, max_size=len(FIELDS[path]))
    if path == "/v1/activities:batch":
        entry = st.dictionaries(st.sampled_from(FIELDS["/v1/activities"]), values, max_size=6)
        known = st.fixed_dictionaries({"entries": st.lists(entry, max_size=4)})
    return known | values


def fill(text: str, member_id: str) -> str:
    return text.replace("{member}", member_id)


def send(api: Api, path: str, member_id: str, content: bytes) -> Any:
    method = METHODS.get(path, "POST")
    headers = {"Content-Type": "application/json"}
    return api.request(method, fill(path, member_id), content=content, headers=headers)


def assert_answer(response: Any) -> None:
    assert response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    if response.status_code >= 400:
        assert set(body) == {"error"}
        assert set(body["error"]) <= {"code", "message", "details"}
        assert isinstance(body["error"]["code"], str)
        assert isinstance(body["error"]["message"], str)


FUZZ = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("path", sorted(FIELDS))
@FUZZ
@given(data=st.data())
def test_random_json_is_never_a_500(
    api: Api, member: dict[str, Any], path: str, data: st.DataObject
) -> None:
    body = data.draw(bodies(path))
    text = fill(json.dumps(body, allow_nan=True), member["id"])
    assert_answer(send(api, path, member["id"], text.encode("utf-8", "surrogatepass")))


@pytest.mark.parametrize("path", sorted(FIELDS))
@FUZZ
@given(content=st.binary(max_size=64))
def test_random_bytes_are_never_a_500(
    api: Api, member: dict[str, Any], path: str, content: bytes
) -> None:
    assert_answer(send(api, path, member["id"], content))
