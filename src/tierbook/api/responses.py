"""The JSON response every tierbook API sends: orjson, exact decimals, instants in UTC.

FastAPI's own `ORJSONResponse` is deprecated (and warns on every use), and it would write a
`Decimal` as a string. Here a decimal leaves as a JSON number with its exact digits (an integer
where it is integral: `600`, `12.5`), and every instant as RFC 3339 in UTC with a `Z`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import JSONResponse

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME
_IN_UTC = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def _default(value: Any) -> Any:
    # Decimals first: a tier state holds about twenty, and orjson writes its UTC instants
    # itself in `dumps_in_utc`.
    if isinstance(value, Decimal):
        return number(value)
    if isinstance(value, datetime):
        return instant(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def number(value: Decimal) -> int | orjson.Fragment:
    """A finite decimal as a JSON number with its exact digits: an `int` where it is integral,
    else its shortest plain decimal text (no exponent, no trailing zeros)."""
    numerator, denominator = value.as_integer_ratio()
    if denominator == 1:
        return numerator
    text = str(value)
    # `str` writes most amounts as they are wanted (`12.5`); an exponent or a trailing zero
    # (`1E-7`, `12.50`) is rewritten in full.
    if "E" in text or text[-1] == "0":
        text = format(value.normalize(), "f")
    return orjson.Fragment(text.encode())


def instant(value: datetime) -> str:
    """RFC 3339 in UTC, `Z`-suffixed."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat()[:-6] + "Z"  # an instant in UTC ends "+00:00"


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, default=_default, option=_OPTIONS)


def dumps_in_utc(content: Any) -> bytes:
    """`dumps` for a document whose instants are all in UTC already (stored states as read
    back, the clock's now): orjson writes those itself, the same text `dumps` writes, in a
    third of the time. An instant in another zone would keep its offset here."""
    return orjson.dumps(content, default=_default, option=_IN_UTC)


class JsonResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
