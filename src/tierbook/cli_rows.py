"""Reading activity rows from CSV or JSON Lines, and turning each into a `RecordActivity`.

A CSV file has a header row of SPEC §4 activity field names (`member_id`, `occurred_at`,
`idempotency_key`, `kind`, `points`, `spend`, `units`, `business_unit`, `behaviour_type`,
`items`, `achievement_id`, `reverses`, `program_id`, `meta`); `items` and `meta` are JSON strings
and an empty cell means "not given". A JSON Lines file (`.jsonl`, `.ndjson`) has one object per
line with the same names. Blank lines are skipped; unknown names are refused, so a misspelt
column cannot be silently dropped. Every problem names the row's line and the field.

A row without an `idempotency_key` gets `import-<hash of its line number and canonical
content>`: importing the same file again maps every row to the same key (so nothing is written
twice), and fixing one row, or appending rows, leaves every other row's key alone.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO, Literal

from tierbook.domain.errors import InvalidInput
from tierbook.domain.ledger import EntryKind, Item
from tierbook.service.commands import RecordActivity

FIELDS = (
    "member_id",
    "occurred_at",
    "program_id",
    "idempotency_key",
    "kind",
    "points",
    "spend",
    "units",
    "business_unit",
    "behaviour_type",
    "items",
    "achievement_id",
    "reverses",
    "meta",
)
ITEM_FIELDS = ("sku", "category", "quantity", "amount")
REQUIRED = ("member_id", "occurred_at")
Format = Literal["csv", "jsonl"]
SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonlines": "jsonl",
}


class ImportStopped(InvalidInput):
    """A row could not be read or recorded; the batches before it are committed."""

    code = "import_stopped"

    def __init__(self, message: str, *, line: int, field: str | None = None) -> None:
        where = f"line {line}" + (f", {field}" if field else "")
        super().__init__(f"{where}: {message}", field=field, details={"line": line})
        self.line = line
        self.reason = message


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    """The line the row starts on (what errors name)."""
    last: int
    """The line it ends on (a quoted CSV cell may span lines): where numbering resumes."""
    end: int
    """Byte offset just past the row: where a resumed import starts reading."""
    fields: dict[str, Any]


def file_format(path: Path) -> Format:
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise InvalidInput(f"{path.name}: import reads .csv, .jsonl or .ndjson files", field="file")
    return found


# ---------------------------------------------------------------------------------- reading


def read_rows(fh: BinaryIO, fmt: Format, *, start: int = 0, start_line: int = 0) -> Iterator[Row]:
    """Rows from `start` (a byte offset a checkpoint gave, or 0), numbered from `start_line`."""
    if fmt == "csv":
        yield from _csv_rows(fh, start, start_line)
    else:
        yield from _jsonl_rows(fh, start, start_line)


def _decode(raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8-sig" if line == 1 else "utf-8")
    except UnicodeDecodeError:
        raise ImportStopped("is not UTF-8 text", line=line) from None


def _csv_header(fh: BinaryIO) -> list[str]:
    fh.seek(0)
    text = _decode(fh.readline(), 1)
    header = [name.strip() for name in next(csv.reader([text]), [])]
    for name in header:
        if name not in FIELDS:
            raise ImportStopped(
                f"unknown column {name!r} (columns: {', '.join(FIELDS)})", line=1, field=name
            )
    for name in REQUIRED:
        if name not in header:
            raise ImportStopped(f"the header has no {name} column", line=1, field=name)
    if len(set(header)) != len(header):
        raise ImportStopped("a column is named twice", line=1)
    return header


def _csv_rows(fh: BinaryIO, start: int, start_line: int) -> Iterator[Row]:
    header = _csv_header(fh)
    line = 1
    if start > fh.tell():
        fh.seek(start)
        line = start_line
    while raw := fh.readline():
        line += 1
        first = line
        text = _decode(raw, line)
        # A quoted field may hold a line break: read on until the quotes balance.
        while text.count('"') % 2:
            more = fh.readline()
            if not more:
                raise ImportStopped("a quoted field is never closed", line=first)
            line += 1
            text += _decode(more, line)
        if not text.strip():
            continue
        try:
            values = next(csv.reader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            raise ImportStopped(f"is not valid CSV ({exc})", line=first) from None
        if len(values) != len(header):
            raise ImportStopped(
                f"has {len(values)} columns where the header has {len(header)}", line=first
            )
        fields = {name: value for name, value in zip(header, values, strict=True) if value.strip()}
        yield Row(line=first, last=line, end=fh.tell(), fields=fields)


def _jsonl_rows(fh: BinaryIO, start: int, start_line: int) -> Iterator[Row]:
    fh.seek(start)
    line = start_line
    while raw := fh.readline():
        line += 1
        text = _decode(raw, line)
        if not text.strip():
            continue
        try:
            value = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise ImportStopped(
                f"is not JSON ({exc.msg} at column {exc.colno})", line=line
            ) from None
        if not isinstance(value, dict):
            raise ImportStopped("is not a JSON object", line=line)
        for name in value:
            if name not in FIELDS:
                raise ImportStopped(f"unknown field {name!r}", line=line, field=str(name))
        yield Row(line=line, last=line, end=fh.tell(), fields=value)


# ------------------------------------------------------------------------------ conversion


class _Row:
    """Typed access to one row's fields, failing with the row's line and the field's name."""

    def __init__(self, row: Row) -> None:
        self.row = row

    def fail(self, name: str, message: str) -> ImportStopped:
        return ImportStopped(message, line=self.row.line, field=name)

    def text(self, name: str, value: Any = None) -> str | None:
        value = self.row.fields.get(name) if value is None else value
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.fail(name, f"must be text, not {json.dumps(value, default=str)}")
        text = str(value).strip()
        if len(text) > 500:
            raise self.fail(name, "is longer than 500 characters")
        return text or None

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise self.fail(name, "is required")
        return value

    def decimal(self, name: str, value: Any = None, default: Decimal = Decimal(0)) -> Decimal:
        value = self.row.fields.get(name) if value is None else value
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise self.fail(name, f"must be a number, not {json.dumps(value, default=str)}")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise self.fail(name, f"{value!r} is not a number") from None
        if not number.is_finite():
            raise self.fail(name, f"{value!r} is not a finite number")
        return number

    def instant(self, name: str) -> datetime:
        text = self.required(name)
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(name, f"{text!r} is not an RFC 3339 instant") from None
        if value.tzinfo is None:
            raise self.fail(name, f"{text!r} has no UTC offset (add Z or +10:00)")
        return value

    def integer(self, name: str) -> int | None:
        value = self.row.fields.get(name)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise self.fail(name, f"{value!r} is not a whole number")

    def json(self, name: str, kind: type) -> Any:
        value = self.row.fields.get(name)
        if isinstance(value, str):
            try:
                value = json.loads(value, parse_float=Decimal)
            except json.JSONDecodeError as exc:
                raise self.fail(name, f"is not JSON ({exc.msg})") from None
        if value is not None and not isinstance(value, kind):
            raise self.fail(name, f"must be a JSON {'array' if kind is list else 'object'}")
        return value

    def items(self) -> tuple[Item, ...]:
        raw = self.json("items", list) or []
        items = []
        for i, item in enumerate(raw):
            name = f"items[{i}]"
            if not isinstance(item, dict):
                raise self.fail(name, "must be an object with sku, category, quantity, amount")
            for key in item:
                if key not in ITEM_FIELDS:
                    raise self.fail(f"{name}.{key}", "is not an item field")
            items.append(
                Item(
                    sku=self.text(f"{name}.sku", item.get("sku")),
                    category=self.text(f"{name}.category", item.get("category")),
                    quantity=self.decimal(f"{name}.quantity", item.get("quantity"), Decimal(1)),
                    amount=self.decimal(f"{name}.amount", item.get("amount")),
                )
            )
        return tuple(items)

    def kind(self) -> EntryKind:
        text = self.text("kind") or EntryKind.PURCHASE.value
        try:
            return EntryKind(text.lower())
        except ValueError:
            allowed = ", ".join(k.value for k in EntryKind)
            raise self.fail("kind", f"{text!r} is not one of {allowed}") from None


def to_command(row: Row) -> RecordActivity:
    """The row as a command; its key is derived from the row where the file gives none."""
    r = _Row(row)
    command = RecordActivity(
        member_id=r.required("member_id"),
        occurred_at=r.instant("occurred_at"),
        program_id=r.integer("program_id"),
        idempotency_key=r.text("idempotency_key"),
        kind=r.kind(),
        points=r.decimal("points"),
        spend=r.decimal("spend"),
        units=r.decimal("units"),
        business_unit=r.text("business_unit"),
        behaviour_type=r.text("behaviour_type"),
        items=r.items(),
        achievement_id=r.text("achievement_id"),
        reverses=r.text("reverses"),
        meta=r.json("meta", dict) or {},
    )
    if command.idempotency_key is None:
        command = replace(command, idempotency_key=derived_key(command, row.line))
    return command


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def derived_key(command: RecordActivity, line: int) -> str:
    """A key for a row that has none: the same for the same content on the same line."""
    canonical = json.dumps(
        {
            "member_id": command.member_id,
            "program_id": command.program_id,
            "occurred_at": command.occurred_at.astimezone(UTC).isoformat(),
            "kind": command.kind.value,
            "points": _num(command.points),
            "spend": _num(command.spend),
            "units": _num(command.units),
            "business_unit": command.business_unit,
            "behaviour_type": command.behaviour_type,
            "items": [[i.sku, i.category, _num(i.quantity), _num(i.amount)] for i in command.items],
            "achievement_id": command.achievement_id,
            "reverses": command.reverses,
            "meta": command.meta,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    digest = hashlib.sha256(f"{line}\n{canonical}".encode()).hexdigest()
    return f"import-{digest[:40]}"
