"""`tierbook serve --demo` as a real process: it loads the demo, prints a key and curl lines."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.cli.conftest import Cli
from tests.receiver import Receiver


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_health(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve exited early:\n{log.read_text()}"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"serve never answered /healthz:\n{log.read_text()}")


def commands(printed: str) -> list[tuple[str, str]]:
    """The printed `# title` blocks: each the commands up to the next blank line."""
    blocks = []
    for chunk in printed.split("\n\n"):
        title, _, body = chunk.strip().partition("\n")
        if title.startswith("# ") and body:
            blocks.append((title, body))
    return blocks


def documents(text: str) -> list[object]:
    """The JSON documents curl printed back to back."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text.rstrip()):
        document, at = decoder.raw_decode(text, at)
        found.append(document)
        at = len(text) - len(text[at:].lstrip())
    assert found, "no answer"
    return found


def test_serve_demo_prints_curl_lines_that_work(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out, errors = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    env = {**os.environ, "TIERBOOK_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    with out.open("wb") as stdout, errors.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "tierbook.cli", "serve", "--demo", "--port", str(port)],
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            wait_for_health(base, process, errors)
            printed = out.read_text()
            lines = printed.splitlines()
            native = next(line for line in lines if line.endswith("/v1/members/M1001/tiers"))
            words = shlex.split(native)
            header = words[words.index("-H") + 1]
            assert header.startswith("Authorization: Bearer tb_")
            name, _, value = header.partition(": ")
            response = httpx.get(words[-1], headers={name: value}, timeout=10)
            assert response.status_code == 200, response.text
            assert response.json()["member_id"] == "M1001"
            # The key printed alone on its own line is the one in the curl lines.
            token = value.removeprefix("Bearer ")
            assert token in lines
            for path in (
                "/v1/members/M1001/tiers/10/explain",
                "/v1/activities",
                "/api/v3/profiles/M1001/tiers",
                "/api/v1.1/loyalty/account/tiers",
                f"/priv/v1/apps/{token.partition('.')[0]}/tiers",
                "/oauth/token",
                "/client/users/M1001/sessions",
                "/membership",
            ):
                assert any("curl " in line and path in line for line in lines), path
            assert "Loaded ACME Rewards (program 123)" in printed
            for title, block in commands(printed):
                ran = subprocess.run(
                    ["bash", "-c", block], capture_output=True, timeout=60, check=False
                )
                assert ran.returncode == 0, (title, ran.stderr)
                for body in documents(ran.stdout.decode()):
                    assert isinstance(body, dict), (title, body)
                    # Altcraft's success carries "error": 0; every other error envelope has
                    # one of these keys.
                    assert body.get("error", 0) == 0, (title, body)
                    assert not {"errors", "code"} & set(body), (title, body)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def serving(cli: Cli, *options: str) -> Iterator[None]:
    """`tierbook serve` on `cli`'s database, as a real process, until the block ends."""
    port = free_port()
    log = Path(tempfile.mkdtemp()) / "stderr.txt"
    env = {**os.environ, "TIERBOOK_DATABASE_URL": cli.database_url}
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "tierbook.cli", "serve", "--port", str(port), *options],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            wait_for_health(f"http://127.0.0.1:{port}", process, log)
            yield
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_serve_delivers_webhooks_unless_told_not_to(cli: Cli, tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        cli.program(tmp_path)
        cli.webhook(receiver.url)
        cli.enrol(["m1"], datetime.now(UTC) - timedelta(hours=1))
        with serving(cli, "--no-deliver"):
            pass
        assert cli("deliver", "--once").stdout.startswith("deliver: 1 events handed over")
        cli.enrol(["m2", "m3"], datetime.now(UTC) - timedelta(hours=1))
        with serving(cli):
            deadline = time.monotonic() + 60
            while len(receiver.received) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
        assert sorted(e["data"]["subject_id"] for e in receiver.events()) == ["m1", "m2", "m3"]
    finally:
        receiver.close()
