"""Service results as the native API's JSON: plain dicts that `JsonResponse` writes.

Built by hand rather than through the response models, so the hot read (`member_tiers`) pays
for no validation; `schemas` documents the same shapes for OpenAPI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from tierbook.domain.ledger import Entry
from tierbook.domain.state import ActiveAssignment, Assignment, Decision, HistoryRecord
from tierbook.service.activities import Outcome
from tierbook.service.documents import program_to_document
from tierbook.service.model import Delivery, GroupConfig, Member, ProgramConfig, Webhook
from tierbook.service.queries import TierView
from tierbook.service.subjects import TierChange

Json = dict[str, Any]


def tier_ref(group: GroupConfig, tier_id: int | None) -> Json | None:
    if tier_id is None:
        return None
    for tier in group.rules.tiers:
        if tier.id == tier_id:
            return {"id": tier.id, "handle": tier.handle, "name": tier.name, "rank": tier.rank}
    # A tier a forced program change removed still names the history it took part in.
    return {"id": tier_id, "handle": None, "name": None, "rank": None}


def member(m: Member) -> Json:
    return {
        "id": m.id,
        "program_id": m.program_id,
        "email": m.email,
        "phone": m.phone,
        "custom": dict(m.custom),
        "household_id": m.household_id,
        "enrolled_at": m.enrolled_at,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    }


def members(found: Iterable[Member]) -> Json:
    return {"members": [member(m) for m in found]}


def entry(e: Entry) -> Json:
    return {
        "id": e.id,
        "member_id": e.member_id,
        "occurred_at": e.occurred_at,
        "recorded_at": e.recorded_at,
        "idempotency_key": e.idempotency_key,
        "kind": e.kind,
        "points": e.points,
        "spend": e.spend,
        "units": e.units,
        "business_unit": e.business_unit,
        "behaviour_type": e.behaviour_type,
        "items": [
            {"sku": i.sku, "category": i.category, "quantity": i.quantity, "amount": i.amount}
            for i in e.items
        ],
        "achievement_id": e.achievement_id,
        "reverses": e.reverses,
        "meta": dict(e.meta),
    }


def change(group: GroupConfig, subject_id: str, record: HistoryRecord) -> Json:
    return {
        "group_id": group.id,
        "subject_id": subject_id,
        "at": record.at,
        "reason": record.reason,
        "from": tier_ref(group, record.from_tier_id),
        "to": tier_ref(group, record.to_tier_id),
        "figures": dict(record.figures),
    }


def changes(programs: Mapping[int, ProgramConfig], found: Sequence[TierChange]) -> list[Json]:
    out = []
    for c in found:
        group = programs[c.program_id].group(c.group_id)
        assert group is not None, "a change names a group of its program"
        out.append(change(group, c.subject_id, c.record))
    return out


def recorded(outcome: Outcome, programs: Mapping[int, ProgramConfig]) -> Json:
    """One entry recorded (`POST /v1/activities`)."""
    (one,) = outcome.entries
    return {
        "entry": entry(one.entry),
        "created": one.created,
        "changes": changes(programs, outcome.changes),
    }


def batch(outcome: Outcome, programs: Mapping[int, ProgramConfig]) -> Json:
    """A batch recorded: each entry named, not repeated whole (a batch may hold 10,000)."""
    results = [
        {
            "id": r.entry.id,
            "member_id": r.entry.member_id,
            "idempotency_key": r.entry.idempotency_key,
            "created": r.created,
        }
        for r in outcome.entries
    ]
    created = sum(r.created for r in outcome.entries)
    return {
        "results": results,
        "created": created,
        "replayed": len(results) - created,
        "changes": changes(programs, outcome.changes),
    }


def assignment(group: GroupConfig, a: Assignment | ActiveAssignment) -> Json:
    out: Json = {
        "id": a.id,
        "tier": tier_ref(group, a.tier_id),
        "mode": a.mode,
        "until": a.until,
        "reason": a.reason,
        "assigned_at": a.assigned_at,
    }
    if isinstance(a, Assignment):
        out["effective_at"] = a.effective_at
    return out


def assigned(group: GroupConfig, a: Assignment, found: Sequence[TierChange]) -> Json:
    return {
        "assignment": assignment(group, a),
        "changes": [change(group, c.subject_id, c.record) for c in found],
    }


def ended(group: GroupConfig, found: Sequence[TierChange]) -> Json:
    return {"changes": [change(group, c.subject_id, c.record) for c in found]}


def tier_state(view: TierView) -> Json:
    group, s = view.group, view.state
    f = s.figures
    window_from, window_to = view.window
    return {
        "group": {
            "id": group.id,
            "code": group.code,
            "name": group.name,
            "metric": group.rules.metric,
        },
        "subject_id": view.subject_id,
        "tier": tier_ref(group, s.tier_id),
        "prev_tier": tier_ref(group, s.prev_tier_id),
        "reason": s.last_reason,
        "achieved_at": s.achieved_at,
        "anniversary_at": s.anniversary_at,
        "maintained_at": s.maintained_at,
        "grace_until": s.grace_until,
        "assigned_at": s.assigned_at,
        "credit": s.credit,
        "assignment": None if s.assignment is None else assignment(group, s.assignment),
        "window": {"value": f.window_value, "from": window_from, "to": window_to},
        "progress": f.progress,
        "remain_to_keep": f.remain_to_keep,
        "next_tier": tier_ref(group, f.next_tier_id),
        "remain_to_next": f.remain_to_next,
        "total_points_12m": f.total_points_12m,
        "total_points_achievement": f.total_points_achievement,
        "next_progress_change_at": f.next_progress_change_at,
        "next_due_at": s.next_due_at,
    }


def member_tiers(member_id: str, as_of: datetime, views: Sequence[TierView]) -> Json:
    return {
        "member_id": member_id,
        "program_id": views[0].program.id if views else None,
        "as_of": as_of,
        "tiers": [tier_state(v) for v in views],
    }


def history(view: TierView, records: Iterable[HistoryRecord], as_of: datetime) -> Json:
    return {
        "member_id": view.member.id,
        "group_id": view.group.id,
        "subject_id": view.subject_id,
        "as_of": as_of,
        "changes": [change(view.group, view.subject_id, r) for r in records],
    }


def explain(
    view: TierView,
    records: Iterable[HistoryRecord],
    decisions: Iterable[Decision],
    as_of: datetime,
) -> Json:
    out = history(view, records, as_of)
    out["state"] = tier_state(view)
    out["decisions"] = [
        {"at": d.at, "rule": d.rule, "outcome": d.outcome, "message": d.message, "values": d.values}
        for d in decisions
    ]
    return out


def program(p: ProgramConfig) -> Json:
    """The §3 document as tierbook keeps it (thresholds as exact decimal strings)."""
    return program_to_document(p)


def programs(found: Iterable[ProgramConfig]) -> Json:
    return {"programs": [program(p) for p in found]}


def group_tiers(p: ProgramConfig, group_id: int) -> Json:
    document = program(p)
    group = next(g for g in document["groups"] if g["id"] == group_id)
    return {"program_id": p.id, "group_id": group_id, "tiers": group["tiers"]}


def webhook(w: Webhook, *, secret: bool = False) -> Json:
    out: Json = {
        "id": w.id,
        "url": w.url,
        "events": sorted(w.events),
        "created_at": w.created_at,
        "disabled_at": w.disabled_at,
    }
    if secret:
        out["secret"] = w.secret
    return out


def deliveries(webhook_id: str, found: Iterable[Delivery]) -> Json:
    return {
        "webhook_id": webhook_id,
        "deliveries": [
            {
                "event_id": d.event.id,
                "event_type": d.event.type,
                "status": d.status,
                "attempts": d.attempts,
                "next_attempt_at": d.next_attempt_at,
                "delivered_at": d.delivered_at,
                "failed_at": d.failed_at,
                "last_status": d.last_status,
                "last_error": d.last_error,
            }
            for d in found
        ],
    }
