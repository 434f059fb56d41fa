"""Altcraft's translator and wire codec alone: reached tiers, parameters, XML, errors."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from tests.dialects.builders import Error, history, view
from tierbook.api.dialects.altcraft import translate as altcraft
from tierbook.api.dialects.altcraft import wire
from tierbook.domain.errors import InvalidInput
from tierbook.domain.state import Reason
from tierbook.service.dialects import LookupBy


def test_altcraft_reached_leaves_out_enrolment_skips_and_tiers_above() -> None:
    current, _ = view()
    on_silver = replace(current, state=replace(current.state, tier_id=2))
    records = history(
        ("2025-01-10 10:00", None, 1, Reason.ENROLLED),
        ("2025-02-01 00:00", 1, 3, Reason.QUALIFIED),  # to gold, skipping silver
        ("2025-06-01 00:00", 3, 3, Reason.MAINTAINED),
        ("2025-09-01 00:00", 3, 2, Reason.DOWNGRADED),
    )
    assert altcraft.reached(on_silver, records) == [
        {
            "tiers_group_type": "rolling",
            "tier_eid": "silver1-2",
            "tier_id": 2,
            "tier_order": 1,
            "reached_at": "2025-09-01T00:00:00Z",
        }
    ]


def test_altcraft_reached_keeps_the_last_entry_into_a_tier() -> None:
    current, _ = view()
    on_silver = replace(current, state=replace(current.state, tier_id=2))
    records = history(
        ("2025-02-01 00:00", 1, 2, Reason.QUALIFIED),
        ("2025-03-01 00:00", 2, 1, Reason.REVERSAL),
        ("2025-04-01 00:00", 1, 2, Reason.ASSIGNED),
    )
    reached = altcraft.reached(on_silver, records)
    assert [(r["tier_order"], r["reached_at"]) for r in reached] == [
        (0, "2025-03-01T00:00:00Z"),
        (1, "2025-04-01T00:00:00Z"),
    ]


def test_altcraft_reached_from_the_clock() -> None:
    current, records = view(entries=[("2025-03-01 10:00", {"points": 3000})])
    assert [r["tier_eid"] for r in altcraft.reached(current, records)] == ["gold1-3"]


@pytest.mark.parametrize(
    ("fields", "by", "value", "field"),
    [
        (
            {"matching": "email", "email": " a@b.c ", "phone": "+1"},
            LookupBy.EMAIL,
            "a@b.c",
            "email",
        ),
        ({"matching": "phone", "phone": "+61412345678"}, LookupBy.PHONE, "+61412345678", "phone"),
        ({"matching": "profile_id", "profile_id": "p1"}, LookupBy.ID, "p1", "profile_id"),
        (
            {"matching": "custom", "field_name": "user_id", "field_value": 123456},
            LookupBy.CUSTOM,
            "123456",
            "field_value",
        ),
    ],
)
def test_altcraft_matching_uses_only_the_identifier_it_names(
    fields: dict[str, Any], by: LookupBy, value: str, field: str
) -> None:
    found = altcraft.lookup(fields)
    assert (found.by, found.value, found.field) == (by, value, field)


@pytest.mark.parametrize(
    ("amount", "ok"),
    [
        ("100.50", True),
        ("600", True),
        (600, True),
        ("0.0001", True),
        ("1.00001", False),
        ("-1", False),
        ("0", False),
        ("1e3", False),
        ("", False),
        (True, False),
        ("NaN", False),
    ],
)
def test_altcraft_amount_is_a_positive_decimal_string(amount: Any, ok: bool) -> None:
    fields = {
        "loyalty_program_id": "123",
        "matching": "profile_id",
        "profile_id": "p",
        "amount": amount,
    }
    if ok:
        assert altcraft.accrual(fields).amount == Decimal(str(amount))
    else:
        with pytest.raises(InvalidInput) as raised:
            altcraft.accrual(fields)
        assert raised.value.field == "amount"


def test_altcraft_errors_use_its_names_and_status_codes() -> None:
    status, body = altcraft.error_body(
        Error(422, "invalid_input", "occurred_at is in the future", "occurred_at")
    )
    assert (status, body) == (400, {"error": 400, "error_text": "created_at is in the future"})
    status, body = altcraft.error_body(Error(422, "invalid_input", "must be E.164", "phone"))
    assert body["error_text"] == "phone: must be E.164"
    assert altcraft.error_body(Error(404, "unknown_member", "no member"))[0] == 404


def test_altcraft_xml_reads_fields_and_writes_the_seed_layout() -> None:
    fields = wire.decode(
        b"<xml><loyalty_program_id> 123 </loyalty_program_id><matching>email</matching>"
        b"<external_data><order_id>9</order_id></external_data></xml>",
        wire.Format.XML,
    )
    assert fields == {
        "loyalty_program_id": "123",
        "matching": "email",
        "external_data": {"order_id": "9"},
    }
    out = wire.encode_xml(
        {"error": 0, "error_text": "ok", "data": [{"a": 1}, {"a": Decimal("2.50")}]}
    )
    assert out == (
        b"<xml><data><a>1</a></data><data><a>2.5</a></data>"
        b"<error>0</error><error_text>ok</error_text></xml>"
    )


@pytest.mark.parametrize(
    ("content_type", "body", "fmt"),
    [
        ("application/xml", b"{}", wire.Format.XML),
        ("text/xml; charset=utf-8", b"", wire.Format.XML),
        ("application/json", b"<xml/>", wire.Format.JSON),
        ("", b"  <xml/>", wire.Format.XML),
        ("text/plain", b"{}", wire.Format.JSON),
    ],
)
def test_altcraft_request_format(content_type: str, body: bytes, fmt: wire.Format) -> None:
    assert wire.request_format(content_type, body) is fmt


def test_altcraft_xml_never_expands_an_entity() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><xml><email>&b;</email></xml>'
    )
    with pytest.raises(InvalidInput) as raised:
        wire.decode(bomb, wire.Format.XML)
    assert raised.value.field == "body"
