"""Synthetic loyalty data for the benchmarks, a pure function of a seed.

`Shape` says how much data (members, mean entries per member, the last instant); everything else
follows from `Shape.seed`. Every member draws from its own seeded generator, so member `i` is
the same whether 1,000 or 1,000,000 members are made, and any slice of members can be made on
its own.

The program (`program_document`) has three groups of different kinds: tier points over a
rolling 365 days with anniversary maintenance (Omneo-style), spend per calendar year with
`period_end` maintenance and grace, pooled by household, and lifetime units that only go up.

A member enrols up to three years before `Shape.end` (most more than a year before) and buys
as a Poisson process from then on: how often is log-normal across members, and so is how much
each basket is. About 4% of purchases are refunded 1-21 days later (a refund names the purchase
it `reverses`), and members earn achievements (`profile_complete` unlocks Platinum).

Two outputs: service commands (`commands`) for the paths that go through the API and the
service layer, and plain values (`members` and `member_entries`, turned into table rows by
`bench.load`) for bulk loading millions of rows.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from tierbook.domain.ledger import EntryKind, Item
from tierbook.service.commands import EnrolMember, RecordActivity

TENANT = "bench"
PROGRAM_ID = 900
STATUS, ANNUAL, LIFETIME = 910, 920, 930
"""The group ids: rolling points, calendar-year household spend, lifetime units."""
GROUPS = (STATUS, ANNUAL, LIFETIME)
SEED = 20_261_101
END = datetime(2026, 11, 1, tzinfo=UTC)
"""The default last instant of activity: fixed, so a seed always gives the same data."""

_DAY = 86_400
_CATALOGUE = (
    ("apparel", ("APP-1001", "APP-1002", "APP-1017", "APP-1042", "APP-1105")),
    ("footwear", ("FTW-2001", "FTW-2010", "FTW-2024")),
    ("homewares", ("HOM-3003", "HOM-3011", "HOM-3050", "HOM-3077")),
    ("beauty", ("BTY-4002", "BTY-4019", "BTY-4020")),
    ("electronics", ("ELE-5005", "ELE-5012")),
)
_ACHIEVEMENTS = (("profile_complete", 100, 0.55), ("app_download", 50, 0.35))
_REFUND_SHARE = 0.04
_MEDIAN_BASKET = 60.0
_BASKET_SIGMA = 0.8
_RATE_SIGMA = 0.9
# E[lognormal(0, s)] = exp(s^2 / 2): dividing by it keeps the mean rate on target.
_RATE_MEAN = math.exp(_RATE_SIGMA**2 / 2)
_ACHIEVEMENTS_MEAN = sum(share for _, _, share in _ACHIEVEMENTS)
_MEAN_SPAN = (0.7 * (366 + 1095) / 2 + 0.3 * (20 + 365) / 2) * _DAY
"""The mean seconds from enrolment to the end (see `member`)."""
_ITEM_COUNTS = (0.5, 0.78, 0.93)


def program_document() -> dict[str, Any]:
    """The benchmark program as a SPEC §3 document (the shape `tierbook apply` reads)."""

    def tier(tid: int, handle: str, rank: int, vmin: int, keep: int, **kw: Any) -> dict[str, Any]:
        return {
            "id": tid,
            "handle": handle,
            "name": handle.title(),
            "rank": rank,
            "value_min": vmin,
            "value_maintain": keep,
            "is_floor": rank == 0,
            "is_assignable": rank > 0,
            **kw,
        }

    return {
        "program": {
            "id": PROGRAM_ID,
            "code": "bench",
            "name": "Bench Rewards",
            "timezone": "Australia/Melbourne",
            "currency": "AUD",
            "business_units": ["online", "stores"],
            "default_group_id": STATUS,
        },
        "groups": [
            {
                "id": STATUS,
                "code": "STATUS",
                "name": "Status",
                "metric": "points",
                "window": {"kind": "rolling", "days": 365},
                "maintenance": {"kind": "anniversary", "term_months": 12},
                "downgrade": {"policy": "to_qualifying", "grace_days": 0},
                "credit": True,
                "reversals": "reevaluate",
                "tiers": [
                    tier(9101, "bronze", 0, 0, 0, multiplier="1.0"),
                    tier(9102, "silver", 1, 1000, 1000, multiplier="1.5"),
                    tier(9103, "gold", 2, 2500, 2000, multiplier="2.0"),
                    tier(
                        9104,
                        "platinum",
                        3,
                        5000,
                        4000,
                        multiplier="3.0",
                        required_achievements={"ids": ["profile_complete"]},
                    ),
                ],
            },
            {
                "id": ANNUAL,
                "code": "FAMILY",
                "name": "Family Spend",
                "metric": "spend",
                "context": "household",
                "window": {"kind": "calendar", "period": "year"},
                "maintenance": {"kind": "period_end"},
                "downgrade": {"policy": "one_down", "grace_days": 30},
                "credit": False,
                "qualifying": {"business_units": ["online", "stores"]},
                "tiers": [
                    tier(9201, "blue", 0, 0, 0),
                    tier(9202, "sapphire", 1, 2500, 2000, multiplier="1.25"),
                    tier(9203, "diamond", 2, 6000, 5000, multiplier="1.5"),
                ],
            },
            {
                "id": LIFETIME,
                "code": "LIFETIME",
                "name": "Lifetime Club",
                "metric": "units",
                "window": {"kind": "lifetime"},
                "maintenance": {"kind": "none"},
                "tiers": [
                    tier(9301, "member", 0, 0, 0),
                    tier(9302, "insider", 1, 40, 0),
                    tier(9303, "icon", 2, 150, 0),
                ],
            },
        ],
    }


@dataclass(frozen=True, slots=True)
class Shape:
    members: int
    entries_per_member: float = 20.0
    """The mean number of ledger entries per member (purchases, refunds and achievements)."""
    seed: int = SEED
    end: datetime = END
    household_share: float = 0.12
    """The share of member pairs that are one household (pooled in the FAMILY group)."""
    first: int = 0
    """The index of the first member: a slice of a larger population."""


@dataclass(frozen=True, slots=True)
class GenMember:
    index: int
    id: str
    enrolled_at: datetime
    household_id: str | None
    email: str
    phone: str
    custom: dict[str, Any]


class GenEntry(NamedTuple):
    """One ledger entry, with amounts in whole cents (points and units are whole numbers).

    A named tuple: the bulk paths make millions of them.
    """

    key: str
    member_id: str
    kind: EntryKind
    occurred_at: datetime
    points: int
    spend_cents: int
    units: int
    business_unit: str | None
    behaviour_type: str | None
    items: tuple[tuple[str, str, int, int], ...]
    """(sku, category, quantity, amount in cents)."""
    achievement_id: str | None = None
    reverses: str | None = None
    """The key (and bulk-loaded id) of the purchase a refund reverses."""


def member_id(index: int) -> str:
    return f"M{index:07d}"


def _rng(shape: Shape, index: int, stream: int) -> random.Random:
    return random.Random(shape.seed * 7_919 + index * 4 + stream)


def member(shape: Shape, index: int) -> GenMember:
    rng = _rng(shape, index, 0)
    # Pairs (2k, 2k+1) are one household with probability `household_share`.
    pair = index // 2
    household = _rng(shape, pair, 3).random() < shape.household_share
    # 70% enrolled 1-3 years before the end, the rest within the last year.
    days = rng.uniform(366, 1095) if rng.random() < 0.7 else rng.uniform(20, 365)
    enrolled = shape.end - timedelta(seconds=int(days * _DAY))
    mid = member_id(index)
    return GenMember(
        index=index,
        id=mid,
        enrolled_at=enrolled,
        household_id=f"H{pair:07d}" if household else None,
        email=f"{mid.lower()}@example.com",
        phone=f"+614{rng.randrange(100_000_000):08d}",
        custom={"segment": rng.choice(("retail", "online", "vip", "staff")), "n": index},
    )


def members(shape: Shape) -> Iterator[GenMember]:
    for index in range(shape.first, shape.first + shape.members):
        yield member(shape, index)


def member_entries(shape: Shape, person: GenMember) -> list[GenEntry]:
    """The member's entries in time order (ties broken by key)."""
    rng = _rng(shape, person.index, 1)
    start = person.enrolled_at
    span = (shape.end - start).total_seconds()
    purchases = max(0.0, shape.entries_per_member - _ACHIEVEMENTS_MEAN) / (1 + _REFUND_SHARE)
    rate = purchases / _MEAN_SPAN * rng.lognormvariate(0, _RATE_SIGMA) / _RATE_MEAN
    count = _poisson(rng, rate * span)
    random = rng.random
    times = sorted(int(random() * span) for _ in range(count))
    mid = person.id
    out: list[GenEntry] = []
    n = 0
    for offset in times:
        n += 1
        at = start + timedelta(seconds=offset)
        purchase = _purchase(random, f"{mid}-{n:04d}", mid, at)
        out.append(purchase)
        if random() < _REFUND_SHARE:
            back = at + timedelta(seconds=int(_DAY * (1 + 20 * random()) + _DAY / 4 * random()))
            if back < shape.end:
                n += 1
                out.append(_refund(purchase, f"{mid}-{n:04d}", back))
    for name, points, share in _ACHIEVEMENTS:
        if random() < share:
            n += 1
            at = start + timedelta(seconds=int(random() * span))
            out.append(
                GenEntry(
                    key=f"{mid}-{n:04d}",
                    member_id=mid,
                    kind=EntryKind.ACHIEVEMENT,
                    occurred_at=at,
                    points=points,
                    spend_cents=0,
                    units=0,
                    business_unit=None,
                    behaviour_type="achievement",
                    items=(),
                    achievement_id=name,
                )
            )
    out.sort(key=lambda e: (e.occurred_at, e.key))
    return out


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 60:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _purchase(random: Callable[[], float], key: str, mid: str, at: datetime) -> GenEntry:
    # Log-normal basket: exp(mu + sigma * z), z from the Box-Muller transform on two uniforms.
    z = math.sqrt(-2.0 * math.log(1.0 - random())) * math.cos(math.tau * random())
    total = min(1800.0, max(4.95, _MEDIAN_BASKET * math.exp(_BASKET_SIGMA * z)))
    u = random()
    count = (
        1 if u < _ITEM_COUNTS[0] else 2 if u < _ITEM_COUNTS[1] else 3 if u < _ITEM_COUNTS[2] else 4
    )
    shares = [random() + 0.2 for _ in range(count)]
    whole = sum(shares)
    items = []
    spend = units = 0
    for share in shares:
        category, skus = _CATALOGUE[int(random() * len(_CATALOGUE))]
        quantity = 1 if random() < 0.8 else 2 if random() < 0.75 else 3
        amount = round(total * 100 * share / whole)
        items.append((skus[int(random() * len(skus))], category, quantity, amount))
        spend += amount
        units += quantity
    online = random() < 0.35
    return GenEntry(
        key,
        mid,
        EntryKind.PURCHASE,
        at,
        spend // 100,
        spend,
        units,
        "online" if online else "stores",
        "click_and_collect" if online and random() < 0.2 else "purchase",
        tuple(items),
    )


def _refund(purchase: GenEntry, key: str, at: datetime) -> GenEntry:
    return GenEntry(
        key=key,
        member_id=purchase.member_id,
        kind=EntryKind.REFUND,
        occurred_at=at,
        points=-purchase.points,
        spend_cents=-purchase.spend_cents,
        units=-purchase.units,
        business_unit=purchase.business_unit,
        behaviour_type="return",
        items=tuple((s, c, -q, -a) for s, c, q, a in purchase.items),
        reverses=purchase.key,
    )


# -- service commands ---------------------------------------------------------------------------


def _cents(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


def enrol_command(person: GenMember) -> EnrolMember:
    return EnrolMember(
        id=person.id,
        program_id=PROGRAM_ID,
        email=person.email,
        phone=person.phone,
        custom=person.custom,
        household_id=person.household_id,
        enrolled_at=person.enrolled_at,
    )


def activity_command(entry: GenEntry) -> RecordActivity:
    return RecordActivity(
        member_id=entry.member_id,
        program_id=PROGRAM_ID,
        occurred_at=entry.occurred_at,
        idempotency_key=entry.key,
        kind=entry.kind,
        points=Decimal(entry.points),
        spend=_cents(entry.spend_cents),
        units=Decimal(entry.units),
        business_unit=entry.business_unit,
        behaviour_type=entry.behaviour_type,
        items=tuple(Item(s, c, Decimal(q), _cents(a)) for s, c, q, a in entry.items),
        achievement_id=entry.achievement_id,
        reverses=entry.reverses,
    )


def activity_json(entry: GenEntry) -> dict[str, Any]:
    """The entry as a SPEC §4 activity body (and a `tierbook import` JSON Lines row)."""
    body: dict[str, Any] = {
        "member_id": entry.member_id,
        "program_id": PROGRAM_ID,
        "occurred_at": entry.occurred_at.isoformat().replace("+00:00", "Z"),
        "idempotency_key": entry.key,
        "kind": entry.kind.value,
        "points": str(entry.points),
        "spend": str(_cents(entry.spend_cents)),
        "units": str(entry.units),
    }
    if entry.business_unit is not None:
        body["business_unit"] = entry.business_unit
    if entry.behaviour_type is not None:
        body["behaviour_type"] = entry.behaviour_type
    if entry.items:
        body["items"] = [
            {"sku": s, "category": c, "quantity": str(q), "amount": str(_cents(a))}
            for s, c, q, a in entry.items
        ]
    if entry.achievement_id is not None:
        body["achievement_id"] = entry.achievement_id
    if entry.reverses is not None:
        body["reverses"] = entry.reverses
    return body


@dataclass(frozen=True, slots=True)
class Dataset:
    members: list[GenMember]
    entries: list[GenEntry]
    """Every member's entries, in time order across members (ties broken by key)."""


def dataset(shape: Shape) -> Dataset:
    """A whole (small) population in memory, its entries merged into one time order."""
    people = list(members(shape))
    entries = [e for p in people for e in member_entries(shape, p)]
    entries.sort(key=lambda e: (e.occurred_at, e.key))
    return Dataset(members=people, entries=entries)


def commands(shape: Shape) -> tuple[list[EnrolMember], list[RecordActivity]]:
    """Enrolments and activities for the service layer, each list in time order."""
    data = dataset(shape)
    enrolments = sorted(data.members, key=lambda p: (p.enrolled_at, p.id))
    return [enrol_command(p) for p in enrolments], [activity_command(e) for e in data.entries]


def summary(data: Dataset) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for entry in data.entries:
        kinds[entry.kind.value] = kinds.get(entry.kind.value, 0) + 1
    households = {p.household_id for p in data.members} - {None}
    return {
        "members": len(data.members),
        "households": len(households),
        "entries": len(data.entries),
        "kinds": dict(sorted(kinds.items())),
        "first_entry": min((e.occurred_at for e in data.entries), default=None),
        "last_entry": max((e.occurred_at for e in data.entries), default=None),
    }
