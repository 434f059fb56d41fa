"""Exchange Solutions' translator alone: membership figures, sessions, tokens, errors."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from tests.dialects.builders import Error, program, view
from tests.dialects.conftest import PROGRAM, SPEND, STATUS, UNITS, at
from tierbook.api.dialects.exchange_solutions import tokens
from tierbook.api.dialects.exchange_solutions import translate as es
from tierbook.domain.errors import InvalidInput, Unauthenticated
from tierbook.service.dialects import LookupBy


@pytest.mark.parametrize(
    ("group_id", "entries", "key"),
    [
        (STATUS, [("2025-03-01 10:00", {"points": 1200})], "pointsEarned"),
        (SPEND, [("2025-03-01 10:00", {"spend": 50, "business_unit": "online"})], "contributions"),
        (UNITS, [("2025-03-01 10:00", {"units": 3})], "contributions"),
    ],
)
def test_es_figures_sit_under_one_key_by_metric(
    group_id: int, entries: list[tuple[str, dict[str, Any]]], key: str
) -> None:
    current, _ = view(group_id, entries)
    out = es.program_membership(current)
    assert out is not None
    assert key in out
    assert ({"pointsEarned", "contributions"} - {key}).isdisjoint(out)


def test_es_membership_leaves_out_a_group_with_no_tier_yet() -> None:
    document = copy.deepcopy(PROGRAM)
    document["groups"][0]["tiers"][0]["value_min"] = 100
    document["groups"][0]["tiers"][0]["is_floor"] = False
    current, _ = view(config=program(document))
    assert current.state.tier_id is None
    assert es.membership([current]) == {}


def test_es_identifier_types_and_defaults() -> None:
    body = es.SessionIn(correlationId=" c-9 ")
    request = es.session_request("L-1", "loyalty_id", body)
    assert (request.lookup.by, request.lookup.custom_name, request.channel) == (
        LookupBy.CUSTOM,
        "loyalty_id",
        "APP",
    )
    assert es.session_request("m1", None, body).lookup.by is LookupBy.ID
    with pytest.raises(InvalidInput):
        es.session_request("x", "PARTNER_LINK_ID", body)


def test_es_errors() -> None:
    assert es.error_body(Error(404, "unknown_session", "no session")) == (
        404,
        {"code": "SessionNotFound", "message": "no session"},
    )
    assert es.error_body(Error(422, "invalid_input", "bad", "channel")) == (
        400,
        {"code": "BadRequest", "message": "bad", "field": "channel"},
    )
    assert es.oauth_error_body(Error(401, "unauthenticated", "wrong")) == (
        401,
        {"error": "invalid_client", "error_description": "wrong"},
    )


def test_es_tokens_round_trip_and_expire() -> None:
    now = at("2025-01-01 00:00")
    token, expires = tokens.issue(
        "s",
        key_id="k1",
        tenant_id="t",
        scopes=frozenset({"read"}),
        now=now,
        ttl=timedelta(hours=1),
    )
    claims = tokens.verify("s", token, now=now + timedelta(minutes=59))
    assert (claims.key_id, claims.tenant_id, claims.scopes, claims.expires_at) == (
        "k1",
        "t",
        frozenset({"read"}),
        expires,
    )
    for secret, when in (("s", expires), ("other", now)):
        with pytest.raises(Unauthenticated):
            tokens.verify(secret, token, now=when)
    head, body, signature = token.split(".")
    with pytest.raises(Unauthenticated):
        tokens.verify("s", f"{head}.{body}.{signature[::-1]}", now=now)
