"""The `tierbook` command line, over the same service layer as the API.

Every command builds its objects through `bootstrap` (so `TIERBOOK_DATABASE_URL` and the other
`TIERBOOK_*` settings apply) and calls the service layer; none holds SQL or a rule. An error from
tierbook's error tree prints as one line on stderr and exits 1; a usage error exits 2.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tierbook import cli_keys
from tierbook import cli_render as render
from tierbook.adapters.webhooks import HttpSender
from tierbook.bootstrap import Container, ProcessSweeper
from tierbook.cli_common import (
    AsJson,
    AsOf,
    ErrorsAsOneLine,
    Group,
    Tenant,
    database,
    err,
    instant,
    opened,
    out,
)
from tierbook.cli_import import run_import
from tierbook.domain.errors import InvalidRules, UnknownGroup
from tierbook.service import activities, queries, webhooks
from tierbook.service import sweep as sweeping
from tierbook.service.documents import parse_document
from tierbook.service.programs import put_program
from tierbook.service.queries import TierView

app = typer.Typer(
    name="tierbook",
    cls=ErrorsAsOneLine,
    help="tierbook: a loyalty tier engine. Settings come from TIERBOOK_* environment variables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(cli_keys.app, name="keys")


# ------------------------------------------------------------------------------- operations


@app.command()
def migrate() -> None:
    """Upgrade the configured database to the latest schema."""
    with opened(migrate=True) as container:
        out.print(f"{database(container.settings)} is at the latest schema", markup=False)


@app.command()
def serve(
    demo: Annotated[
        bool, typer.Option("--demo", help="Load the ACME Rewards demo and print a key.")
    ] = False,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    deliver: Annotated[
        bool,
        typer.Option(
            "--deliver/--no-deliver",
            help="Also deliver tier events to the registered webhooks, as `tierbook deliver`.",
        ),
    ] = True,
) -> None:
    """Migrate the database and serve the API; --demo loads a demo and prints a key and curls."""
    from tierbook.cli_serve import run

    with opened(migrate=True) as container:
        run(container, host=host, port=port, demo=demo, deliver=deliver, out=out)


@app.command()
def apply(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A §3 YAML file.")],
    tenant: Tenant = "default",
    force: Annotated[
        bool, typer.Option("--force", help="Apply even a change that renumbers or drops tiers.")
    ] = False,
) -> None:
    """Create or update a program (with its groups and tiers) from a YAML document."""
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidRules(f"{file.name}: {where}not valid YAML ({problem})") from None
    document = parse_document(raw)
    with opened() as container, container.uow_factory() as uow:
        applied = put_program(
            uow, container.clock, tenant_id=tenant, document=document, force=force
        )
        uow.commit()
    program = applied.program
    what = f"program {program.id} ({program.name}) in tenant {tenant}"
    if not applied.changed:
        out.print(f"unchanged: {what}", markup=False)
        return
    shape = f"{len(program.groups)} groups, {sum(len(g.rules.tiers) for g in program.groups)} tiers"
    if applied.created:
        out.print(f"created: {what}: {shape}", markup=False)
    else:
        out.print(
            f"updated: {what}: {shape}; {applied.states} tier states re-evaluated"
            + (" (forced)" if force else ""),
            markup=False,
        )


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A .csv or .jsonl file.")
    ],
    tenant: Tenant = "default",
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size", min=1, max=activities.MAX_BATCH, help="Rows per committed batch."
        ),
    ] = 1000,
    restart: Annotated[
        bool, typer.Option("--restart", help="Ignore a checkpoint; read the file from the start.")
    ] = False,
) -> None:
    """Record activities from CSV or JSON Lines: batched, resumable, idempotent."""
    size = file.stat().st_size
    with (
        opened() as container,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]} rows"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
        ) as progress,
    ):
        task = progress.add_task(f"importing {file.name}", total=max(size, 1), rows=0)
        report = run_import(
            container,
            file,
            tenant_id=tenant,
            batch_size=batch_size,
            restart=restart,
            progress=lambda offset, rows: progress.update(task, completed=offset, rows=rows),
            notice=lambda message: progress.console.print(message, markup=False),
        )
        if report.already_complete:
            progress.update(task, completed=max(size, 1), rows=report.skipped_rows)
    totals = report.totals
    if report.already_complete:
        out.print(
            f"{file.name}: nothing to do; {totals['rows']} rows imported before "
            f"({totals['written']} written, {totals['duplicates']} duplicates)",
            markup=False,
        )
        return
    resumed = (
        f" (resumed at line {report.resumed_at_line}; {report.skipped_rows} rows done before)"
        if report.resumed_at_line
        else ""
    )
    out.print(
        f"{file.name}: {report.rows} rows, {report.written} written, {report.duplicates} "
        f"duplicates, {report.changes} tier changes in {report.seconds:.1f} s "
        f"({report.rate:,.0f} rows/s){resumed}",
        markup=False,
    )


Workers = Annotated[
    int,
    typer.Option(
        "--workers",
        min=1,
        help="Processes that evaluate and store due states (default: one per CPU, at most 8)",
    ),
]


@app.command()
def sweep(as_of: AsOf = None, workers: Workers = min(8, os.cpu_count() or 1)) -> None:
    """Move every tier state that is due (anniversaries, grace ends, ...) forward."""
    at = instant(as_of)
    # Shown from the first committed batch on, so a sweep with nothing to do (or refused) is quiet.
    progress = Progress(
        SpinnerColumn(),
        TextColumn("sweeping: {task.completed} states"),
        TimeElapsedColumn(),
        console=err,
    )
    task = progress.add_task("sweep", total=None)

    def advance(states: int) -> None:
        if not progress.live.is_started:
            progress.start()
        progress.advance(task, states)

    with opened() as container:
        sweeper = ProcessSweeper(container.settings, workers) if workers > 1 else None
        try:
            report = sweeping.sweep(
                container.uow_factory,
                container.clock,
                as_of=at,
                progress=advance,
                sweeper=sweeper,
            )
        finally:
            if sweeper is not None:
                sweeper.close()
            if progress.live.is_started:
                progress.stop()
    when = f" as of {render.rfc3339(at)}" if at else ""
    out.print(
        f"sweep{when}: {report.states} states moved forward, {report.changes} tier changes",
        markup=False,
    )


@app.command()
def deliver(
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is due now, then exit.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between rounds.")
    ] = webhooks.INTERVAL_S,
) -> None:
    """Deliver tier events to the registered webhooks (signed, retried); runs until stopped."""

    def said(report: webhooks.DeliveryReport) -> None:
        if once or report.sent:
            out.print(
                f"deliver: {report.dispatched} events handed over, {report.delivered} "
                f"delivered, {report.retrying} to retry, {report.failed} given up",
                markup=False,
            )

    with opened() as container, HttpSender() as sender:
        if once:
            said(webhooks.deliver_due(container.uow_factory, container.clock, sender))
            return
        never = threading.Event()  # stopped by a signal, as any foreground command
        webhooks.deliver_until(
            container.uow_factory, container.clock, sender, never, interval_s=interval, rounds=said
        )


# ------------------------------------------------------------------------------------ reads


def _views(
    container: Container, tenant: str, member: str, group: str | None, as_of: datetime | None
) -> list[TierView]:
    with container.uow_factory(write=False) as uow:
        group_id = int(group) if group is not None and group.isdigit() else None
        views = queries.member_tiers(
            uow, container.clock, tenant_id=tenant, member_id=member, as_of=as_of,
            group_id=group_id,
        )  # fmt: skip
    if group is not None and group_id is None:
        views = [v for v in views if v.group.code.lower() == group.lower()]
        if not views:
            raise UnknownGroup(f"the member's program has no active group {group!r}")
    return views


@app.command()
def tier(
    member: Annotated[str, typer.Argument(help="Member id.")],
    tenant: Tenant = "default",
    group: Group = None,
    as_of: AsOf = None,
    as_json: AsJson = False,
) -> None:
    """A member's tier in every group (or one), with progress figures."""
    at = instant(as_of)
    with opened() as container:
        views = _views(container, tenant, member, group, at)
    if as_json:
        out.print_json(data=[render.view_json(v) for v in views])
        return
    out.print(render.member_line(views[0]), markup=False)
    out.print(render.tiers_table(views))


@app.command()
def explain(
    member: Annotated[str, typer.Argument(help="Member id.")],
    tenant: Tenant = "default",
    group: Group = None,
    as_of: AsOf = None,
    as_json: AsJson = False,
) -> None:
    """Why a member holds its tier in a group (default: the program's default group)."""
    at = instant(as_of)
    with opened() as container:
        views = _views(container, tenant, member, group, at)
        group_id = views[0].program.default_group.id if group is None else views[0].group.id
        with container.uow_factory(write=False) as uow:
            view, history, trace = queries.explain(
                uow, container.clock, tenant_id=tenant, member_id=member, group_id=group_id,
                as_of=at,
            )  # fmt: skip
    if as_json:
        out.print_json(data=render.explain_json(view, history, trace))
        return
    out.print(render.member_line(view), markup=False)
    out.print(render.tiers_table([view]))
    out.print(render.decisions_table(view, trace))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
