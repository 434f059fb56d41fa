"""`tierbook serve`: the API under uvicorn, and beside it (unless `--no-deliver`) a thread that
delivers tier events to the registered webhooks, as `tierbook deliver` does; deliverers claim
what they send, so any number of them may run. `--demo` loads the demo and prints how to call
it."""

from __future__ import annotations

import logging
import sys
import threading

import uvicorn
from rich.console import Console

from tierbook import demo as demo_data
from tierbook.adapters.webhooks import HttpSender
from tierbook.bootstrap import Container
from tierbook.cli_render import curl_lines
from tierbook.service import auth, webhooks

log = logging.getLogger("tierbook.webhooks")


def run(
    container: Container, *, host: str, port: int, demo: bool, deliver: bool, out: Console
) -> None:
    from tierbook.api.app import create_app  # the web stack is loaded only to serve

    app = create_app(container)
    if demo:
        _demo(container, host=host, port=port, out=out)
    stop = threading.Event()
    delivering = threading.Thread(
        target=_deliver, args=(container, stop), name="tierbook-deliver", daemon=True
    )
    if deliver:
        delivering.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        stop.set()
        if deliver:
            delivering.join(timeout=30)


def _deliver(container: Container, stop: threading.Event) -> None:
    """Deliver until `stop`; a failed round (the database out of reach, say) is logged, and the
    next one comes after the usual interval."""
    with HttpSender() as sender:
        while not stop.is_set():
            try:
                webhooks.deliver_until(
                    container.uow_factory,
                    container.clock,
                    sender,
                    stop,
                    interval_s=webhooks.INTERVAL_S,
                )
            except Exception:  # the server keeps serving; the log says why
                log.exception("webhook delivery failed; trying again in %s s", webhooks.INTERVAL_S)
                stop.wait(webhooks.INTERVAL_S)


def _demo(container: Container, *, host: str, port: int, out: Console) -> None:
    tenant = demo_data.DEMO_TENANT
    if demo_data.is_loaded(container, tenant_id=tenant):
        out.print(f"The demo program is already loaded in tenant {tenant!r}.", markup=False)
    else:
        out.print("Loading the ACME Rewards demo (a year of activity)...", markup=False)
        summary = demo_data.load_demo(container, tenant_id=tenant)
        tiers = "; ".join(
            f"{code}: " + ", ".join(f"{n} {handle}" for handle, n in counts.items())
            for code, counts in summary.tiers.items()
        )
        out.print(
            f"Loaded {summary.program_name} (program {summary.program_id}) in tenant {tenant!r}: "
            f"{summary.members} members in {summary.households} households, "
            f"{summary.entries} ledger entries ({summary.purchases} purchases, "
            f"{summary.refunds} refunds, {summary.achievements} achievements). Tiers now: {tiers}.",
            markup=False,
        )
    now = container.clock.now()
    with container.uow_factory() as uow:
        key, token = auth.create_key(
            uow,
            container.clock,
            tenant_id=tenant,
            name=f"demo {now:%Y-%m-%d %H:%M:%S}",
            scopes=frozenset({"admin"}),
        )
        uow.commit()
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}" if ":" not in shown else f"http://[{shown}]:{port}"
    out.print(f"\nAdmin API key for tenant {tenant!r} ({key.id}), shown only now:", markup=False)
    out.print(token, markup=False)
    out.print("\nTry (interactive docs at " + base + "/docs):", markup=False)
    for title, command in curl_lines(
        base,
        token,
        member_id=demo_data.DEMO_MEMBER_ID,
        group_id=demo_data.DEMO_GROUP_ID,
        program_id=demo_data.DEMO_PROGRAM_ID,
        now=now,
    ):
        out.print(f"\n# {title}", markup=False)
        out.print(command, markup=False)
    out.print("", markup=False)
    sys.stdout.flush()
