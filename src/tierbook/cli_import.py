"""`tierbook import`: ledger entries from a CSV or JSON Lines file, in resumable batches.

Rows (see `cli_rows`) are recorded in batches through `activities.record`, each all or nothing,
and idempotent per entry. The checkpoint (byte offset and line reached, and running totals) is
stored in the same transaction as its batch, so it never runs ahead of or behind what was
written. It is named after the file's absolute path, size and a hash of its first block: a rerun
of the same file resumes after the last committed batch; a changed file starts over (and rows
written before come back as duplicates, by their keys). A bad row stops the import with its line
and field; the batches before it stay committed.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierbook.bootstrap import Container
from tierbook.cli_render import rfc3339
from tierbook.cli_rows import Format, ImportStopped, file_format, read_rows, to_command
from tierbook.domain.errors import ConcurrentUpdate, InvalidInput, TierbookError
from tierbook.service import activities
from tierbook.service.commands import RecordActivity
from tierbook.service.ports import UnitOfWork

FIRST_BLOCK = 64 * 1024
RETRIES = 3
TOTALS = ("rows", "written", "duplicates", "changes")


@dataclass(slots=True)
class ImportReport:
    path: Path
    format: Format
    rows: int = 0
    written: int = 0
    duplicates: int = 0
    changes: int = 0
    skipped_rows: int = 0
    """Rows a checkpoint said were imported before, and so were not read again."""
    resumed_at_line: int | None = None
    already_complete: bool = False
    seconds: float = 0.0
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


Progress = Callable[[int, int], None]
"""Called with (byte offset reached, rows read so far in this run)."""


def checkpoint_name(path: Path) -> str:
    """A name that changes whenever the file's path, size or first block does."""
    resolved = path.resolve()
    size = resolved.stat().st_size
    with resolved.open("rb") as fh:
        head = hashlib.sha256(fh.read(FIRST_BLOCK)).hexdigest()
    where = hashlib.sha256(str(resolved).encode()).hexdigest()
    return f"import:{where[:16]}:{size}:{head[:16]}"


# -------------------------------------------------------------------------------- importing

_ENTRY_INDEX = re.compile(r"^entries\[(\d+)\]\.?(.*)$")
_MESSAGE_PREFIX = re.compile(r"^entries\[\d+\]: ")


def _at_line(exc: TierbookError, batch: list[tuple[int, RecordActivity]]) -> ImportStopped:
    """The service's error for entry i of a batch, as an error at that entry's line."""
    index, name = 0, exc.field
    match = _ENTRY_INDEX.match(exc.field or "")
    if match:
        index, name = int(match.group(1)), match.group(2) or None
    line = batch[min(index, len(batch) - 1)][0]
    return ImportStopped(_MESSAGE_PREFIX.sub("", exc.message), line=line, field=name)


class _Importer:
    """Commits batches, each with the checkpoint that counts it in, and keeps the totals."""

    def __init__(self, container: Container, path: Path, tenant_id: str) -> None:
        self.container = container
        self.path = path
        self.tenant_id = tenant_id
        self.name = checkpoint_name(path)
        self.totals = dict.fromkeys(TOTALS, 0)

    def checkpoint(self) -> dict[str, Any] | None:
        with self.container.uow_factory(write=False) as uow:
            return uow.checkpoints.get(self.tenant_id, self.name)

    def commit(
        self, batch: list[tuple[int, RecordActivity]], offset: int, line: int, *, complete: bool
    ) -> dict[str, int]:
        """Record a batch and its checkpoint in one transaction; the batch's counts."""
        for attempt in range(RETRIES):
            try:
                with self.container.uow_factory() as uow:
                    counts = self._record(uow, batch)
                    totals = {k: self.totals[k] + counts[k] for k in TOTALS}
                    uow.checkpoints.put(
                        self.tenant_id,
                        self.name,
                        {
                            "path": str(self.path.resolve()),
                            "offset": offset,
                            "line": line,
                            "complete": complete,
                            "updated_at": rfc3339(self.container.clock.now()),
                            **totals,
                        },
                    )
                    uow.commit()
                self.totals = totals
                return counts
            except ConcurrentUpdate:
                if attempt == RETRIES - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))
            except TierbookError as exc:
                raise _at_line(exc, batch) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _record(self, uow: UnitOfWork, batch: list[tuple[int, RecordActivity]]) -> dict[str, int]:
        if not batch:
            return dict.fromkeys(TOTALS, 0)
        outcome = activities.record(
            uow,
            self.container.clock,
            tenant_id=self.tenant_id,
            commands=[command for _, command in batch],
        )
        written = sum(r.created for r in outcome.entries)
        return {
            "rows": len(batch),
            "written": written,
            "duplicates": len(batch) - written,
            "changes": len(outcome.changes),
        }


def run_import(
    container: Container,
    path: Path,
    *,
    tenant_id: str,
    batch_size: int = 1000,
    restart: bool = False,
    progress: Progress | None = None,
    notice: Callable[[str], None] | None = None,
) -> ImportReport:
    fmt = file_format(path)
    if not 1 <= batch_size <= activities.MAX_BATCH:
        raise InvalidInput(f"batch size must be 1 to {activities.MAX_BATCH}", field="batch_size")
    began = time.perf_counter()
    report = ImportReport(path=path, format=fmt)
    importer = _Importer(container, path, tenant_id)
    saved = None if restart else importer.checkpoint()
    start = line = 0
    if saved is not None:
        importer.totals = {k: int(saved.get(k, 0)) for k in TOTALS}
        report.skipped_rows = importer.totals["rows"]
        if saved.get("complete"):
            report.already_complete = True
            report.totals = dict(importer.totals)
            if notice:
                notice(
                    f"{path.name} was imported in full before ({report.skipped_rows} rows, "
                    f"at {saved.get('updated_at')}): nothing to do (--restart reads it again)"
                )
            return report
        start, line = int(saved["offset"]), int(saved["line"])
        report.resumed_at_line = line + 1
        if notice:
            notice(
                f"resuming {path.name} after line {line}: the {report.skipped_rows} rows before "
                "it were imported already (--restart reads the file from the start)"
            )
    if progress:
        progress(start, 0)
    batch: list[tuple[int, RecordActivity]] = []

    def count(counts: dict[str, int]) -> None:
        report.rows += counts["rows"]
        report.written += counts["written"]
        report.duplicates += counts["duplicates"]
        report.changes += counts["changes"]

    try:
        with path.open("rb") as fh:
            for row in read_rows(fh, fmt, start=start, start_line=line):
                batch.append((row.line, to_command(row)))
                if len(batch) >= batch_size:
                    count(importer.commit(batch, row.end, row.last, complete=False))
                    batch = []
                    if progress:
                        progress(row.end, report.rows)
                line = row.last
            # The last batch and the "complete" mark go in together.
            end = fh.seek(0, io.SEEK_END)
            count(importer.commit(batch, end, line, complete=True))
            if progress:
                progress(end, report.rows)
    except ImportStopped as exc:
        done = report.rows + report.skipped_rows
        raise ImportStopped(
            f"{exc.reason} ({done} rows before it are imported; fix the row and run the import "
            "again to resume)",
            line=exc.line,
            field=exc.field,
        ) from None
    report.seconds = time.perf_counter() - began
    report.totals = dict(importer.totals)
    return report
