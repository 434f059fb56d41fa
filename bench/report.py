"""Print the README's benchmark section from `bench/results/*.json`: `python -m bench.report`.

Each benchmark is quoted at every size on record, the largest (`full`) first.

The README quotes exactly what a run wrote, with the machine it ran on; regenerate the section
after `make bench` rather than editing figures by hand.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import RESULTS

Section = Callable[[dict[str, Any]], list[str]]


def _n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _goals(result: dict[str, Any]) -> list[str]:
    lines = ["", "| goal | target | measured | met |", "|---|---|---|---|"]
    for goal in result["goals"]:
        met = "yes" if goal["met"] else "**no**"
        lines.append(f"| {goal['name']} | {goal['target']} | {_n(goal['measured'], 2)} | {met} |")
    return lines


def _sweep(result: dict[str, Any]) -> list[str]:
    figures = result["figures"]
    reference = figures["reference"]
    lines = [
        "| backend | members | entries | states | rebuild s | members/s | states/s | "
        "x DuckDB as-of | x DuckDB per-entry | next day (states, s) | next week (states, s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for backend in ("sqlite", "postgres"):
        if backend not in figures:
            continue
        f = figures[backend]
        data, rebuild = f["data"], f["rebuild"]
        lines.append(
            f"| {backend} | {_n(data['members'])} | {_n(data['entries'])} | {_n(data['states'])} "
            f"| {_n(rebuild['seconds'], 1)} | {_n(rebuild['members_per_s'])} "
            f"| {_n(rebuild['states_per_s'])} | {f['ratio_to_duckdb_value_as_of']:,} "
            f"| {f['ratio_to_duckdb_value_per_entry']:,} "
            f"| {_n(f['next_day']['states'])}, {f['next_day']['seconds']} "
            f"| {_n(f['next_week']['states'])}, {f['next_week']['seconds']} |"
        )
    lines += [
        "",
        f"DuckDB {reference['duckdb_version']} ({reference['threads']} threads) over the same "
        f"{_n(reference['ledger_rows'])} ledger rows: each member's rolling-365-day points as of "
        f"the sweep's instant in {reference['value_as_of_seconds']} s, the rolling value at every "
        f"entry in {reference['value_per_entry_seconds']} s.",
    ]
    return lines + _goals(result)


def _read_api(result: dict[str, Any]) -> list[str]:
    figures = result["figures"]
    lines = [
        f"{figures['connections']} keep-alive connections on loopback, {figures['server']}, "
        f"{figures['seconds']} s per run; {_n(figures['members'])} members, "
        f"{_n(figures['sampled_members'])} of them asked for at random.",
        "",
        "| server | endpoint | req/s | p50 ms | p99 ms | x FastAPI floor |",
        "|---|---|---|---|---|---|",
    ]
    for floor, endpoints in figures["floors"].items():
        for endpoint, f in endpoints.items():
            lines.append(
                f"| floor: {floor.replace('_', ' ')} | {endpoint} | {_n(f['rps'])} "
                f"| {f['p50_ms']} | {f['p99_ms']} | |"
            )
    for backend, endpoints in figures["endpoints"].items():
        for endpoint, f in endpoints.items():
            lines.append(
                f"| tierbook on {backend} | {endpoint} | {_n(f['rps'])} | {f['p50_ms']} "
                f"| {f['p99_ms']} | {f['ratio_to_floor']['reference']} |"
            )
    return lines + _goals(result)


def _ingest(result: dict[str, Any]) -> list[str]:
    figures = result["figures"]
    work = figures["workload"]
    lines = [
        "| backend | single req/s | p50 / p99 ms | batch /s | import /s | bulk insert rows/s "
        "| single, batch, import x insert | server CPU ms per activity (single, batch) "
        "| clock ms per evaluation |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for backend in ("sqlite", "postgres"):
        if backend not in figures:
            continue
        f = figures[backend]
        single, batch, imported = f["single"], f["batch"], f["import"]
        ratios = ", ".join(
            f"{phase['ratio_to_reference']:.4f}" for phase in (single, batch, imported)
        )
        lines.append(
            f"| {backend} | {_n(single['rps'])} | {single['p50_ms']} / {single['p99_ms']} "
            f"| {_n(batch['activities_per_s'])} | {_n(imported['activities_per_s'])} "
            f"| {_n(f['reference']['rows_per_s'])} | {ratios} "
            f"| {single['server_cpu_ms_per_activity']}, {batch['server_cpu_ms_per_activity']} "
            f"| {batch['check']['clock_ms_per_evaluation']} |"
        )
    lines += [
        "",
        f"{_n(work['members'])} members with {_n(work['entries_loaded_first'])} older entries "
        f"loaded first; each phase ingests the next {_n(work['entries_ingested'])} in time "
        f"order, each entry's tier states evaluated and stored in its transaction: single "
        f"`POST /v1/activities` on {work['connections']} connections to one worker and "
        f"`activities:batch` of {_n(work['batch_size'])} as live activity (dated on arrival, "
        "so the tier clock resumes from each stored state), `tierbook import` of JSON Lines as "
        "a back-fill (dated as generated, older than the states: each subject replayed from "
        "enrolment; wall clock, start-up included); the bulk insert writes the same ledger rows "
        "with no tier update. Every phase's stored states were checked against a replay.",
    ]
    grouped = [
        f"{figures[b]['single']['entries_per_transaction']} on {b}"
        for b in ("sqlite", "postgres")
        if b in figures and "entries_per_transaction" in figures[b]["single"]
    ]
    if grouped:
        lines += [
            "",
            "Single requests that arrive while another is being recorded share a transaction "
            f"(group commit); requests per transaction on average: {', '.join(grouped)}.",
        ]
    return lines + _goals(result)


SECTIONS: dict[str, tuple[str, Section]] = {
    "read_api": ("Read API (`GET /v1/members/{id}/tiers`, Omneo's profile tier)", _read_api),
    "sweep": ("Sweep (`tierbook sweep`, every state stale: a full rebuild)", _sweep),
    "ingest": (
        "Ingest (activities recorded with their tier update, against a bulk insert)",
        _ingest,
    ),
}


def _machine(machine: dict[str, Any]) -> str:
    return (
        f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"{machine['os']}; Python {machine['python']}, SQLite {machine['sqlite']}, "
        f"PostgreSQL {machine['postgres']}; tierbook {machine.get('commit') or 'unknown'}"
    )


def render(folder: Path = RESULTS) -> str:
    lines: list[str] = []
    for name, (title, section) in SECTIONS.items():
        found = [folder / f"{name}-{size}.json" for size in ("full", "small")]
        paths = [path for path in found if path.exists()]
        if not paths:
            continue
        lines += [f"### {title}", ""]
        for path in paths:
            result = json.loads(path.read_text())
            lines += [
                f"Size `{result['size']}`, taken {result['taken_at']} on "
                f"{_machine(result['machine'])}.",
                "",
                *section(result),
                "",
            ]
    return "\n".join(lines)


def main() -> int:
    print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
