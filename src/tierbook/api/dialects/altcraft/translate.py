"""Altcraft (`/api/v1.1`) parameters to service commands and queries, results to responses.

Pure: no web framework, no database. Parameters arrive as a flat mapping of names to values,
from JSON or XML alike (in XML every value is text, so numbers are read from text as well).
`matching` names the one identifier used to find the member: `email`, `phone`, `profile_id`,
or `custom` (`field_name` + `field_value`); any other identifier sent is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tierbook.api.dialects.common import WireError, clean_text, parse_instant, plain, rfc3339
from tierbook.domain.errors import InvalidInput, UnknownGroup
from tierbook.domain.ledger import EntryKind
from tierbook.domain.rules import WindowKind
from tierbook.domain.state import HistoryRecord, Reason
from tierbook.service.activities import Recorded
from tierbook.service.commands import RecordActivity
from tierbook.service.dialects import LookupBy, MemberLookup
from tierbook.service.model import GroupConfig, Member, ProgramConfig
from tierbook.service.queries import TierView

Json = dict[str, Any]
Fields = Mapping[str, Any]

SUCCESS = "Successful operation"
MAX_ID = 2**63 - 1
MAX_PLACES = 4
MAX_AMOUNT = Decimal(10) ** 14
_INTEGER = re.compile(r"^\s*\d{1,19}\s*$")
_AMOUNT = re.compile(r"^\s*\d{1,15}(\.\d+)?\s*$")

MATCHING = {
    "email": LookupBy.EMAIL,
    "phone": LookupBy.PHONE,
    "profile_id": LookupBy.ID,
    "custom": LookupBy.CUSTOM,
}

# The service's names for what an Altcraft client calls otherwise, for error texts.
WIRE_NAMES = {
    "occurred_at": "created_at",
    "enrolled_at": "registration_date",
    "points": "amount",
    "idempotency_key": "transaction_eid",
    "id": "profile_id",
    "custom": "field_value",
    "program_id": "loyalty_program_id",
}


# -- parameters ---------------------------------------------------------------------------------


def _missing(name: str) -> InvalidInput:
    return InvalidInput(f"{name} is required", field=name)


def _integer(fields: Fields, name: str) -> int:
    value = fields.get(name)
    if value is None or value == "":
        raise _missing(name)
    if isinstance(value, str) and _INTEGER.match(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ID:
        raise InvalidInput(f"{name} must be a positive whole number", field=name)
    return value


def _text(fields: Fields, name: str, *, required: bool, numbers: bool = False) -> str | None:
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _missing(name)
        return None
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", field=name)
    return clean_text(value.strip(), name, max_length=320)


def token(fields: Fields) -> str | None:
    """The API token sent in the parameters, if any."""
    value = fields.get("token")
    return value.strip() if isinstance(value, str) and value.strip() else None


def lookup(fields: Fields) -> MemberLookup:
    """The identifier `matching` names; only that one is used."""
    matching = _text(fields, "matching", required=True)
    by = MATCHING.get(str(matching))
    if by is None:
        raise InvalidInput(
            f"matching must be one of {', '.join(MATCHING)} (got {matching!r})", field="matching"
        )
    if by is LookupBy.CUSTOM:
        name = _text(fields, "field_name", required=True)
        value = _text(fields, "field_value", required=True, numbers=True)
        return MemberLookup(by, str(value), "field_value", custom_name=name)
    field = str(matching)
    return MemberLookup(by, str(_text(fields, field, required=True)), field)


def _instant(fields: Fields, name: str) -> datetime | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    return parse_instant(value, name)


@dataclass(frozen=True, slots=True)
class TiersQuery:
    program_id: int
    group_id: int
    lookup: MemberLookup


def tiers_query(fields: Fields) -> TiersQuery:
    return TiersQuery(
        program_id=_integer(fields, "loyalty_program_id"),
        group_id=_integer(fields, "tiers_group_id"),
        lookup=lookup(fields),
    )


@dataclass(frozen=True, slots=True)
class Registration:
    program_id: int
    lookup: MemberLookup
    registered_at: datetime | None


def registration(fields: Fields) -> Registration:
    return Registration(
        program_id=_integer(fields, "loyalty_program_id"),
        lookup=lookup(fields),
        registered_at=_instant(fields, "registration_date"),
    )


@dataclass(frozen=True, slots=True)
class Accrual:
    program_id: int
    lookup: MemberLookup
    amount: Decimal
    transaction_eid: str | None
    created_at: datetime | None
    external_data: Mapping[str, Any]


def _amount(fields: Fields) -> Decimal:
    value = fields.get("amount")
    if value is None or value == "":
        raise _missing("amount")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput('amount must be a decimal string, like "100.50"', field="amount")
    text = str(value)
    if not _AMOUNT.match(text):
        raise InvalidInput(
            f'amount must be a positive decimal string, like "100.50" (got {text!r})',
            field="amount",
        )
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise InvalidInput("amount is not a number", field="amount") from None
    if amount <= 0 or amount >= MAX_AMOUNT:
        raise InvalidInput("amount must be more than 0 and less than 10^14", field="amount")
    if amount != amount.quantize(Decimal(1).scaleb(-MAX_PLACES)):
        raise InvalidInput(f"amount has more than {MAX_PLACES} decimal places", field="amount")
    return amount


def accrual(fields: Fields) -> Accrual:
    extra = fields.get("external_data")
    if extra is None or extra == "":
        extra = {}
    if not isinstance(extra, dict):
        raise InvalidInput("external_data must be an object", field="external_data")
    return Accrual(
        program_id=_integer(fields, "loyalty_program_id"),
        lookup=lookup(fields),
        amount=_amount(fields),
        transaction_eid=_text(fields, "transaction_eid", required=False),
        created_at=_instant(fields, "created_at"),
        external_data=extra,
    )


def record_command(accrual: Accrual, member: Member, now: datetime) -> RecordActivity:
    """Accrued points are tier points: an `adjustment` entry, not a purchase (no visit)."""
    meta: dict[str, Any] = {"source": "altcraft"}
    if accrual.external_data:
        meta["external_data"] = dict(accrual.external_data)
    return RecordActivity(
        member_id=member.id,
        program_id=accrual.program_id,
        occurred_at=accrual.created_at or now,
        idempotency_key=accrual.transaction_eid,
        kind=EntryKind.ADJUSTMENT,
        points=accrual.amount,
        meta=meta,
    )


def group_of(program: ProgramConfig, group_id: int) -> GroupConfig:
    group = program.group(group_id)
    if group is None:
        raise UnknownGroup(f"loyalty program {program.id} has no tiers group {group_id}")
    return group


# -- responses ----------------------------------------------------------------------------------


def success(**fields: Any) -> Json:
    return {"error": 0, "error_text": SUCCESS, **fields}


def group_type(group: GroupConfig) -> str:
    window = group.rules.window.kind
    return "cumulative" if window is WindowKind.LIFETIME else window.value


def reached(view: TierView, history: Sequence[HistoryRecord]) -> list[Json]:
    """The tiers the member reached, as SPEC §5 defines it.

    Reached = entered by any change but enrolment. Only tiers at or below the current one are
    listed, in `tier_order`, each with the last time it was entered; a tier skipped on the way
    up was never entered, so it is not listed.
    """
    current = view.state.tier_id
    rules = view.group.rules
    tier = None if current is None else rules.find_tier(current)
    if tier is None:
        return []
    entered: dict[int, datetime] = {}
    for record in history:
        if (
            record.reason is Reason.ENROLLED
            or record.to_tier_id is None
            or record.to_tier_id == record.from_tier_id
        ):
            continue
        entered[record.to_tier_id] = record.at
    kind = group_type(view.group)
    return [
        {
            "tiers_group_type": kind,
            "tier_eid": t.external_id or t.handle,
            "tier_id": t.id,
            "tier_order": t.rank,
            "reached_at": rfc3339(entered[t.id]),
        }
        for t in rules.tiers
        if t.rank <= tier.rank and t.id in entered
    ]


def tiers_response(view: TierView, history: Sequence[HistoryRecord]) -> Json:
    return success(data=reached(view, history))


def registered(member: Member) -> Json:
    return success(profile_id=member.id)


def accrued(recorded: Recorded) -> Json:
    entry = recorded.entry
    return success(
        transaction_id=entry.id,
        transaction_eid=entry.idempotency_key,
        amount=plain(entry.points),
        created_at=rfc3339(entry.occurred_at),
    )


# -- errors -------------------------------------------------------------------------------------


def _wire_text(error: WireError) -> str:
    """The message, in the client's own names, naming the field where there is one."""
    message = error.message
    field = error.field
    if field is not None:
        wire = WIRE_NAMES.get(field, field)
        named = re.compile(rf"\b{re.escape(field)}\b")
        message = named.sub(wire, message) if named.search(message) else f"{wire}: {message}"
    return message


def error_body(error: WireError) -> tuple[int, Json]:
    """`{"error": code, "error_text": …}`; the HTTP status is the code (422 is Altcraft's 400)."""
    status = 400 if error.status == 422 else error.status
    return status, {"error": status, "error_text": _wire_text(error)}
