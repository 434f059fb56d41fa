"""Wire helpers more than one dialect needs: instants in and out, text no store keeps.

Pure functions, like every translator: no web framework, no database.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Protocol

from tierbook.domain.errors import InvalidInput

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2})$"
)


def rfc3339(value: datetime) -> str:
    """RFC 3339 in UTC, `Z`-suffixed, whole seconds: `2024-06-15T09:12:34Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def in_range(value: datetime, field: str) -> datetime:
    """The instant in UTC, refused outside the years tierbook keeps."""
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 has no UTC instant
        raise InvalidInput(f"{field} is out of range", field=field) from None
    if not EARLIEST <= value < LATEST:
        raise InvalidInput(
            f"{field} must fall in the years [{EARLIEST.year}, {LATEST.year})", field=field
        )
    return value


def parse_instant(text: object, field: str) -> datetime:
    """An RFC 3339 instant that carries an offset (`2024-09-01T12:34:56Z`), in UTC."""
    if not isinstance(text, str) or not _RFC3339.match(text.strip()):
        raise InvalidInput(
            f"{field} must be an RFC 3339 instant with an offset, like 2024-09-01T12:34:56Z",
            field=field,
        )
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z").replace("t", "T"))
    except ValueError:
        raise InvalidInput(f"{field} is not a valid date and time", field=field) from None
    return in_range(value, field)


def clean_text(value: str, field: str, *, max_length: int = 1000) -> str:
    """Text a store can keep: no NUL, no lone surrogate, not too long."""
    if "\x00" in value:
        raise InvalidInput(f"{field}: text may not contain NUL characters", field=field)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"{field}: text is not valid Unicode", field=field) from None
    if len(value) > max_length:
        raise InvalidInput(f"{field} is longer than {max_length} characters", field=field)
    return value


def plain(value: Decimal) -> str:
    """A decimal as text with its exact digits and no exponent: `600`, `12.5`."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def whole_down(value: Decimal | int) -> int:
    """For a vendor field typed integer: an amount earned, never shown as more than it is."""
    return int(Decimal(value).to_integral_value(ROUND_FLOOR))


def whole_up(value: Decimal | int) -> int:
    """For a vendor field typed integer: an amount still needed, never shown as less."""
    return int(Decimal(value).to_integral_value(ROUND_CEILING))


class WireError(Protocol):
    """An error on its way out, as every dialect's renderer receives it (`api.errors.ApiError`)."""

    @property
    def status(self) -> int: ...

    @property
    def code(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def field(self) -> str | None: ...

    @property
    def details(self) -> Any: ...


def field_messages(error: WireError) -> dict[str, list[str]]:
    """Each field an error names, with its messages (validation errors name several)."""
    found: dict[str, list[str]] = {}
    if isinstance(error.details, list):
        for problem in error.details:
            if isinstance(problem, dict) and "field" in problem:
                found.setdefault(str(problem["field"]), []).append(str(problem.get("message")))
    if not found:
        found[error.field or "body"] = [error.message]
    return found
