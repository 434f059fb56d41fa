"""Comparing a response with a seed example: the same keys, the same JSON types, the same formats.

A string in the seed whose text has a recognisable format (an Omneo date-time, an RFC 3339
instant, a decimal string, SessionM's comma list) requires ours to have the same format. Where
the seed shows `null`, the seed's field table gives the type a value may have instead.
"""

from __future__ import annotations

import re
from typing import Any

FORMATS = {
    "omneo date-time": re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"),
    "RFC 3339 UTC": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"),
    "decimal string": re.compile(r"^\d+\.\d+$"),
    # SessionM's achievement ids, newline-terminated; no ids at all is the empty string.
    "comma list": re.compile(r"^(\d+(,\d+)*\n)?$"),
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(type(value))


def string_format(text: str) -> str | None:
    return next((name for name, pattern in FORMATS.items() if pattern.match(text)), None)


def assert_same_shape(
    ours: Any,
    seed: Any,
    *,
    path: str = "$",
    nullable: dict[str, str] | None = None,
    extra: frozenset[str] = frozenset(),
    optional: frozenset[str] = frozenset(),
) -> None:
    """`nullable`: JSON type allowed where a path may be null, keyed by path (`$.prev_tier`)
    or by last key (`prev_tier`); `extra`: keys ours adds beyond the seed (by path); `optional`:
    keys ours may leave out (by path)."""
    nullable = nullable or {}
    if seed is None:
        allowed = nullable.get(path) or nullable.get(path.rsplit(".", 1)[-1])
        assert ours is None or json_type(ours) == allowed, f"{path}: {ours!r} is not {allowed}"
        return
    if ours is None:
        allowed = nullable.get(path) or nullable.get(path.rsplit(".", 1)[-1])
        assert allowed is not None, f"{path}: null where the seed has {json_type(seed)}"
        return
    assert json_type(ours) == json_type(seed), f"{path}: {ours!r} is not a {json_type(seed)}"
    if isinstance(seed, dict):
        wanted = {k for k in seed if f"{path}.{k}" not in optional}
        have = set(ours) - {k for k in ours if f"{path}.{k}" in extra}
        assert wanted <= have <= set(seed), (
            f"{path}: keys differ: missing {sorted(wanted - have)}, more {sorted(have - set(seed))}"
        )
        for key in have:
            assert_same_shape(
                ours[key],
                seed[key],
                path=f"{path}.{key}",
                nullable=nullable,
                extra=extra,
                optional=optional,
            )
    elif isinstance(seed, list):
        for i, item in enumerate(ours):
            if seed:
                assert_same_shape(
                    item,
                    seed[min(i, len(seed) - 1)],
                    path=f"{path}[]",
                    nullable=nullable,
                    extra=extra,
                    optional=optional,
                )
    elif isinstance(seed, str):
        wanted_format = string_format(seed)
        if wanted_format is not None:
            assert FORMATS[wanted_format].match(ours), f"{path}: {ours!r} is not {wanted_format}"
