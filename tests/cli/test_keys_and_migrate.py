"""`tierbook migrate` and `tierbook keys create|list|revoke`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, last_line
from tierbook.cli import app
from tierbook.domain.errors import Unauthenticated
from tierbook.service.auth import authenticate


def test_migrate_brings_a_new_database_to_the_latest_schema(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert "is at the latest schema" in cli("migrate").stdout
    assert "is at the latest schema" in cli("migrate").stdout  # and again: nothing to do
    assert "no keys in tenant default" in cli("keys", "list").stdout


def test_a_command_on_an_unmigrated_database_says_so_in_one_line(tmp_path: Path) -> None:
    result = Cli(f"sqlite:///{tmp_path / 'empty.db'}")("keys", "list", code=1)
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: database:")
    assert "tierbook migrate" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("postgresql+psycopg://postgres@127.0.0.1:1/test", "connection"),
        ("sqlite:////nonexistent-tierbook-directory/tierbook.db", "unable to open database file"),
    ],
)
def test_a_database_that_cannot_be_reached_is_said_in_one_line(url: str, cause: str) -> None:
    result = Cli(url)("keys", "list", code=1)
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: database:")
    assert cause in result.stderr
    assert "Traceback" not in result.output


def test_keys_create_prints_a_token_alone_on_its_last_line_that_authenticates(cli: Cli) -> None:
    result = cli("keys", "create", "--tenant", "acme", "--name", "pos", "--scopes", "read,write")
    token = last_line(result.output)
    assert token == result.stdout.strip()
    key_id, _, secret = token.partition(".")
    assert key_id.startswith("tb_")
    assert secret
    container = cli.container()
    try:
        with container.uow_factory(write=False) as uow:
            principal = authenticate(uow, token)
    finally:
        container.close()
    assert principal.tenant_id == "acme"
    assert principal.scopes == {"read", "write"}
    assert principal.allows("write")
    assert not principal.allows("admin")


def test_keys_list_shows_keys_but_never_a_secret(cli: Cli) -> None:
    token = last_line(cli("keys", "create", "-t", "acme", "--name", "crm").stdout)
    key_id, _, secret = token.partition(".")
    cli("keys", "create", "-t", "other", "--name", "elsewhere")
    listed = cli("keys", "list", "--tenant", "acme")
    assert key_id in listed.stdout
    assert "crm" in listed.stdout
    assert "elsewhere" not in listed.stdout
    assert secret not in listed.output
    everyone = cli("keys", "list", "--all", "--json")
    assert {k["tenant_id"] for k in json.loads(everyone.stdout)} == {"acme", "other"}
    assert secret not in everyone.output


def test_keys_revoke_stops_a_key_and_says_when_there_is_nothing_to_revoke(cli: Cli) -> None:
    token = last_line(cli("keys", "create", "-t", "acme", "--name", "old").stdout)
    key_id = token.partition(".")[0]
    assert f"revoked {key_id}" in cli("keys", "revoke", key_id).stdout
    container = cli.container()
    try:
        with container.uow_factory(write=False) as uow, pytest.raises(Unauthenticated):
            authenticate(uow, token)
    finally:
        container.close()
    assert "already revoked" in cli("keys", "revoke", key_id, code=1).stderr
    assert cli("keys", "revoke", "tb_nope", code=1).stderr == "error: no key tb_nope\n"
    (listed,) = json.loads(cli("keys", "list", "-t", "acme", "--json").stdout)
    assert listed["id"] == key_id
    assert listed["revoked_at"] is not None


def test_keys_create_refuses_unknown_scopes_in_one_line(cli: Cli) -> None:
    result = cli("keys", "create", "-t", "acme", "--name", "x", "--scopes", "read,root", code=1)
    assert result.stderr.startswith("error: scopes must be some of read, write, admin")
    assert result.stdout == ""


def test_the_tenant_comes_from_the_environment_when_not_given(cli: Cli) -> None:
    result = cli.runner.invoke(
        app,
        ["keys", "create", "--name", "env"],
        env={"TIERBOOK_DATABASE_URL": cli.database_url, "TIERBOOK_TENANT": "from-env"},
    )
    assert result.exit_code == 0, result.output
    assert "for tenant from-env" in result.stderr


def test_usage_errors_exit_with_2(cli: Cli) -> None:
    assert cli("keys", "create", "--tenant", "acme", code=2).stdout == ""
    cli("no-such-command", code=2)


def test_a_real_process_migrates_and_creates_a_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'proc.db'}"
    env = {**os.environ, "TIERBOOK_DATABASE_URL": url, "TIERBOOK_TENANT": "proc"}
    command = [sys.executable, "-m", "tierbook.cli"]
    migrated = subprocess.run(
        [*command, "migrate"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert migrated.returncode == 0, migrated.stderr
    created = subprocess.run(
        [*command, "keys", "create", "--name", "ci", "--scopes", "admin"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    token = last_line(created.stdout)
    container = Cli(url).container()
    try:
        with container.uow_factory(write=False) as uow:
            assert authenticate(uow, token).tenant_id == "proc"
    finally:
        container.close()
