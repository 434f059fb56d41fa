"""Inputs for the translator tests: a program from the HTTP tests' document, states straight
from the tier clock (`evaluate`), and the error shape every renderer receives."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tests.dialects.conftest import PROGRAM, STATUS, at
from tierbook.domain.clock import evaluate
from tierbook.domain.ledger import Entry
from tierbook.domain.state import HistoryRecord, Reason
from tierbook.service.documents import program_from_document
from tierbook.service.model import Member, ProgramConfig
from tierbook.service.queries import TierView

ENROLLED = at("2025-01-10 10:00")


@dataclass(frozen=True)
class Error:
    """What a renderer receives (the shape of `api.errors.ApiError`)."""

    status: int
    code: str
    message: str
    field: str | None = None
    details: Any = None


def program(document: dict[str, Any] = PROGRAM) -> ProgramConfig:
    return program_from_document(document)


def view(
    group_id: int = STATUS,
    entries: list[tuple[str, dict[str, Any]]] | None = None,
    as_of: str = "2025-10-01 00:00",
    config: ProgramConfig | None = None,
) -> tuple[TierView, tuple[HistoryRecord, ...]]:
    config = config or program()
    group = config.group(group_id)
    assert group is not None
    ledger = [
        Entry(
            id=f"e{i}",
            member_id="m1",
            occurred_at=at(when),
            **{
                k: Decimal(str(v)) if k in ("points", "spend", "units") else v
                for k, v in amounts.items()
            },
        )
        for i, (when, amounts) in enumerate(entries or [])
    ]
    evaluation = evaluate(
        group.rules, subject_id="m1", enrolled_at=ENROLLED, entries=ledger, as_of=at(as_of)
    )
    member = Member(tenant_id="t", id="m1", program_id=config.id, enrolled_at=ENROLLED)
    return TierView(member, config, group, "m1", evaluation.state), evaluation.history


WORKED = [
    ("2025-03-01 10:00", {"points": 600}),
    ("2025-05-01 10:00", {"points": 600}),
    ("2025-09-01 10:00", {"points": 500}),
]


def history(*changes: tuple[str, int | None, int | None, Reason]) -> tuple[HistoryRecord, ...]:
    return tuple(HistoryRecord(at(when), old, new, reason) for when, old, new, reason in changes)
