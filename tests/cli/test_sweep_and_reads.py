"""`tierbook sweep`, `tierbook tier` and `tierbook explain`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.cli.conftest import TENANT, Cli
from tierbook.service import activities
from tierbook.service.clocks import FixedClock
from tierbook.service.commands import RecordActivity


def test_sweep_moves_due_states_forward_and_a_second_sweep_changes_nothing(
    cli_on: Cli, tmp_path: Path
) -> None:
    cli_on.program(tmp_path)
    now = datetime.now(UTC)
    # Stored when they enrolled, 800 days ago: two anniversaries have passed since.
    cli_on.enrol(["m1", "m2"], now - timedelta(days=800))
    as_of = (now - timedelta(days=400)).replace(microsecond=0)
    first = cli_on("sweep", "--as-of", as_of.isoformat())
    assert first.stdout.startswith(
        f"sweep as of {as_of.isoformat().replace('+00:00', 'Z')}: 2 states moved forward, "
        "2 tier changes"
    )
    assert "sweeping" in first.stderr
    second = cli_on("sweep")
    assert second.stdout.startswith("sweep: 2 states moved forward, 2 tier changes")
    assert cli_on("sweep").stdout.startswith("sweep: 0 states moved forward, 0 tier changes")


def test_sweep_refuses_an_instant_in_the_future(cli: Cli) -> None:
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    assert cli("sweep", "--as-of", future, code=1).stderr == "error: as_of is in the future\n"
    assert "no UTC offset" in cli("sweep", "--as-of", "2025-01-01T00:00:00", code=2).stderr


@pytest.fixture
def worked_example(cli: Cli, tmp_path: Path) -> Cli:
    """SPEC §2's worked example: enrolled 2025-01-10, Silver from 2025-05-01."""
    cli.program(tmp_path)
    cli.enrol(["m1"], datetime(2025, 1, 10, 10, tzinfo=UTC))
    container = cli.container(FixedClock(datetime(2025, 9, 1, 11, tzinfo=UTC)))
    try:
        with container.uow_factory() as uow:
            activities.record(
                uow,
                container.clock,
                tenant_id=TENANT,
                commands=[
                    RecordActivity(
                        member_id="m1",
                        occurred_at=datetime(2025, month, 1, 10, tzinfo=UTC),
                        idempotency_key=f"tx-{month}",
                        points=Decimal(points),
                    )
                    for month, points in ((3, 600), (5, 600), (9, 500))
                ],
            )
            uow.commit()
    finally:
        container.close()
    return cli


def test_tier_shows_each_group_as_a_table(worked_example: Cli) -> None:
    result = worked_example("tier", "m1", "-t", TENANT, "--as-of", "2025-09-01T10:00:00Z")
    assert result.stdout.startswith("m1 <m1@example.com> in ACME Rewards\n")
    for text in ("Status (10)", "Silver", "2025-05-01", "1700 points", "progress 500",
                 "300 more", "next check", "2026-05-01", "Gold", "800 to go"):  # fmt: skip
        assert text in result.stdout, text


def test_tier_as_json_carries_the_worked_example_figures(worked_example: Cli) -> None:
    result = worked_example(
        "tier", "m1", "-t", TENANT, "--group", "STATUS", "--as-of", "2025-09-01T10:00:00Z", "--json"
    )
    (state,) = json.loads(result.stdout)
    assert state["tier"]["handle"] == "silver"
    assert state["prev_tier"]["handle"] == "bronze"
    assert state["achieved_at"] == "2025-05-01T10:00:00Z"
    assert state["anniversary_at"] == "2026-05-01T13:59:59Z"  # 23:59:59 in Melbourne
    assert state["credit"] == "200"
    assert state["progress"] == "500"
    assert state["remain_to_keep"] == "300"
    assert state["window"]["value"] == "1700"
    assert state["next_tier"]["handle"] == "gold"
    assert state["remain_to_next"] == "800"


def test_tier_reads_any_instant(worked_example: Cli) -> None:
    before = worked_example("tier", "m1", "-t", TENANT, "--as-of", "2025-04-01T00:00:00Z", "--json")
    assert json.loads(before.stdout)[0]["tier"]["handle"] == "bronze"


def test_explain_lists_the_decisions_in_order(worked_example: Cli) -> None:
    result = worked_example("explain", "m1", "-t", TENANT, "--as-of", "2025-09-01T10:00:00Z")
    assert "decisions, in order" in result.stdout
    assert result.stdout.index("enrolled on bronze") < result.stdout.index("silver")
    explained = json.loads(
        worked_example(
            "explain", "m1", "-t", TENANT, "-g", "10", "--as-of", "2025-09-01T10:00:00Z", "--json"
        ).stdout
    )
    assert explained["decisions"][0]["outcome"] == "enrolled"
    assert [h["reason"] for h in explained["history"]] == ["enrolled", "qualified"]
    assert explained["history"][1]["to"]["handle"] == "silver"
    assert explained["state"]["tier"]["handle"] == "silver"
    times = [d["at"] for d in explained["decisions"]]
    assert times == sorted(times)


def test_reads_of_an_unknown_member_or_group_fail_in_one_line(worked_example: Cli) -> None:
    assert worked_example("tier", "ghost", "-t", TENANT, code=1).stderr == (
        "error: no member 'ghost'\n"
    )
    assert worked_example("explain", "m1", "-t", TENANT, "-g", "99", code=1).stderr == (
        "error: program 123 has no group 99\n"
    )
    assert (
        "no active group 'VIP'"
        in worked_example("tier", "m1", "-t", TENANT, "-g", "VIP", code=1).stderr
    )
    assert worked_example("tier", "m1", "--as-of", "yesterday", code=2).stdout == ""
