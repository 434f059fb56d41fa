"""Exchange Solutions (ES Loyalty) shapes: OAuth tokens, user sessions, membership tiers.

Pure: no web framework, no database. A membership program is a tier group, keyed by its code;
`total` is the window value, `next` what remains to the next tier, `unused` the progress of the
current tier year (since the tier was reached, or last maintained). The figures sit under
`contributions.spend`, `contributions.unit` or `pointsEarned`, by the group's metric, never two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from tierbook.api.dialects.common import WireError, clean_text, rfc3339
from tierbook.domain.errors import InvalidInput
from tierbook.domain.rules import Context, Metric
from tierbook.service.dialects import LookupBy, MemberLookup
from tierbook.service.ports import UserSession
from tierbook.service.queries import TierView

Json = dict[str, Any]

DEFAULT_IDENTIFIER_TYPE = "ACCOUNT_ID"
DEFAULT_CHANNEL = "APP"
# Each identifier type, as the member lookup it means.
IDENTIFIER_TYPES: dict[str, tuple[LookupBy, str | None]] = {
    "ACCOUNT_ID": (LookupBy.ID, None),
    "LOYALTY_ID": (LookupBy.CUSTOM, "loyalty_id"),
    "EXTERNAL_ID": (LookupBy.CUSTOM, "external_id"),
    "EMAIL": (LookupBy.EMAIL, None),
    "PHONE_NUMBER": (LookupBy.PHONE, None),
}
POINTS_METRICS = frozenset({Metric.POINTS, Metric.SPONSOR_POINTS})


class UnsupportedGrant(InvalidInput):
    code = "unsupported_grant_type"


# -- OAuth client credentials --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    client_secret: str


def client_credentials(form: Mapping[str, str], basic: tuple[str, str] | None) -> ClientCredentials:
    """`grant_type=client_credentials` with `client_id`/`client_secret` in the form, or in
    HTTP Basic (RFC 6749 §2.3.1)."""
    grant = form.get("grant_type")
    if not grant:
        raise InvalidInput("grant_type is required", field="grant_type")
    if grant != "client_credentials":
        raise UnsupportedGrant(
            f"grant_type {grant!r} is not supported: use client_credentials", field="grant_type"
        )
    client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
    for name, value in (("client_id", client_id), ("client_secret", secret)):
        if not value:
            raise InvalidInput(f"{name} is required", field=name)
        clean_text(value, name, max_length=200)
    return ClientCredentials(client_id, secret)


def token_response(token: str, expires_in: int, scopes: frozenset[str]) -> Json:
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": " ".join(sorted(scopes)),
    }


# -- sessions -----------------------------------------------------------------------------------


class SessionIn(BaseModel):
    """`POST /client/users/{identifier}/sessions`."""

    model_config = ConfigDict(extra="ignore")

    correlationId: StrictStr = Field(min_length=1, max_length=128)  # ES's own name
    channel: StrictStr = Field(DEFAULT_CHANNEL, min_length=1, max_length=64)


@dataclass(frozen=True, slots=True)
class SessionRequest:
    lookup: MemberLookup
    identifier_type: str
    correlation_id: str
    channel: str


def session_request(
    identifier: str, identifier_type: str | None, body: SessionIn
) -> SessionRequest:
    kind = (identifier_type or DEFAULT_IDENTIFIER_TYPE).strip().upper()
    if kind not in IDENTIFIER_TYPES:
        raise InvalidInput(
            f"X-Identifier-Type must be one of {', '.join(IDENTIFIER_TYPES)} (got {kind!r})",
            field="X-Identifier-Type",
        )
    by, custom_name = IDENTIFIER_TYPES[kind]
    correlation_id = clean_text(body.correlationId.strip(), "correlationId", max_length=128)
    channel = clean_text(body.channel.strip(), "channel", max_length=64)
    if not correlation_id:
        raise InvalidInput("correlationId must not be blank", field="correlationId")
    if "/" in correlation_id:
        # It is a path segment of every later call, where a slash can never be sent.
        raise InvalidInput("correlationId may not contain '/'", field="correlationId")
    if not channel:
        raise InvalidInput("channel must not be blank", field="channel")
    return SessionRequest(
        lookup=MemberLookup(by, identifier, "identifier", custom_name=custom_name),
        identifier_type=kind,
        correlation_id=correlation_id,
        channel=channel.upper(),
    )


def session(found: UserSession) -> Json:
    return {
        "correlationId": found.correlation_id,
        "accountId": found.member_id,
        "identifierType": found.identifier_type,
        "channel": found.channel,
        "createdAt": rfc3339(found.created_at),
        "expiresAt": rfc3339(found.expires_at),
    }


# -- membership ---------------------------------------------------------------------------------


def _figures(view: TierView) -> tuple[str, str | None, Json]:
    figures = view.state.figures
    numbers = {
        "total": figures.window_value,
        "next": figures.remain_to_next,
        "unused": figures.progress,
    }
    metric = view.group.rules.metric
    if metric in POINTS_METRICS:
        return "pointsEarned", None, numbers
    return "contributions", "spend" if metric is Metric.SPEND else "unit", numbers


def program_membership(view: TierView) -> Json | None:
    """One group's membership, or None where the member holds no tier in it yet."""
    state, rules, group = view.state, view.group.rules, view.group
    tier = None if state.tier_id is None else rules.find_tier(state.tier_id)
    if tier is None:
        return None
    upper = rules.above(tier)
    key, kind, numbers = _figures(view)
    out: Json = {
        "programCode": group.code,
        "tierCode": tier.handle,
        "tierName": tier.name,
        "tierRank": tier.rank,
        "nextTier": None
        if upper is None
        else {"id": upper.handle, "rank": upper.rank, "tierName": upper.name},
        key: numbers if kind is None else {kind: numbers},
        "businessUnits": sorted(rules.qualifying.business_units)
        or list(view.program.business_units),
        "dateRange": {"effective": rfc3339(state.achieved_at)},
    }
    if state.anniversary_at is not None:
        out["dateRange"]["expiry"] = rfc3339(state.anniversary_at)
    if kind == "unit":
        if group.qualifying_behaviour_type_label is not None:
            out["qualifyingBehaviourTypeLabel"] = group.qualifying_behaviour_type_label
        if group.qualifying_cart_selector_desc is not None:
            out["qualifyingCartSelectorDesc"] = group.qualifying_cart_selector_desc
    if rules.context is Context.HOUSEHOLD:
        out["tierContext"] = "HOUSEHOLD"
    return out


def membership(views: Sequence[TierView]) -> Json:
    """Keyed by program code; `{}` where the member holds a tier in no active group."""
    out: Json = {}
    for view in views:
        found = program_membership(view)
        if found is not None:
            out[view.group.code] = found
    return out


# -- errors -------------------------------------------------------------------------------------

CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
    500: "InternalError",
}
# Not-found errors that say which thing was not found.
NOT_FOUND = {"unknown_session": "SessionNotFound", "unknown_member": "IdentifierNotFound"}


def error_body(error: WireError) -> tuple[int, Json]:
    """`{"code", "message"}` (and `field` where one is named); a 422 is ES's 400."""
    status = 400 if error.status == 422 else error.status
    code = NOT_FOUND.get(error.code) or CODES.get(status, "Error")
    body: Json = {"code": code, "message": error.message}
    if status == 400 and error.field is not None:
        body["field"] = error.field
    return status, body


def oauth_error_body(error: WireError) -> tuple[int, Json]:
    """RFC 6749 §5.2: `{"error", "error_description"}`."""
    if error.status == 401:
        code, status = "invalid_client", 401
    elif error.code == UnsupportedGrant.code:
        code, status = "unsupported_grant_type", 400
    elif error.status in (400, 422):
        code, status = "invalid_request", 400
    elif error.status == 403:
        code, status = "unauthorized_client", 400
    else:
        code, status = "invalid_request" if error.status < 500 else "server_error", error.status
    return status, {"error": code, "error_description": error.message}
