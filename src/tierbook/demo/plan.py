"""The demo's data: 50 members and a year of their activity, as a pure function of a seed.

`plan(seed, now)` gives the same members, entries and assignment for the same seed and `now`:
purchases arrive as a Poisson process per member (rates spread log-normally), basket sizes are
log-normal, about 4% of purchases are refunded (with `reverses`), and some members earn
achievements. Nothing here touches a database.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tierbook.domain.ledger import EntryKind, Item
from tierbook.domain.state import AssignmentMode
from tierbook.service.commands import AssignTier, EnrolMember, RecordActivity

DEMO_PROGRAM_ID = 123
DEMO_GROUP_ID = 10
DEMO_MEMBER_ID = "M1001"
"""The plan makes this member a heavy, long-standing buyer; the printed curl lines ask about it."""
SEED = 20_250_101
MEMBERS = 50

_TZ = ZoneInfo("Australia/Melbourne")
_CENT = Decimal("0.01")
# fmt: off
_FIRST = (
    "Olivia", "Liam", "Charlotte", "Noah", "Amelia", "Oliver", "Isla", "Jack", "Mia", "William",
    "Ava", "Henry", "Grace", "Leo", "Chloe", "Thomas", "Zoe", "Lucas", "Ruby", "James", "Sophie",
    "Ethan", "Harper", "Mason", "Ella", "Hugo", "Matilda", "Archie", "Willow", "Oscar", "Ivy",
    "Harrison", "Evie", "Samuel", "Aria", "Arlo", "Lily", "Hudson", "Sienna", "Xavier", "Priya",
    "Arjun", "Mei", "Wei", "Aisha", "Omar", "Sofia", "Mateo", "Ngaio", "Tane",
)
_LAST = (
    "Chen", "Smith", "Nguyen", "Williams", "Brown", "Jones", "Kelly", "Singh", "Taylor", "Wilson",
    "Patel", "Martin", "Anderson", "Thompson", "White", "Walker", "Harris", "Tran", "Lee", "Ryan",
    "Robinson", "Wright", "Mitchell", "Murphy", "Hughes", "Rossi", "Papadopoulos", "Kaur", "Ali",
    "Morgan",
)
# fmt: on
_STATES = ("VIC", "VIC", "VIC", "NSW", "NSW", "QLD", "SA", "WA", "TAS", "ACT")
_STORES = ("Melbourne Central", "Chadstone", "Bourke Street", "Highpoint", "Doncaster", "Geelong")
_CATALOGUE = {
    "apparel": ("APP-1001", "APP-1002", "APP-1017", "APP-1042", "APP-1105"),
    "footwear": ("FTW-2001", "FTW-2010", "FTW-2024"),
    "homewares": ("HOM-3003", "HOM-3011", "HOM-3050", "HOM-3077"),
    "beauty": ("BTY-4002", "BTY-4019", "BTY-4020"),
    "electronics": ("ELE-5005", "ELE-5012"),
}
_ACHIEVEMENTS = (("profile_complete", 100, 0.6), ("app_download", 50, 0.4))
_REVIEW_POINTS = 25


@dataclass(frozen=True, slots=True)
class Enrolment:
    at: datetime
    command: EnrolMember


@dataclass(frozen=True, slots=True)
class Plan:
    enrolments: tuple[Enrolment, ...]
    entries: tuple[RecordActivity, ...]
    assignments: tuple[AssignTier, ...]


def plan(seed: int = SEED, now: datetime | None = None) -> Plan:
    """The demo's members, entries and assignment for a year up to `now`, from `seed`."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    rng = random.Random(seed)
    people = list(_people(rng, now))
    purchases: list[tuple[datetime, dict[str, Any]]] = []
    others: list[RecordActivity] = []
    for person in people:
        start = max(person.enrolled_at, now - timedelta(days=365)) + timedelta(hours=1)
        for when in _arrivals(rng, start, now - timedelta(minutes=30), person.rate):
            purchases.append((when, _basket(rng, person)))
        others += _achievements(rng, person, start, now)
    purchases.sort(key=lambda p: (p[0], p[1]["member_id"]))
    entries: list[RecordActivity] = []
    refunds = 0
    for seq, (when, basket) in enumerate(purchases, start=1):
        key = f"ACME-TX-{seq:06d}"
        entries.append(RecordActivity(occurred_at=when, idempotency_key=key, **basket))
        back = when + timedelta(days=rng.randint(1, 21), hours=rng.randint(0, 6))
        if rng.random() < 0.04 and back < now - timedelta(minutes=30):
            refunds += 1
            entries.append(_refund(basket, back, key, f"ACME-RF-{refunds:06d}"))
    entries += others
    entries.sort(key=lambda e: (e.occurred_at, str(e.idempotency_key)))
    # A long-standing member whom customer care lifted to Gold two months ago.
    vip = next(p for p in people[1:] if p.enrolled_at < now - timedelta(days=90))
    assignment = AssignTier(
        member_id=vip.id,
        group_id=DEMO_GROUP_ID,
        tier="gold",
        mode=AssignmentMode.OVERRIDE,
        reason="Customer care: complaint resolution gesture",
        effective_at=_local(now - timedelta(days=60), 10, 30),
    )
    enrolments = tuple(
        Enrolment(
            at=p.enrolled_at,
            command=EnrolMember(
                id=p.id,
                program_id=DEMO_PROGRAM_ID,
                email=p.email,
                phone=p.phone,
                custom=p.custom,
                household_id=p.household_id,
                enrolled_at=p.enrolled_at,
            ),
        )
        for p in sorted(people, key=lambda p: (p.enrolled_at, p.id))
    )
    return Plan(enrolments=enrolments, entries=tuple(entries), assignments=(assignment,))


@dataclass(frozen=True, slots=True)
class _Person:
    id: str
    email: str
    phone: str
    custom: dict[str, Any]
    household_id: str | None
    enrolled_at: datetime
    rate: float
    """Purchases per month."""
    online: float
    """The share of purchases made online."""


def _people(rng: random.Random, now: datetime) -> Iterator[_Person]:
    first_names = list(_FIRST)
    rng.shuffle(first_names)
    first_names.remove("Olivia")
    first_names.insert(0, "Olivia")
    emails: set[str] = set()
    household: tuple[str, str, int] | None = None  # (id, last name, members left to place)
    households = 0
    for i in range(MEMBERS):
        first = first_names[i % len(first_names)]
        if household is not None and household[2] > 0:
            household_id, last, left = household
            household = (household_id, last, left - 1)
        elif i == 0 or rng.random() < 0.22:
            households += 1
            last = "Chen" if i == 0 else rng.choice(_LAST)
            household_id = f"HH-{households:03d}"
            household = (household_id, last, 1 if i == 0 else rng.choice((1, 1, 2)))
        else:
            household = None
            household_id, last = "", rng.choice(_LAST)
        email = f"{first}.{last}@example.com".lower()
        n = 2
        while email in emails:
            email = f"{first}.{last}{n}@example.com".lower()
            n += 1
        emails.add(email)
        if i == 0:
            # The sample member: a loyal, frequent buyer since long before the year shown.
            days_ago, rate, online = 900, 7.5, 0.5
        elif rng.random() < 0.6:
            days_ago = rng.randint(366, 1100)
            rate, online = _rate(rng), rng.random()
        else:
            days_ago = rng.randint(20, 360)
            rate, online = _rate(rng), rng.random()
        enrolled = _local(now - timedelta(days=days_ago), rng.randint(8, 21), rng.randint(0, 59))
        yield _Person(
            id=f"M{1001 + i}",
            email=email,
            phone=f"+614{rng.randint(0, 99_999_999):08d}",
            custom={
                "first_name": first,
                "last_name": last,
                "state": rng.choice(_STATES),
                "card_number": f"6036{rng.randint(0, 999_999_999_999):012d}",
                "marketing_opt_in": rng.random() < 0.7,
            },
            household_id=household_id or None,
            enrolled_at=enrolled,
            rate=rate,
            online=online,
        )


def _rate(rng: random.Random) -> float:
    return min(8.0, max(0.15, rng.lognormvariate(math.log(1.4), 0.8)))


def _local(day: datetime, hour: int, minute: int) -> datetime:
    """`day`'s date in Melbourne at hour:minute local time, as a UTC instant."""
    local = day.astimezone(_TZ)
    return local.replace(hour=hour, minute=minute, second=0, microsecond=0).astimezone(UTC)


def _arrivals(
    rng: random.Random, start: datetime, end: datetime, rate: float
) -> Iterator[datetime]:
    """Purchase instants as a Poisson process of `rate` a month, in shopping hours."""
    mean_days = 30.4 / rate
    at = start
    while True:
        at += timedelta(days=rng.expovariate(1 / mean_days))
        when = _local(at, rng.randint(9, 20), rng.randint(0, 59))
        if at >= end:
            return
        if start <= when < end:
            yield when


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(_CENT)


def _basket(rng: random.Random, person: _Person) -> dict[str, Any]:
    total = min(1800.0, max(4.95, rng.lognormvariate(math.log(60), 0.8)))
    count = rng.choices((1, 2, 3, 4), weights=(50, 28, 15, 7))[0]
    shares = [rng.random() + 0.2 for _ in range(count)]
    items = []
    for share in shares:
        category = rng.choice(tuple(_CATALOGUE))
        quantity = rng.choices((1, 2, 3), weights=(80, 15, 5))[0]
        items.append(
            Item(
                sku=rng.choice(_CATALOGUE[category]),
                category=category,
                quantity=Decimal(quantity),
                amount=_money(total * share / sum(shares)),
            )
        )
    spend = sum((item.amount for item in items), Decimal(0))
    online = rng.random() < person.online
    meta = (
        {"channel": rng.choice(("web", "app")), "order": f"W{rng.randint(100_000, 999_999)}"}
        if online
        else {"store": rng.choice(_STORES)}
    )
    return {
        "member_id": person.id,
        "program_id": DEMO_PROGRAM_ID,
        "kind": EntryKind.PURCHASE,
        "points": spend.quantize(Decimal(1), rounding=ROUND_DOWN),
        "spend": spend,
        "units": sum((item.quantity for item in items), Decimal(0)),
        "business_unit": "online" if online else "stores",
        "behaviour_type": "click_and_collect" if online and rng.random() < 0.2 else "purchase",
        "items": tuple(items),
        "meta": meta,
    }


def _refund(basket: dict[str, Any], when: datetime, reverses: str, key: str) -> RecordActivity:
    items: tuple[Item, ...] = basket["items"]
    return RecordActivity(
        member_id=basket["member_id"],
        program_id=DEMO_PROGRAM_ID,
        occurred_at=when,
        idempotency_key=key,
        kind=EntryKind.REFUND,
        points=-basket["points"],
        spend=-basket["spend"],
        units=-basket["units"],
        business_unit=basket["business_unit"],
        behaviour_type="return",
        items=tuple(Item(i.sku, i.category, -i.quantity, -i.amount) for i in items),
        reverses=reverses,
        meta={"reason": "change of mind"},
    )


def _achievements(
    rng: random.Random, person: _Person, start: datetime, now: datetime
) -> list[RecordActivity]:
    span = (now - start).total_seconds() - 3600
    if span <= 0:
        return []
    earned: list[tuple[str, int]] = [
        (name, points)
        for name, points, share in _ACHIEVEMENTS
        if person.id == DEMO_MEMBER_ID or rng.random() < share
    ]
    earned += [("product_review", _REVIEW_POINTS)] * rng.choices((0, 1, 2, 3), (60, 25, 10, 5))[0]
    entries = []
    for n, (name, points) in enumerate(earned, start=1):
        when = start + timedelta(seconds=rng.uniform(0, span))
        entries.append(
            RecordActivity(
                member_id=person.id,
                program_id=DEMO_PROGRAM_ID,
                occurred_at=when.replace(microsecond=0),
                idempotency_key=f"ACME-ACH-{person.id}-{n}",
                kind=EntryKind.ACHIEVEMENT,
                points=Decimal(points),
                achievement_id=name,
                behaviour_type="achievement",
            )
        )
    return entries
