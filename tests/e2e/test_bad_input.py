"""Bad input anywhere: a 4xx in the native envelope, the field named, nothing written, no 500."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.e2e.conftest import Api

MEMBER = "{member}"  # replaced by the fixture member's id
ACTIVITY = "/v1/activities"
BATCH = "/v1/activities:batch"
UNSET = object()


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    url: str
    json: Any = UNSET
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 422
    code: str | None = None
    field: str | None = None


def entry(**fields: Any) -> dict[str, Any]:
    return {"member_id": MEMBER, "points": 100} | fields


def raw(text: str) -> bytes:
    return text.replace("MEMBER", MEMBER).encode()


JSON = {"Content-Type": "application/json"}

CASES = [
    # Malformed bodies and wrong content types.
    Case("malformed json", "POST", ACTIVITY, content=b'{"member_id": ', headers=JSON, field="body"),
    Case(
        "json not utf-8",
        "POST",
        ACTIVITY,
        content=b'{"member_id": "\xff"}',
        headers=JSON,
        status=400,
    ),
    Case("body is a list", "POST", ACTIVITY, json=[entry()]),
    Case("body is a string", "POST", ACTIVITY, json="points"),
    Case("body is null", "POST", ACTIVITY, content=b"null", headers=JSON),
    Case("empty body", "POST", ACTIVITY, content=b"", headers=JSON, field="body"),
    Case(
        "text/plain",
        "POST",
        ACTIVITY,
        content=b"points=1",
        headers={"Content-Type": "text/plain"},
        status=415,
        code="unsupported_media_type",
    ),
    Case("no content type", "POST", "/v1/members", content=b"{}", status=415),
    Case(
        "form encoded",
        "POST",
        "/v1/members",
        content=b"email=a%40b.c",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        status=415,
    ),
    Case(
        "xml",
        "PUT",
        "/v1/programs/123",
        content=b"<program/>",
        headers={"Content-Type": "application/xml"},
        status=415,
    ),
    # Wrong types and unknown fields.
    Case("points not a number", "POST", ACTIVITY, json=entry(points="lots"), field="points"),
    Case("points a boolean", "POST", ACTIVITY, json=entry(points=True), field="points"),
    Case("member_id a number", "POST", ACTIVITY, json=entry(member_id=5), field="member_id"),
    Case("items not a list", "POST", ACTIVITY, json=entry(items="A1"), field="items"),
    Case(
        "item field misspelt",
        "POST",
        ACTIVITY,
        json=entry(items=[{"skew": "A1"}]),
        field="items[0].skew",
    ),
    Case("unknown kind", "POST", ACTIVITY, json=entry(kind="gift"), field="kind"),
    Case("misspelt field", "POST", ACTIVITY, json=entry(pointz=5), field="pointz"),
    Case("meta not an object", "POST", ACTIVITY, json=entry(meta=[1]), field="meta"),
    # Instants.
    Case(
        "naive occurred_at",
        "POST",
        ACTIVITY,
        json=entry(occurred_at="2025-01-01T00:00:00"),
        field="occurred_at",
    ),
    Case(
        "date occurred_at",
        "POST",
        ACTIVITY,
        json=entry(occurred_at="2025-01-01"),
        field="occurred_at",
    ),
    Case(
        "unix occurred_at",
        "POST",
        ACTIVITY,
        json=entry(occurred_at=1735689600),
        field="occurred_at",
    ),
    Case(
        "garbage occurred_at",
        "POST",
        ACTIVITY,
        json=entry(occurred_at="yesterday"),
        field="occurred_at",
    ),
    Case(
        "year one",
        "POST",
        ACTIVITY,
        json=entry(occurred_at="0001-01-01T00:00:00+14:00"),
        field="occurred_at",
    ),
    Case(
        "year 9999",
        "POST",
        ACTIVITY,
        json=entry(occurred_at="9999-12-31T23:59:59-14:00"),
        field="occurred_at",
    ),
    Case(
        "future occurred_at",
        "POST",
        ACTIVITY,
        json=entry(occurred_at="2030-01-01T00:00:00Z"),
        field="occurred_at",
    ),
    # Amounts.
    Case(
        "refund positive",
        "POST",
        ACTIVITY,
        json=entry(kind="refund", points=600),
        code="invalid_entry",
        field="points",
    ),
    Case("purchase negative", "POST", ACTIVITY, json=entry(points=-5), code="invalid_entry"),
    Case("five places", "POST", ACTIVITY, json=entry(points="1.23456"), field="points"),
    Case("five places as number", "POST", ACTIVITY, json=entry(spend=1.23456), field="spend"),
    Case("too large", "POST", ACTIVITY, json=entry(points=10**15), field="points"),
    Case("beyond 64 bits", "POST", ACTIVITY, json=entry(points=10**30), field="points"),
    Case(
        "NaN",
        "POST",
        ACTIVITY,
        content=raw('{"member_id": "MEMBER", "points": NaN}'),
        headers=JSON,
        field="points",
    ),
    Case(
        "Infinity",
        "POST",
        ACTIVITY,
        content=raw('{"member_id": "MEMBER", "spend": -Infinity}'),
        headers=JSON,
        field="spend",
    ),
    Case(
        "item amount places",
        "POST",
        ACTIVITY,
        json=entry(items=[{"sku": "A", "amount": "0.00001"}]),
        field="items[0].amount",
    ),
    # Text no store keeps.
    Case(
        "NUL in key",
        "POST",
        ACTIVITY,
        json=entry(idempotency_key="a\x00b"),
        field="idempotency_key",
    ),
    Case("NUL in meta key", "POST", ACTIVITY, json=entry(meta={"a\x00": 1}), field="meta.a\x00"),
    Case(
        "lone surrogate",
        "POST",
        ACTIVITY,
        content=raw('{"member_id": "MEMBER", "business_unit": "\\ud800"}'),
        headers=JSON,
        field="business_unit",
    ),
    Case(
        "deep meta",
        "POST",
        ACTIVITY,
        json=entry(
            meta={"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
        ),
    ),
    Case("huge meta integer", "POST", ACTIVITY, json=entry(meta={"n": 2**64}), field="meta.n"),
    # References.
    Case("unknown member", "POST", ACTIVITY, json=entry(member_id="nobody"), field="member_id"),
    Case(
        "unknown program",
        "POST",
        ACTIVITY,
        json=entry(program_id=999),
        status=404,
        code="unknown_program",
    ),
    Case(
        "program id beyond 64 bits",
        "POST",
        ACTIVITY,
        json=entry(program_id=2**63),
        field="program_id",
    ),
    Case(
        "reverses unknown",
        "POST",
        ACTIVITY,
        json=entry(kind="refund", points=-1, reverses="nope"),
        field="reverses",
    ),
    Case("purchase reverses", "POST", ACTIVITY, json=entry(reverses="nope"), field="reverses"),
    Case(
        "achievement without id",
        "POST",
        ACTIVITY,
        json=entry(kind="achievement"),
        field="achievement_id",
    ),
    # Batches.
    Case("batch empty", "POST", BATCH, json={"entries": []}, field="entries"),
    Case("batch not a list", "POST", BATCH, json={"entries": entry()}, field="entries"),
    Case("batch misspelt", "POST", BATCH, json={"entrys": [entry()]}),
    Case(
        "batch bad entry",
        "POST",
        BATCH,
        json={"entries": [entry(), entry(points="x")]},
        field="entries[1].points",
    ),
    Case(
        "batch future entry",
        "POST",
        BATCH,
        json={"entries": [entry(), entry(), entry(occurred_at="2030-01-01T00:00:00Z")]},
        field="entries[2].occurred_at",
    ),
    Case(
        "batch refund positive",
        "POST",
        BATCH,
        json={"entries": [entry(), entry(kind="refund", points=1)]},
        field="entries[1].points",
    ),
    Case(
        "batch over 10,000",
        "POST",
        BATCH,
        json={"entries": [{"member_id": MEMBER, "points": 1}] * 10_001},
        status=413,
        code="batch_too_large",
    ),
    # Members.
    Case("member email", "POST", "/v1/members", json={"id": "X-1", "email": "nope"}, field="email"),
    Case(
        "member phone", "POST", "/v1/members", json={"id": "X-1", "phone": "12345"}, field="phone"
    ),
    Case("member id", "POST", "/v1/members", json={"id": "has space"}, field="id"),
    Case("member id too long", "POST", "/v1/members", json={"id": "x" * 129}, field="id"),
    Case("member id empty", "POST", "/v1/members", json={"id": ""}, field="id"),
    Case(
        "member custom object", "POST", "/v1/members", json={"id": "X-1", "custom": {"a": {"b": 1}}}
    ),
    Case("member custom empty name", "POST", "/v1/members", json={"id": "X-1", "custom": {"": 1}}),
    Case(
        "member naive enrolled_at",
        "POST",
        "/v1/members",
        json={"id": "X-1", "enrolled_at": "2025-01-01T00:00:00"},
        field="enrolled_at",
    ),
    Case(
        "member misspelt",
        "POST",
        "/v1/members",
        json={"id": "X-1", "emali": "a@b.co"},
        field="emali",
    ),
    Case("member duplicate", "POST", "/v1/members", json={"id": MEMBER}, status=409),
    Case(
        "patch misspelt",
        "PATCH",
        f"/v1/members/{MEMBER}",
        json={"custom_fields": {}},
        field="custom_fields",
    ),
    Case("patch custom list", "PATCH", f"/v1/members/{MEMBER}", json={"custom": {"a": [1]}}),
    Case("patch unknown member", "PATCH", "/v1/members/nobody", json={}, status=404),
    # Programs.
    Case("program unknown field", "PUT", "/v1/programs/123", json={"program": {}, "groupz": []}),
    Case("program id in path not a number", "PUT", "/v1/programs/abc", json={}, field="program_id"),
    Case(
        "program NaN threshold",
        "PUT",
        "/v1/programs/123",
        content=b'{"program": {"id": 123, "code": "a", "name": "A"}, "groups": [{"id": 1, '
        b'"code": "G", "name": "G", "tiers": [{"id": 1, "handle": "b", "name": "B", "rank": 0, '
        b'"value_min": NaN}]}]}',
        headers=JSON,
    ),
    Case(
        "program bad timezone",
        "PUT",
        "/v1/programs/123",
        json={
            "program": {"id": 123, "code": "a", "name": "A", "timezone": "Mars/Olympus"},
            "groups": [
                {
                    "id": 1,
                    "code": "G",
                    "name": "G",
                    "tiers": [{"id": 1, "handle": "b", "name": "B", "rank": 0}],
                }
            ],
        },
    ),
    # Paths and queries.
    Case("NUL in path", "GET", "/v1/members/a%00b/tiers", field="member_id"),
    Case("NUL in query", "GET", "/v1/members?email=a%00b", field="email"),
    Case("member path too long", "GET", "/v1/members/" + "x" * 200),
    Case("program id beyond 64 bits in path", "GET", f"/v1/programs/{2**64}", field="program_id"),
    Case(
        "group id not a number", "GET", f"/v1/members/{MEMBER}/tiers/gold/history", field="group_id"
    ),
    Case(
        "naive as_of", "GET", f"/v1/members/{MEMBER}/tiers?as_of=2025-01-01T00:00:00", field="as_of"
    ),
    Case("garbage as_of", "GET", f"/v1/members/{MEMBER}/tiers?as_of=soon", field="as_of"),
    Case("unknown member tiers", "GET", "/v1/members/nobody/tiers", status=404),
    Case("unknown group explain", "GET", f"/v1/members/{MEMBER}/tiers/77/explain", status=404),
    Case("unknown route", "GET", "/v1/nothing-here", status=404, code="not_found"),
    Case("wrong method", "DELETE", "/v1/programs", status=405, code="method_not_allowed"),
]


def fill(value: Any, member_id: str) -> Any:
    if isinstance(value, str):
        return value.replace(MEMBER, member_id)
    if isinstance(value, list):
        return [fill(v, member_id) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, member_id) for k, v in value.items()}
    return value


def snapshot(api: Api, member_id: str, method: str) -> list[Any]:
    """Everything a write could have changed: the programs, the members, the member's state."""
    if method == "GET":
        return []
    return [
        api.get("/v1/programs").json(),
        api.get("/v1/members/X-1").status_code,
        api.get(f"/v1/members/{member_id}").json(),
        api.tiers(member_id),
    ]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_a_clear_4xx_that_writes_nothing(
    api: Api, member: dict[str, Any], case: Case
) -> None:
    member_id = member["id"]
    before = snapshot(api, member_id, case.method)
    kwargs: dict[str, Any] = {"headers": case.headers}
    if case.json is not UNSET:
        kwargs["json"] = fill(case.json, member_id)
    elif case.content is not None:
        kwargs["content"] = case.content.replace(MEMBER.encode(), member_id.encode())
    response = api.request(case.method, fill(case.url, member_id), **kwargs)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) <= {"code", "message", "details"}
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    assert error["message"]
    if case.code is not None:
        assert error["code"] == case.code
    if case.field is not None:
        details = error["details"]
        named = details["field"] if isinstance(details, dict) else details[0]["field"]
        assert named == case.field
    assert snapshot(api, member_id, case.method) == before


def test_an_announced_oversized_body_is_413(api: Api) -> None:
    body = b'{"member_id": "x", "meta": {"pad": "' + b"x" * 8_000_001 + b'"}}'
    response = api.post(ACTIVITY, content=body, headers=JSON)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_a_streamed_oversized_body_is_413(api: Api, member: dict[str, Any]) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"member_id": "x", "meta": {"pad": "'
        for _ in range(9):
            yield b"x" * 1_000_000
        yield b'"}}'

    response = api.post(ACTIVITY, content=chunks(), headers=JSON)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    assert api.state(member["id"])["window"]["value"] == 0
