"""The `tierbook` command line, driven by Typer's CliRunner (and, where it matters, a process).

`cli` runs commands against a migrated SQLite file of the test's own; `cli_on` against the
`database_url` fixture (SQLite and PostgreSQL). The helpers reach the database through
`bootstrap` and the service layer, as the CLI does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tierbook.adapters.db.migrate import upgrade
from tierbook.bootstrap import Container, bootstrap
from tierbook.cli import app
from tierbook.config import Settings
from tierbook.service import members, webhooks
from tierbook.service.clocks import FixedClock, SystemClock
from tierbook.service.commands import EnrolMember
from tierbook.service.model import Webhook
from tierbook.service.ports import Clock

TENANT = "acme"

# SPEC §3's example.
PROGRAM_YAML = """\
program: {id: 123, code: acme, name: ACME Rewards, timezone: Australia/Melbourne,
          currency: AUD, business_units: [online, stores]}
groups:
  - id: 10
    code: STATUS
    name: Status
    metric: points
    window: {kind: rolling, days: 365}
    maintenance: {kind: anniversary, term_months: 12}
    downgrade: {policy: to_qualifying, grace_days: 0}
    credit: true
    tiers:
      - {id: 1, handle: bronze, name: Bronze, rank: 0, is_floor: true, value_min: 0, value_maintain: 0}
      - {id: 2, handle: silver, name: Silver, rank: 1, value_min: 1000, value_maintain: 1000, is_assignable: true, multiplier: "1.5"}
      - {id: 3, handle: gold, name: Gold, rank: 2, value_min: 2500, value_maintain: 2000, is_assignable: true, multiplier: "2.0"}
"""  # noqa: E501


class Cli:
    """Runs `tierbook ARGS` with TIERBOOK_DATABASE_URL set; checks the exit code."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.runner = CliRunner()

    def __call__(self, *args: str | Path, code: int = 0) -> Result:
        result = self.runner.invoke(
            app,
            [str(a) for a in args],
            env={"TIERBOOK_DATABASE_URL": self.database_url, "TIERBOOK_TENANT": None},
        )
        assert result.exit_code == code, (
            f"exit {result.exit_code} (wanted {code})\nstdout: {result.stdout}\n"
            f"stderr: {result.stderr}\nexception: {result.exception!r}"
        )
        return result

    def container(self, clock: Clock | None = None) -> Container:
        return bootstrap(Settings(database_url=self.database_url), clock=clock or SystemClock())

    def program(self, tmp_path: Path, tenant: str = TENANT) -> Path:
        path = tmp_path / "program.yaml"
        path.write_text(PROGRAM_YAML)
        self("apply", path, "--tenant", tenant)
        return path

    def enrol(self, member_ids: Sequence[str], at: datetime, tenant: str = TENANT) -> None:
        """Enrol members as of `at`, with the clock at `at` (so their states are stored then)."""
        container = self.container(FixedClock(at))
        try:
            with container.uow_factory() as uow:
                for member_id in member_ids:
                    members.enrol(
                        uow,
                        container.clock,
                        tenant_id=tenant,
                        command=EnrolMember(id=member_id, email=f"{member_id}@example.com"),
                    )
                uow.commit()
        finally:
            container.close()

    def webhook(self, url: str, tenant: str = TENANT) -> Webhook:
        """A webhook to `url`, registered a day ago (so it wants what happens from now on)."""
        container = self.container(FixedClock(datetime.now(UTC) - timedelta(days=1)))
        try:
            with container.uow_factory() as uow:
                hook = webhooks.register(uow, container.clock, tenant_id=tenant, url=url)
                uow.commit()
        finally:
            container.close()
        return hook

    def entries(self, member_ids: Sequence[str], tenant: str = TENANT) -> int:
        container = self.container()
        try:
            with container.uow_factory(write=False) as uow:
                (program,) = uow.programs.list(tenant)
                return len(uow.ledger.for_members(tenant, program.id, member_ids))
        finally:
            container.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    return url


@pytest.fixture
def cli(sqlite_url: str) -> Cli:
    return Cli(sqlite_url)


@pytest.fixture
def cli_on(database_url: str) -> Cli:
    return Cli(database_url)


def last_line(text: str) -> str:
    return text.rstrip("\n").rsplit("\n", 1)[-1]
