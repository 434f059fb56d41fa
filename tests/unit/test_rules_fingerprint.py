"""A group's rules fingerprint: what lets the clock tell whether a stored state's rules still
hold, so it must be equal for equal rules in every process and differ for any change."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from tierbook.domain.rules import GroupRules, QualifyingFilter, Tier, Window, WindowKind

SCRIPT = """
from decimal import Decimal
from tierbook.domain.rules import GroupRules, QualifyingFilter, Tier
rules = GroupRules(
    id=1,
    code="G",
    tiers=(Tier(id=1, handle="base", name="Base", rank=0, details={"b": [1, {"c": 2}], "a": 1}),),
    qualifying=QualifyingFilter(business_units=frozenset({"web", "store", "app", "kiosk"})),
)
print(rules.fingerprint)
"""


def _rules() -> GroupRules:
    return GroupRules(
        id=1,
        code="G",
        tiers=(
            Tier(id=1, handle="base", name="Base", rank=0, is_floor=True),
            Tier(id=2, handle="gold", name="Gold", rank=1, value_min=Decimal(500)),
        ),
        qualifying=QualifyingFilter(business_units=frozenset({"web", "store"})),
    )


def test_equal_rules_have_equal_fingerprints_and_any_change_another() -> None:
    rules = _rules()
    assert _rules().fingerprint == rules.fingerprint
    changed = [
        replace(rules, credit=False),
        replace(rules, window=Window(kind=WindowKind.CALENDAR)),
        replace(rules, window=Window(days=364)),
        replace(rules, qualifying=QualifyingFilter(business_units=frozenset({"web"}))),
        replace(rules, tiers=(rules.tiers[0], replace(rules.tiers[1], value_min=Decimal(501)))),
        replace(rules, timezone="Australia/Melbourne"),
    ]
    prints = {r.fingerprint for r in changed}
    assert len(prints) == len(changed)
    assert rules.fingerprint not in prints


def test_the_fingerprint_is_the_same_in_every_process() -> None:
    # String hashing (and so the order of a set) differs from one process to the next.
    seen = {
        subprocess.run(
            [sys.executable, "-c", SCRIPT],
            env={"PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (1, 2, 3, 4)
    }
    assert len(seen) == 1


def test_what_is_derived_from_the_rules_is_not_part_of_them() -> None:
    # A window's span is its days as a duration: neither compared nor fingerprinted on its own.
    window = Window(days=30)
    assert window.span == timedelta(days=30)
    assert replace(window, days=30) == window
    assert _rules().fingerprint == replace(_rules(), window=Window()).fingerprint
