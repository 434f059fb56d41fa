"""`tierbook import FILE`: batched, resumable, idempotent; on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from tests.cli.conftest import TENANT, Cli
from tierbook.cli_import import FIRST_BLOCK
from tierbook.cli_rows import read_rows

MEMBERS = ("m1", "m2", "m3")
ENROLLED = datetime(2025, 1, 1, tzinfo=UTC)
HEADER = ("member_id", "occurred_at", "idempotency_key", "kind", "points", "spend", "items", "meta")


def rows(count: int, *, keys: bool = True, pad: int = 0) -> list[dict[str, Any]]:
    """`count` purchases spread over the members, a day apart from 2025-02-01."""
    made = []
    for n in range(1, count + 1):
        row: dict[str, Any] = {
            "member_id": MEMBERS[n % len(MEMBERS)],
            "occurred_at": (datetime(2025, 2, 1, 10, tzinfo=UTC) + timedelta(days=n)).isoformat(),
            "kind": "purchase",
            "points": "150",
            "spend": "150.00",
            "items": [{"sku": f"SKU-{n}", "category": "shoes", "quantity": 1, "amount": "150.00"}],
        }
        if keys:
            row["idempotency_key"] = f"tx-{n}"
        if pad:
            row["meta"] = {"note": "x" * pad}
        made.append(row)
    return made


def write_csv(path: Path, data: Sequence[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER)
        writer.writeheader()
        for row in data:
            writer.writerow(
                {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in row.items()}
            )
    return path


def write_jsonl(path: Path, data: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in data))
    return path


def error(result: Result) -> str:
    """The error line, after the progress bar's last state; there is exactly one."""
    lines = result.stderr.splitlines()
    assert [line for line in lines if line.startswith("error")] == lines[-1:], result.stderr
    assert "Traceback" not in result.output
    return lines[-1]


@pytest.fixture
def ready(cli_on: Cli, tmp_path: Path) -> Cli:
    """A program and its members, on SQLite and on PostgreSQL."""
    cli_on.program(tmp_path)
    cli_on.enrol(MEMBERS, ENROLLED)
    return cli_on


@pytest.fixture
def ready_sqlite(cli: Cli, tmp_path: Path) -> Cli:
    """The same on SQLite alone, for reading and checking rows (no database semantics)."""
    cli.program(tmp_path)
    cli.enrol(MEMBERS, ENROLLED)
    return cli


def test_import_csv_records_every_row_with_a_progress_bar(ready: Cli, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "activities.csv", rows(25))
    result = ready("import", path, "--tenant", TENANT, "--batch-size", "10")
    assert result.stdout.startswith("activities.csv: 25 rows, 25 written, 0 duplicates, ")
    assert "tier changes" in result.stdout
    assert "rows/s" in result.stdout
    assert "importing activities.csv" in result.stderr
    assert "100%" in result.stderr
    assert ready.entries(MEMBERS) == 25
    # Every member passed 1000 points: the import's tier changes include each promotion.
    tiers = ready("tier", "m1", "-t", TENANT, "--as-of", "2025-03-01T00:00:00Z", "--json")
    assert json.loads(tiers.stdout)[0]["tier"]["handle"] == "silver"


def test_a_second_import_of_the_same_file_writes_nothing(ready: Cli, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "activities.jsonl", rows(20, keys=False))
    first = ready("import", path, "-t", TENANT, "--batch-size", "7")
    assert first.stdout.startswith("activities.jsonl: 20 rows, 20 written, 0 duplicates")
    again = ready("import", path, "-t", TENANT)
    assert "nothing to do" in again.stdout
    assert "imported in full before" in again.stderr
    # Read from the start, rows without a key get the same derived keys: all duplicates.
    restarted = ready("import", path, "-t", TENANT, "--restart")
    assert restarted.stdout.startswith("activities.jsonl: 20 rows, 0 written, 20 duplicates")
    assert ready.entries(MEMBERS) == 20


def test_rows_sharing_a_key_are_one_entry(ready: Cli, tmp_path: Path) -> None:
    data = rows(6)
    data[3]["idempotency_key"] = data[4]["idempotency_key"] = "same-receipt"
    path = write_csv(tmp_path / "twice.csv", data)
    result = ready("import", path, "-t", TENANT, "--batch-size", "10")  # one batch
    assert result.stdout.startswith("twice.csv: 6 rows, 5 written, 1 duplicates")
    assert ready.entries(MEMBERS) == 5


def test_a_bad_row_stops_the_import_and_a_fixed_file_resumes_after_it(
    ready: Cli, tmp_path: Path
) -> None:
    data = rows(300, pad=200)
    data[279]["points"] = "12x"  # CSV line 281, past the first block the checkpoint name hashes
    path = write_csv(tmp_path / "big.csv", data)
    assert path.read_bytes().index(b"12x") > FIRST_BLOCK
    failed = ready("import", path, "-t", TENANT, "--batch-size", "100", code=1)
    assert error(failed).startswith("error: line 281, points: '12x' is not a number")
    assert "200 rows before it are imported" in failed.stderr
    assert "Traceback" not in failed.output
    assert ready.entries(MEMBERS) == 200

    path.write_bytes(path.read_bytes().replace(b"12x", b"120"))
    resumed = ready("import", path, "-t", TENANT, "--batch-size", "100")
    assert "resuming big.csv after line 201" in resumed.stderr
    assert resumed.stdout.startswith("big.csv: 100 rows, 100 written, 0 duplicates")
    assert "(resumed at line 202; 200 rows done before)" in resumed.stdout
    assert ready.entries(MEMBERS) == 300


def test_a_row_the_service_refuses_names_its_line_and_a_rerun_resumes(
    ready: Cli, tmp_path: Path
) -> None:
    data = rows(30)
    data[14]["member_id"] = "ghost"  # line 16, in the second batch of 10
    path = write_csv(tmp_path / "ghost.csv", data)
    failed = ready("import", path, "-t", TENANT, "--batch-size", "10", code=1)
    assert error(failed).startswith(
        "error: line 16, member_id: no member 'ghost' in program 123 (10 rows before it"
    )
    assert ready.entries([*MEMBERS, "ghost"]) == 10  # the failed batch wrote nothing

    ready.enrol(["ghost"], ENROLLED)
    resumed = ready("import", path, "-t", TENANT, "--batch-size", "10")
    assert "resuming ghost.csv after line 11" in resumed.stderr
    assert resumed.stdout.startswith("ghost.csv: 20 rows, 20 written, 0 duplicates")
    assert ready.entries([*MEMBERS, "ghost"]) == 30


def test_a_file_changed_near_its_start_is_read_again_without_writing_twice(
    ready: Cli, tmp_path: Path
) -> None:
    data = rows(20, keys=False)
    data[6]["kind"] = "purchse"
    path = write_jsonl(tmp_path / "small.jsonl", data)
    failed = ready("import", path, "-t", TENANT, "--batch-size", "5", code=1)
    assert error(failed).startswith("error: line 7, kind: 'purchse' is not one of purchase,")
    assert ready.entries(MEMBERS) == 5

    data[6]["kind"] = "purchase"
    write_jsonl(path, data)
    again = ready("import", path, "-t", TENANT, "--batch-size", "5")
    assert "resuming" not in again.stderr
    assert again.stdout.startswith("small.jsonl: 20 rows, 15 written, 5 duplicates")
    assert ready.entries(MEMBERS) == 20


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("member_id,occurred_at,point\n", "error: line 1, point: unknown column 'point'"),
        ("member_id,points\n", "error: line 1, occurred_at: the header has no occurred_at column"),
        (
            "member_id,occurred_at\nm1,2025-03-01T10:00:00\n",
            "error: line 2, occurred_at: '2025-03-01T10:00:00' has no UTC offset",
        ),
        (
            'member_id,occurred_at,items\nm1,2025-03-01T10:00:00Z,"[{""sku"": 1, ""size"": 9}]"\n',
            "error: line 2, items[0].size: is not an item field",
        ),
        ("member_id,occurred_at\nm1,2025-03-01T10:00:00Z,extra\n", "error: line 2: has 3 columns"),
        ("member_id,occurred_at\n,2025-03-01T10:00:00Z\n", "error: line 2, member_id: is required"),
    ],
)
def test_bad_csv_rows_name_their_line_and_field(
    ready_sqlite: Cli, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert error(ready_sqlite("import", path, "-t", TENANT, code=1)).startswith(message)
    assert ready_sqlite.entries(MEMBERS) == 0


def test_bad_json_lines_name_their_line(ready_sqlite: Cli, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = json.dumps(rows(1)[0])
    path.write_text(f"{good}\n\n{{not json\n")
    assert error(ready_sqlite("import", path, "-t", TENANT, code=1)).startswith(
        "error: line 3: is not JSON"
    )
    path.write_text(json.dumps({**rows(1)[0], "colour": "red"}) + "\n")
    assert error(ready_sqlite("import", path, "-t", TENANT, code=1)).startswith(
        "error: line 1, colour: unknown field 'colour'"
    )
    path.write_text(json.dumps({**rows(1)[0], "points": -5}) + "\n")
    assert error(ready_sqlite("import", path, "-t", TENANT, code=1)).startswith(
        "error: line 1, points: a purchase carries positive amounts"
    )


def test_only_csv_and_json_lines_files_are_read(ready_sqlite: Cli, tmp_path: Path) -> None:
    path = tmp_path / "rows.xlsx"
    path.write_text("x")
    assert error(ready_sqlite("import", path, "-t", TENANT, code=1)) == (
        "error: rows.xlsx: import reads .csv, .jsonl or .ndjson files"
    )


def test_spreadsheet_csv_quirks_are_read(ready_sqlite: Cli, tmp_path: Path) -> None:
    """A byte-order mark, CRLF line ends, a line break inside a quoted cell, blank lines."""
    path = tmp_path / "excel.csv"
    path.write_bytes(
        b"\xef\xbb\xbfmember_id,occurred_at,points,meta\r\n"
        b'm1,2025-03-01T10:00:00+11:00,100,"{""note"": ""gift"",\r\n ""wrap"": true}"\r\n'
        b"\r\n"
        b"m2,2025-03-02T10:00:00Z,50,\r\n"
    )
    result = ready_sqlite("import", path, "-t", TENANT)
    assert result.stdout.startswith("excel.csv: 2 rows, 2 written, 0 duplicates")
    header_only = tmp_path / "empty.csv"
    header_only.write_text("member_id,occurred_at\n")
    assert ready_sqlite("import", header_only, "-t", TENANT).stdout.startswith(
        "empty.csv: 0 rows, 0 written"
    )


def test_a_resumed_read_numbers_lines_as_a_full_read_does() -> None:
    text = (
        b"member_id,occurred_at,meta\n"
        b'm1,2025-03-01T10:00:00Z,"{""a"":\n1}"\n'
        b"m2,2025-03-01T11:00:00Z,\n"
        b"m3,2025-03-01T12:00:00Z,\n"
    )
    full = list(read_rows(io.BytesIO(text), "csv"))
    assert [(r.line, r.last) for r in full] == [(2, 3), (4, 4), (5, 5)]
    resumed = list(read_rows(io.BytesIO(text), "csv", start=full[0].end, start_line=full[0].last))
    assert resumed == full[1:]
