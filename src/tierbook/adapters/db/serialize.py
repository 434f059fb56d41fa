"""The domain's values as JSON-able dicts and table rows, and back, exactly.

Decimals travel as strings (a float would round them), instants as RFC 3339 with their offset
(UTC, written `Z`). The state's dataclasses (TierState, Figures, ActiveAssignment,
HistoryRecord) are converted by their type hints, with msgspec, so a field added to them is
stored without a change here; a type it does not know fails loudly instead of being stored
lossily.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
import orjson

from tierbook.adapters.db.tables import AMOUNT_SCALE
from tierbook.domain.errors import InvalidEntry
from tierbook.domain.ledger import Entry, EntryKind, Item
from tierbook.domain.state import ActiveAssignment, Figures, HistoryRecord, TierState

T = TypeVar("T")

STATE_FORMAT = 1
"""Version of the stored state body; bump it (and read the old one) when the shape changes."""

_MAX_SCALED = 2**63 - 1
_MAX_DIGITS = len(str(_MAX_SCALED))
_SCALE_DIGITS = len(str(AMOUNT_SCALE)) - 1


# -- scalars ----------------------------------------------------------------------------------


def instant_to_text(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no UTC offset")
    return value.astimezone(UTC).isoformat()


def instant_from_text(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def to_scaled(value: Decimal, field: str) -> int:
    """A ledger amount as an integer of 1/10,000; more precision than that is refused.

    Integer arithmetic on the digits, not `scaleb`: the decimal context would round a value with
    more than 28 digits before the check could see its fifth decimal place.
    """
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise InvalidEntry(f"{field} must be a finite number", field=field)
    coefficient = int("".join(map(str, digits)))
    shift = exponent + _SCALE_DIGITS
    if coefficient and shift > _MAX_DIGITS:
        raise InvalidEntry(f"{field} is too large to store (got {value})", field=field)
    number: int
    if shift >= 0:
        number = coefficient * 10**shift
    else:
        number, remainder = divmod(coefficient, 10**-shift)
        if remainder:
            raise InvalidEntry(
                f"{field} allows at most {_SCALE_DIGITS} decimal places (got {value})", field=field
            )
    if number > _MAX_SCALED:
        raise InvalidEntry(f"{field} is too large to store (got {value})", field=field)
    return -number if sign else number


def from_scaled(value: int) -> Decimal:
    # Division (not scaleb) gives the shortest exponent: 6_000_000 -> 600, not 600.0000.
    return Decimal(value) / AMOUNT_SCALE


def custom_text(value: Any) -> str | None:
    """The text a custom field's value is looked up by; None is not searchable."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def custom_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# -- the state's dataclasses --------------------------------------------------------------------


def state_to_dict(state: TierState) -> dict[str, Any]:
    return _encode_dataclass(state) | {"format": STATE_FORMAT}


class _Format(msgspec.Struct):
    format: int | None = None


_read_format = msgspec.json.Decoder(_Format).decode
_read_state = msgspec.json.Decoder(TierState, strict=False).decode


_FORMAT_TAIL = f',"format":{STATE_FORMAT}}}'
"""How a body tierbook wrote ends: compact JSON, its format the last top-level member."""


def state_from_json(text: str | bytes) -> TierState:
    """A stored body (`state_to_dict`, as the JSON text the database holds), decoded straight
    into the state with no dict in between: every read of a stored state pays it.

    A body that ends as tierbook writes it (`_FORMAT_TAIL`: no value nested in the body can
    end the text, and a string's quotes are escaped) is of this format; any other text, such
    as PostgreSQL's `jsonb`, which orders keys its own way, is read once more for its format.
    """
    if not (isinstance(text, str) and text.endswith(_FORMAT_TAIL)):
        found = _read_format(text).format
        if found != STATE_FORMAT:
            raise ValueError(f"unknown stored state format {found!r}")
    return _read_state(text)


def figures_to_dict(figures: Figures) -> dict[str, Any]:
    return _encode_dataclass(figures)


def figures_from_dict(body: Mapping[str, Any]) -> Figures:
    return _decode_dataclass(Figures, body)


def active_assignment_to_dict(assignment: ActiveAssignment) -> dict[str, Any]:
    return _encode_dataclass(assignment)


def active_assignment_from_dict(body: Mapping[str, Any]) -> ActiveAssignment:
    return _decode_dataclass(ActiveAssignment, body)


def history_to_dict(record: HistoryRecord) -> dict[str, Any]:
    return _encode_dataclass(record)


def history_from_dict(body: Mapping[str, Any]) -> HistoryRecord:
    return _decode_dataclass(HistoryRecord, body)


def _encode_dataclass(value: Any) -> dict[str, Any]:
    # msgspec writes the dataclass by its fields in compiled code: instants as RFC 3339 (`Z` for
    # UTC, the tier clock's only zone), decimals as their exact strings, enums as their values.
    encoded: dict[str, Any] = msgspec.to_builtins(value)
    return encoded


def _decode_dataclass(cls: type[T], body: Mapping[str, Any]) -> T:
    # msgspec builds the dataclass from its type hints in compiled code: a stored state (read on
    # every hot read) decodes in a third of the time a hand-written reader takes. Decimals come
    # back from their strings exactly; a value of the wrong type fails loudly.
    return msgspec.convert(body, cls, strict=False)


# -- ledger entries -----------------------------------------------------------------------------


def entry_to_row(tenant_id: str, program_id: int, entry: Entry) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "id": entry.id,
        "program_id": program_id,
        "member_id": entry.member_id,
        "kind": entry.kind.value,
        "occurred_at": entry.occurred_at,
        "recorded_at": entry.recorded_at,
        "idempotency_key": entry.idempotency_key,
        "points": to_scaled(entry.points, "points"),
        "spend": to_scaled(entry.spend, "spend"),
        "units": to_scaled(entry.units, "units"),
        "business_unit": entry.business_unit,
        "behaviour_type": entry.behaviour_type,
        "achievement_id": entry.achievement_id,
        "reverses": entry.reverses,
        "items": [_item_to_dict(item) for item in entry.items],
        "meta": dict(entry.meta),
    }


def entry_from_row(row: Mapping[Any, Any]) -> Entry:
    return Entry(
        id=row["id"],
        member_id=row["member_id"],
        occurred_at=row["occurred_at"],
        kind=EntryKind(row["kind"]),
        points=from_scaled(row["points"]),
        spend=from_scaled(row["spend"]),
        units=from_scaled(row["units"]),
        business_unit=row["business_unit"],
        behaviour_type=row["behaviour_type"],
        items=tuple(_item_from_dict(item) for item in row["items"]),
        achievement_id=row["achievement_id"],
        reverses=row["reverses"],
        idempotency_key=row["idempotency_key"],
        recorded_at=row["recorded_at"],
        meta=row["meta"],
    )


def _item_to_dict(item: Item) -> dict[str, Any]:
    return {
        "sku": item.sku,
        "category": item.category,
        "quantity": str(item.quantity),
        "amount": str(item.amount),
    }


def _item_from_dict(body: Mapping[str, Any]) -> Item:
    return Item(
        sku=body["sku"],
        category=body["category"],
        quantity=Decimal(body["quantity"]),
        amount=Decimal(body["amount"]),
    )
