"""Every Altcraft error, in JSON and in XML: the HTTP status is the `error` code, 400s name the
field, and XML with a DTD, entities or external references is refused without being expanded."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.dialects.conftest import PROGRAM_ID, STATUS, Keys

TIERS = "/api/v1.1/loyalty/account/tiers"
REGISTER = "/api/v1.1/loyalty/register_member"
ACCRUE = "/api/v1.1/loyalty/accrue_points"
XML = {"Content-Type": "application/xml"}
JSON = {"Content-Type": "application/json"}
WHO = {"loyalty_program_id": PROGRAM_ID, "matching": "email", "email": "ada@example.com"}


def to_xml(fields: dict[str, Any]) -> bytes:
    root = ET.Element("xml")
    for name, value in fields.items():
        ET.SubElement(root, name).text = str(value)
    return ET.tostring(root)


def read_error(response: Any) -> tuple[int, str]:
    """(code, text) from either format, checked against the HTTP status."""
    if response.headers["content-type"].startswith("application/xml"):
        root = ET.fromstring(response.content)
        assert root.tag == "xml"
        assert [c.tag for c in root] == ["error", "error_text"]
        code, text = int(root.findtext("error") or 0), root.findtext("error_text") or ""
    else:
        body = response.json()
        assert set(body) == {"error", "error_text"}
        code, text = body["error"], body["error_text"]
    assert code == response.status_code, response.text
    return code, text


def send(client: TestClient, url: str, fields: dict[str, Any], fmt: str) -> Any:
    if fmt == "xml":
        return client.post(url, content=to_xml(fields), headers=XML)
    return client.post(url, json=fields)


FORMATS = ["json", "xml"]

BAD = [
    (
        TIERS,
        {"tiers_group_id": STATUS, "matching": "email", "email": "a@b.c"},
        "loyalty_program_id",
    ),
    (TIERS, WHO | {"tiers_group_id": "ten"}, "tiers_group_id"),
    (TIERS, WHO | {"tiers_group_id": 0}, "tiers_group_id"),
    (TIERS, WHO | {"tiers_group_id": 2**70}, "tiers_group_id"),
    (TIERS, WHO | {"tiers_group_id": STATUS, "matching": "name"}, "matching"),
    (TIERS, {"loyalty_program_id": PROGRAM_ID, "tiers_group_id": STATUS}, "matching"),
    (TIERS, WHO | {"tiers_group_id": STATUS, "email": ""}, "email"),
    (TIERS, WHO | {"tiers_group_id": STATUS, "matching": "phone"}, "phone"),
    (TIERS, WHO | {"tiers_group_id": STATUS, "matching": "profile_id"}, "profile_id"),
    (TIERS, WHO | {"tiers_group_id": STATUS, "matching": "custom", "field_value": 1}, "field_name"),
    (
        TIERS,
        WHO | {"tiers_group_id": STATUS, "matching": "custom", "field_name": "card"},
        "field_value",
    ),
    (ACCRUE, WHO, "amount"),
    (ACCRUE, WHO | {"amount": "lots"}, "amount"),
    (ACCRUE, WHO | {"amount": "-5"}, "amount"),
    (ACCRUE, WHO | {"amount": "0"}, "amount"),
    (ACCRUE, WHO | {"amount": "1.00001"}, "amount"),
    (ACCRUE, WHO | {"amount": "1e9"}, "amount"),
    (ACCRUE, WHO | {"amount": "10", "created_at": "yesterday"}, "created_at"),
    (ACCRUE, WHO | {"amount": "10", "created_at": "2025-01-01T00:00:00"}, "created_at"),
    (ACCRUE, WHO | {"amount": "10", "created_at": "2030-01-01T00:00:00Z"}, "created_at"),
    (REGISTER, WHO | {"registration_date": "soon"}, "registration_date"),
    (REGISTER, WHO | {"email": "not-an-email"}, "email"),
    (REGISTER, WHO | {"matching": "profile_id", "profile_id": "bad id!"}, "profile_id"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("url", "fields", "field"), BAD, ids=[f"{b[2]}-{i}" for i, b in enumerate(BAD)]
)
def test_an_incorrect_request_is_400_naming_the_field(
    client: TestClient,
    keys: Keys,
    member: str,
    url: str,
    fields: dict[str, Any],
    field: str,
    fmt: str,
) -> None:
    del member
    response = send(client, url, fields | {"token": keys.write}, fmt)
    code, text = read_error(response)
    assert code == 400
    assert field in text


def test_text_no_store_keeps_is_400_naming_the_field(client: TestClient, keys: Keys) -> None:
    # XML cannot carry a NUL at all: that is the malformed-XML case below.
    fields = WHO | {"tiers_group_id": STATUS, "email": "a\x00b@c.d", "token": keys.read}
    code, text = read_error(client.post(TIERS, json=fields))
    assert (code, "email" in text) == (400, True)


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b'{"loyalty_program_id": ', JSON),
        (b"[1, 2]", JSON),
        (b'"text"', JSON),
        (b"", JSON),
        (b'{"email": "\\ud800"}', JSON),
        (b"<xml><matching>email</xml>", XML),
        (b"<profile><matching>email</matching></profile>", XML),
        (b"<xml><email>a@b.c</email><email>d@e.f</email></xml>", XML),
        (b"<xml>\x00</xml>", XML),
        (b"", XML),
    ],
)
def test_a_malformed_body_is_400(
    client: TestClient, keys: Keys, content: bytes, headers: dict[str, str]
) -> None:
    response = client.post(TIERS, content=content, headers=headers | keys.bearer(keys.read))
    code, _ = read_error(response)
    assert code == 400
    assert response.headers["content-type"].startswith(
        "application/xml" if headers is XML else "application/json"
    )


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE xml [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<xml><email>&lol3;</email><matching>email</matching></xml>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<xml><email>&secret;</email><matching>email</matching></xml>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE xml SYSTEM "http://example.invalid/evil.dtd">
<xml><matching>email</matching></xml>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://example.invalid/p.dtd"> %p;]>
<xml><matching>email</matching></xml>"""


@pytest.mark.parametrize(
    "content",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, PARAMETER_ENTITY],
    ids=["entity expansion", "external entity", "external dtd", "parameter entity"],
)
def test_xml_entities_and_dtds_are_refused_with_400(
    client: TestClient, keys: Keys, member: str, content: bytes
) -> None:
    del member
    response = client.post(TIERS, content=content, headers=XML | keys.bearer(keys.read))
    code, text = read_error(response)
    assert code == 400
    assert "root:" not in text  # nothing of /etc/passwd came back
    assert "lollol" not in text


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_token_is_401(client: TestClient, member: str, fmt: str) -> None:
    del member
    response = send(client, TIERS, WHO | {"tiers_group_id": STATUS}, fmt)
    code, text = read_error(response)
    assert code == 401
    assert "token" in text.lower()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("token", ["nonsense", "tb_0000000000000000.wrong"])
def test_a_wrong_token_is_401(client: TestClient, member: str, fmt: str, token: str) -> None:
    del member
    response = send(client, TIERS, WHO | {"tiers_group_id": STATUS, "token": token}, fmt)
    assert read_error(response)[0] == 401


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("url", [REGISTER, ACCRUE])
def test_a_read_token_may_not_write_403(
    client: TestClient, keys: Keys, member: str, fmt: str, url: str
) -> None:
    del member
    response = send(client, url, WHO | {"amount": "5", "token": keys.read}, fmt)
    assert read_error(response)[0] == 403


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("url", "fields"),
    [
        (TIERS, WHO | {"loyalty_program_id": 999, "tiers_group_id": STATUS}),
        (TIERS, WHO | {"tiers_group_id": 999}),
        (TIERS, WHO | {"tiers_group_id": STATUS, "email": "nobody@example.com"}),
        (TIERS, WHO | {"tiers_group_id": STATUS, "matching": "profile_id", "profile_id": "zed"}),
        (ACCRUE, WHO | {"amount": "5", "email": "nobody@example.com"}),
        (REGISTER, WHO | {"loyalty_program_id": 999}),
    ],
    ids=["program", "group", "member by email", "member by id", "accrual member", "register"],
)
def test_what_does_not_exist_is_404(
    client: TestClient, keys: Keys, member: str, fmt: str, url: str, fields: dict[str, Any]
) -> None:
    del member
    response = send(client, url, fields | {"token": keys.write}, fmt)
    assert read_error(response)[0] == 404


def test_an_unknown_route_and_a_bad_format_use_the_envelope(
    client: TestClient, keys: Keys, member: str
) -> None:
    del member
    assert read_error(client.post("/api/v1.1/loyalty/nothing", json={}))[0] == 404
    bad = client.post(TIERS + "?format=yaml", json=WHO | {"token": keys.read})
    code, text = read_error(bad)
    assert (code, "format" in text) == (400, True)


def test_errors_follow_the_format_override(client: TestClient, member: str) -> None:
    del member
    response = client.post(TIERS + "?format=xml", json=WHO)
    assert response.headers["content-type"].startswith("application/xml")
    assert read_error(response)[0] == 401
