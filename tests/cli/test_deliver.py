"""`tierbook deliver`: tier events to the registered webhooks, from the command line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.cli.conftest import Cli
from tests.receiver import Receiver
from tierbook.service import webhooks


def test_deliver_once_sends_what_is_due_and_reports_it(cli_on: Cli, tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        cli_on.program(tmp_path)
        hook = cli_on.webhook(receiver.url)
        cli_on.enrol(["m1", "m2"], datetime.now(UTC) - timedelta(hours=1))
        first = cli_on("deliver", "--once")
        assert first.stdout.startswith(
            "deliver: 2 events handed over, 2 delivered, 0 to retry, 0 given up"
        )
        assert sorted(e["data"]["subject_id"] for e in receiver.events()) == ["m1", "m2"]
        for headers, body in receiver.received:
            assert webhooks.verify_signature(
                hook.secret, headers["tierbook-signature"], body, datetime.now(UTC)
            )
        second = cli_on("deliver", "--once")
        assert second.stdout.startswith("deliver: 0 events handed over, 0 delivered")
    finally:
        receiver.close()
