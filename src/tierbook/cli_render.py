"""What the CLI shows: tier states as Rich tables or JSON, explanations, keys, demo curl lines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from rich.table import Table

from tierbook.domain.rules import MaintenanceKind, Tier
from tierbook.domain.state import Decision, HistoryRecord
from tierbook.service.model import ApiKey, GroupConfig
from tierbook.service.queries import TierView


def num(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local(value: datetime | None, timezone: str) -> str:
    """An instant as the program's local time, for people."""
    if value is None:
        return "-"
    return value.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def _utc(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _tier(group: GroupConfig, tier_id: int | None) -> Tier | None:
    return None if tier_id is None else group.rules.tier_by_id(tier_id)


def _tier_json(tier: Tier | None) -> dict[str, Any] | None:
    if tier is None:
        return None
    return {"id": tier.id, "handle": tier.handle, "name": tier.name, "rank": tier.rank}


def _name(tier: Tier | None) -> str:
    return "(none)" if tier is None else tier.name


def view_json(view: TierView) -> dict[str, Any]:
    """A member's state in one group, with §1 names; decimals as strings, instants in UTC."""
    state, group, figures = view.state, view.group, view.state.figures
    window_from, window_to = view.window
    assignment = state.assignment
    return {
        "member_id": view.member.id,
        "program_id": view.program.id,
        "group_id": group.id,
        "group_code": group.code,
        "group_name": group.name,
        "subject_id": view.subject_id,
        "as_of": rfc3339(view.as_of),
        "tier": _tier_json(_tier(group, state.tier_id)),
        "prev_tier": _tier_json(_tier(group, state.prev_tier_id)),
        "achieved_at": rfc3339(state.achieved_at),
        "anniversary_at": rfc3339(state.anniversary_at),
        "maintained_at": rfc3339(state.maintained_at),
        "credit": num(state.credit),
        "grace_until": rfc3339(state.grace_until),
        "assigned_at": rfc3339(state.assigned_at),
        "assignment": None
        if assignment is None
        else {
            "tier_id": assignment.tier_id,
            "mode": assignment.mode.value,
            "until": rfc3339(assignment.until),
            "reason": assignment.reason,
            "assigned_at": rfc3339(assignment.assigned_at),
        },
        "window": {
            "from": rfc3339(window_from),
            "to": rfc3339(window_to),
            "metric": group.rules.metric.value,
            "value": num(figures.window_value),
        },
        "progress": num(figures.progress),
        "remain_to_keep": num(figures.remain_to_keep),
        "next_tier": _tier_json(_tier(group, figures.next_tier_id)),
        "remain_to_next": num(figures.remain_to_next),
        "total_points_12m": num(figures.total_points_12m),
        "total_points_achievement": num(figures.total_points_achievement),
        "next_due_at": rfc3339(state.next_due_at),
    }


def member_line(view: TierView) -> str:
    member, custom = view.member, view.member.custom
    name = " ".join(str(custom[k]) for k in ("first_name", "last_name") if custom.get(k))
    who = f"{member.id}" + (f" ({name})" if name else "")
    contact = ", ".join(x for x in (member.email, member.phone) if x)
    household = f", household {member.household_id}" if member.household_id else ""
    return f"{who}{' <' + contact + '>' if contact else ''}{household} in {view.program.name}"


def _day(value: datetime | None, timezone: str) -> str:
    return "-" if value is None else value.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d")


def tiers_table(views: Sequence[TierView]) -> Table:
    """One row per group: the tier and since when, the window, what keeps it, what is next."""
    timezone = views[0].program.timezone
    table = Table(title=f"as of {local(views[0].as_of, timezone)}", title_justify="left")
    for column in ("Group", "Tier", "Window", "To keep", "Next tier"):
        table.add_column(column, overflow="fold")
    for view in views:
        state, group, figures = view.state, view.group, view.state.figures
        metric = group.rules.metric.value
        tier = _name(_tier(group, state.tier_id)) + f"\nsince {_day(state.achieved_at, timezone)}"
        if state.assignment is not None:
            tier += f"\n{state.assignment.mode.value} assignment"
        if state.grace_until is not None:
            tier += f"\ngrace until {_day(state.grace_until, timezone)}"
        keep = f"{num(figures.remain_to_keep)} more"
        if group.rules.maintenance.kind is MaintenanceKind.NONE:
            keep = "kept for good"
        elif state.next_due_at is not None:
            keep += f"\nnext check {_day(state.next_due_at, timezone)}"
        nxt = _tier(group, figures.next_tier_id)
        household = f"\nhousehold {view.subject_id}" if view.subject_id != view.member.id else ""
        table.add_row(
            f"{group.name} ({group.id}){household}",
            tier,
            f"{num(figures.window_value)} {metric}\nprogress {num(figures.progress)}",
            keep,
            "top tier" if nxt is None else f"{nxt.name}\n{num(figures.remain_to_next)} to go",
        )
    return table


def explain_json(
    view: TierView, history: Sequence[HistoryRecord], trace: Sequence[Decision]
) -> dict[str, Any]:
    group = view.group
    return {
        "state": view_json(view),
        "history": [
            {
                "at": rfc3339(record.at),
                "from": _tier_json(_tier(group, record.from_tier_id)),
                "to": _tier_json(_tier(group, record.to_tier_id)),
                "reason": record.reason.value,
                "figures": dict(record.figures),
            }
            for record in history
        ],
        "decisions": [
            {
                "at": rfc3339(d.at),
                "rule": d.rule,
                "outcome": d.outcome,
                "message": d.message,
                "values": dict(d.values),
            }
            for d in trace
        ],
    }


def decisions_table(view: TierView, trace: Sequence[Decision]) -> Table:
    timezone = view.program.timezone
    table = Table(title="decisions, in order", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("At", no_wrap=True)
    table.add_column("Rule")
    table.add_column("Outcome")
    table.add_column("Why", overflow="fold")
    for n, decision in enumerate(trace, start=1):
        at = decision.at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")
        table.add_row(str(n), at, decision.rule, decision.outcome, decision.message)
    return table


def keys_table(keys: Sequence[ApiKey]) -> Table:
    table = Table()
    table.add_column("ID", no_wrap=True)
    for column in ("Tenant", "Name", "Scopes", "Created", "Revoked"):
        table.add_column(column, overflow="fold")
    for key in keys:
        table.add_row(
            key.id,
            key.tenant_id,
            key.name,
            ",".join(s for s in ("read", "write", "admin") if s in key.scopes),
            _utc(key.created_at),
            _utc(key.revoked_at),
        )
    return table


def curl_lines(
    base: str, token: str, *, member_id: str, group_id: int, program_id: int, now: datetime
) -> list[tuple[str, str]]:
    """Ready-to-paste requests for the native API and each vendor dialect: (title, command)."""
    key_id, _, secret = token.partition(".")
    bearer = f'-H "Authorization: Bearer {token}"'
    json_type = '-H "Content-Type: application/json"'
    purchase = (
        f'{{"member_id": "{member_id}", "occurred_at": "{rfc3339(now.replace(microsecond=0))}", '
        f'"idempotency_key": "curl-demo-{now:%Y%m%d%H%M%S}", "kind": "purchase", '
        '"points": 800, "spend": 800.00, "business_unit": "online"}'
    )
    read_token = 'import json, sys; print(json.load(sys.stdin)["access_token"])'
    # A correlation id is never reused, so each run of the demo prints its own.
    session = f"demo-{now:%Y%m%d%H%M%S}"
    altcraft = (
        f'{{"loyalty_program_id": {program_id}, "tiers_group_id": {group_id}, '
        f'"matching": "profile_id", "profile_id": "{member_id}", "token": "{token}"}}'
    )
    return [
        (
            "Native API: the member's tiers in every group",
            f"curl -s {bearer} {base}/v1/members/{member_id}/tiers",
        ),
        (
            "Native API: why the member holds this tier",
            f"curl -s {bearer} {base}/v1/members/{member_id}/tiers/{group_id}/explain",
        ),
        (
            "Native API: record a purchase (and see the tier changes it causes)",
            f"curl -s -X POST {bearer} {json_type} -d '{purchase}' {base}/v1/activities",
        ),
        (
            "Omneo: the profile's tier",
            f"curl -s {bearer} {base}/api/v3/profiles/{member_id}/tiers",
        ),
        (
            "Altcraft: tiers reached in a tiers group (token in the body)",
            f"curl -s -X POST {json_type} -d '{altcraft}' {base}/api/v1.1/loyalty/account/tiers",
        ),
        (
            "SessionM: the app's tiers (HTTP Basic ID:SECRET)",
            f"curl -s -u '{key_id}:{secret}' {base}/priv/v1/apps/{key_id}/tiers",
        ),
        (
            "Exchange Solutions: a bearer token, a session on the member, its membership",
            "\n".join(
                (
                    "ES_TOKEN=$(curl -s -X POST -d grant_type=client_credentials "
                    f"-d 'client_id={key_id}' -d 'client_secret={secret}' {base}/oauth/token "
                    f"| python3 -c '{read_token}')",
                    f'curl -s -X POST -H "Authorization: Bearer $ES_TOKEN" {json_type} '
                    f'-d \'{{"correlationId": "{session}"}}\' '
                    f"{base}/client/users/{member_id}/sessions",
                    f'curl -s -H "Authorization: Bearer $ES_TOKEN" '
                    f"{base}/client/users/{session}/membership",
                )
            ),
        ),
    ]
