"""The JSON every API writes: exact decimals, instants in UTC with a `Z`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tierbook.api.responses import dumps, dumps_in_utc, instant


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2025, 1, 10, 10, 0, tzinfo=UTC), "2025-01-10T10:00:00Z"),
        (datetime(2025, 1, 10, 10, 0, 0, 5, tzinfo=UTC), "2025-01-10T10:00:00.000005Z"),
        (datetime(2025, 1, 10, 10, tzinfo=timezone(timedelta(hours=10))), "2025-01-10T00:00:00Z"),
        (datetime(2025, 7, 1, 9, tzinfo=ZoneInfo("Australia/Melbourne")), "2025-06-30T23:00:00Z"),
        (datetime(2025, 1, 10, 10, tzinfo=ZoneInfo("UTC")), "2025-01-10T10:00:00Z"),
    ],
)
def test_an_instant_is_written_in_utc_with_a_z(value: datetime, text: str) -> None:
    assert instant(value) == text
    assert orjson.loads(dumps({"at": value})) == {"at": text}


def test_decimals_are_exact_numbers_and_integers_where_integral() -> None:
    written = dumps({"a": Decimal("600.0000"), "b": Decimal("12.5000"), "c": Decimal("-0.0001")})
    assert written == b'{"a":600,"b":12.5,"c":-0.0001}'


_AMOUNTS = st.decimals(  # what tierbook stores: four places, 64 bits scaled by 10,000
    allow_nan=False,
    allow_infinity=False,
    places=4,
    max_value=922_337_203_685_477,
    min_value=-922_337_203_685_477,
) | st.decimals(allow_nan=False, allow_infinity=False, max_value=10**9, min_value=-(10**9)).map(
    lambda d: d.normalize()  # exponents: 1E+3, 1.2E-7
)


@given(_AMOUNTS)
@example(Decimal("1E+3"))
@example(Decimal("-1.20E-7"))
@example(Decimal("-0.0"))
@example(Decimal("12.50"))
def test_a_decimal_is_written_with_its_exact_digits_and_nothing_more(value: Decimal) -> None:
    text = dumps(value).decode()
    assert Decimal(text) == value
    if value == value.to_integral_value():
        assert text == str(int(value))
    else:
        assert text == format(value.normalize(), "f")


def test_a_set_is_written_sorted_and_anything_else_unknown_is_refused() -> None:
    assert dumps({"s": frozenset({"b", "a"})}) == b'{"s":["a","b"]}'
    with pytest.raises(TypeError):
        dumps({"x": object()})


_UTC_INSTANTS = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, ZoneInfo("UTC")]),
)
_VALUES = st.one_of(
    _UTC_INSTANTS,
    st.none(),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, max_value=10**14, min_value=-(10**14)
    ),
    st.text(max_size=5),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
)


@given(
    st.recursive(
        _VALUES,
        lambda inner: (
            st.dictionaries(st.text(max_size=4), inner, max_size=4) | st.lists(inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_a_document_in_utc_is_written_as_dumps_writes_it(document: object) -> None:
    assert dumps_in_utc(document) == dumps(document)
