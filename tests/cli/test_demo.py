"""The demo: a seeded plan of members and activity, loaded through the service layer."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.cli.conftest import Cli
from tierbook.demo import (
    DEMO_MEMBER_ID,
    DEMO_PROGRAM_ID,
    DEMO_TENANT,
    SEED,
    is_loaded,
    load_demo,
    plan,
)
from tierbook.domain.ledger import EntryKind
from tierbook.service import queries

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_the_plan_is_a_pure_function_of_its_seed_and_now() -> None:
    assert plan(SEED, NOW) == plan(SEED, NOW)
    assert plan(SEED + 1, NOW) != plan(SEED, NOW)


def test_the_plan_has_realistic_members() -> None:
    the_plan = plan(SEED, NOW)
    people = [e.command for e in the_plan.enrolments]
    assert len(people) == 50
    assert len({p.email for p in people}) == 50
    assert all(re.fullmatch(r"\+614\d{8}", str(p.phone)) for p in people)
    assert all(p.custom["first_name"] and p.custom["last_name"] for p in people)
    households = {p.household_id for p in people} - {None}
    assert len(households) >= 5
    assert all(e.at < NOW for e in the_plan.enrolments)


def test_the_plan_has_a_year_of_activity_up_to_now() -> None:
    the_plan = plan(SEED, NOW)
    enrolled = {e.command.id: e.at for e in the_plan.enrolments}
    entries = the_plan.entries
    assert all(enrolled[e.member_id] < e.occurred_at < NOW for e in entries)
    assert min(e.occurred_at for e in entries) >= NOW - timedelta(days=366)
    keys = {e.idempotency_key for e in entries}
    assert len(keys) == len(entries)
    kinds = {kind: [e for e in entries if e.kind is kind] for kind in EntryKind}
    assert len(kinds[EntryKind.PURCHASE]) > 500
    assert kinds[EntryKind.REFUND]
    assert all(r.reverses in keys and r.points < 0 for r in kinds[EntryKind.REFUND])
    assert {a.achievement_id for a in kinds[EntryKind.ACHIEVEMENT]} >= {"profile_complete"}
    amounts = sorted(e.spend for e in kinds[EntryKind.PURCHASE])
    assert amounts[len(amounts) // 2] < sum(amounts) / len(amounts)  # right-skewed, like spend


def test_load_demo_writes_the_plan_through_the_service_layer(cli: Cli) -> None:
    container = cli.container()
    try:
        assert not is_loaded(container)
        summary = load_demo(container, now=NOW)
        assert is_loaded(container)
        the_plan = plan(SEED, NOW)
        assert summary.tenant_id == DEMO_TENANT
        assert summary.program_id == DEMO_PROGRAM_ID
        assert summary.members == 50
        assert summary.entries == len(the_plan.entries)
        assert summary.refunds == sum(e.kind is EntryKind.REFUND for e in the_plan.entries)
        assert set(summary.tiers) == {"STATUS", "FAMILY", "LIFETIME"}
        assert sum(summary.tiers["STATUS"].values()) == 50
        assert len(summary.tiers["STATUS"]) >= 3  # a spread of tiers, not everyone on one
        with container.uow_factory(write=False) as uow:
            member_ids = [str(e.command.id) for e in the_plan.enrolments]
            assert len(uow.ledger.for_members(DEMO_TENANT, DEMO_PROGRAM_ID, member_ids)) == len(
                the_plan.entries
            )
            views = queries.member_tiers(
                uow, container.clock, tenant_id=DEMO_TENANT, member_id=DEMO_MEMBER_ID, as_of=NOW
            )
        status = next(v for v in views if v.group.code == "STATUS")
        assert status.state.tier_id is not None
        assert status.group.rules.tier_by_id(status.state.tier_id).handle in {"gold", "platinum"}
        family = next(v for v in views if v.group.code == "FAMILY")
        assert family.subject_id == views[0].member.household_id
    finally:
        container.close()
    shown = cli("tier", DEMO_MEMBER_ID, "--tenant", DEMO_TENANT)
    assert "Olivia Chen" in shown.stdout
    assert "Family Spend" in shown.stdout
