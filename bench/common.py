"""What every benchmark shares: sizes, the machine, timing figures and the results file.

A benchmark is a module with `main(argv)` that measures one thing against its reference (taken
in the same run, on the same data), prints its figures and writes them with `write_result` to
`bench/results/<name>-<size>.json` (the smoke size, which only shows that the script works,
goes to `bench/results/smoke/` and is never committed).

Results carry the machine they were taken on, so a figure quoted in the README can always be
traced to its run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path(os.environ.get("TIERBOOK_BENCH_DIR", "/tmp/tierbook-bench"))
"""Where benchmark databases and data files go (large: 1M members take several GB)."""


@dataclass(frozen=True, slots=True)
class Size:
    name: str
    members: int
    entries_per_member: float = 20.0


SIZES = {
    "smoke": Size("smoke", 200),
    "small": Size("small", 20_000),
    "full": Size("full", 1_000_000),
}


def parser(description: str, *, default: str = "small") -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes."""
    parse = argparse.ArgumentParser(description=description)
    parse.add_argument(
        "--size",
        choices=sorted(SIZES),
        default=default,
        help=f"data size (default {default}); smoke only checks that the script works",
    )
    parse.add_argument(
        "--backend",
        choices=("sqlite", "postgres", "both"),
        default="both",
        help="database(s) to measure where the benchmark uses one (default both)",
    )
    parse.add_argument(
        "--seconds", type=float, default=None, help="length of each timed load phase"
    )
    return parse


def backends(choice: str) -> list[str]:
    return ["sqlite", "postgres"] if choice == "both" else [choice]


# -- the machine --------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _postgres_version() -> str | None:
    try:
        out = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "show server_version", "test"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _commit() -> str | None:
    """The code measured: the checkout's commit, marked when it has uncommitted changes (the
    results earlier benchmarks wrote into `bench/results` are not code, and do not count)."""
    here = str(Path(__file__).resolve().parent)

    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", "-C", here, *args], capture_output=True, text=True, timeout=5, check=True
        )
        return out.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git(
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ":(top)",
            ":(top,exclude)bench/results",
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+changes" if dirty else head


def machine() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgres": _postgres_version(),
        "commit": _commit(),
    }


# -- figures ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100) of `values`, by linear interpolation."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=1000, method="inclusive")[min(998, int(q * 10) - 1)]


def latency_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max of latencies given in seconds, in milliseconds."""
    return {
        "p50_ms": round(percentile(samples, 50) * 1000, 3),
        "p90_ms": round(percentile(samples, 90) * 1000, 3),
        "p99_ms": round(percentile(samples, 99) * 1000, 3),
        "max_ms": round(max(samples) * 1000, 3) if samples else float("nan"),
    }


class Stopwatch:
    """`with Stopwatch() as watch: ...`; then `watch.seconds`."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._began = 0.0

    def __enter__(self) -> Stopwatch:
        self._began = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self._began


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Goal:
    """A target from the issue that set the benchmark, and whether this run met it."""

    name: str
    target: str
    measured: float
    met: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "measured": self.measured,
            "met": self.met,
        }


@dataclass
class Result:
    name: str
    size: str
    figures: dict[str, Any] = field(default_factory=dict)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def goal(self, name: str, target: str, measured: float, met: bool) -> None:
        self.goals.append(Goal(name, target, round(measured, 3), met))


def write_result(result: Result) -> Path:
    """Print the result's goals and write the whole result as JSON; the file's path."""
    folder = RESULTS / "smoke" if result.size == "smoke" else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.name}-{result.size}.json"
    body = {
        "benchmark": result.name,
        "size": result.size,
        "taken_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "machine": machine(),
        "figures": result.figures,
        "goals": [g.as_dict() for g in result.goals],
        "notes": result.notes,
    }
    path.write_text(json.dumps(body, indent=2, default=str) + "\n")
    for goal in result.goals:
        mark = "met" if goal.met else "NOT met"
        say(f"goal {goal.name}: {goal.target}; measured {goal.measured:,} -> {mark}")
    say(f"wrote {path.relative_to(RESULTS.parent.parent)}")
    return path
