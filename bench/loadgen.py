"""A small HTTP/1.1 load generator for loopback benchmarks, and a server launcher.

`run(...)` opens `connections` keep-alive connections and has each send pre-encoded requests
back to back (one in flight per connection, like wrk) for `seconds` after a `warmup`, recording
every response's status and latency. Requests are cycled; with `cycle=False` each is sent once,
and a run whose requests are all sent before its time ends there (its `seconds` are the time
it measured). It is asyncio over raw streams with a minimal response parser, so one client
process serves far more requests per second than one server worker: the figures measure the
server, not the client. With `processes > 1` the connections are split between worker
processes.

`serve(...)` starts a uvicorn server for an ASGI app factory in a child process (one worker, as
the benchmarks specify) and waits until it answers.
"""

from __future__ import annotations

import asyncio
import importlib.util
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def encode(self, host: str) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass
class LoadReport:
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    ended: float = 0.0
    """When the last measured response came (`time.perf_counter`)."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def merge(self, other: LoadReport) -> None:
        self.requests += other.requests
        self.seconds = max(self.seconds, other.seconds)
        self.latencies += other.latencies
        self.statuses.update(other.statuses)
        self.errors += other.errors


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value)
        elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def _connection(
    host: str,
    port: int,
    requests: Sequence[bytes],
    start: int,
    step: int,
    measure_from: float,
    stop_at: float,
    report: LoadReport,
    cycle: bool,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    clock = time.perf_counter
    i = start % len(requests)
    try:
        while True:
            began = clock()
            if began >= stop_at:
                break
            writer.write(requests[i])
            try:
                status = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                report.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            ended = clock()
            if began >= measure_from:
                report.requests += 1
                report.latencies.append(ended - began)
                report.statuses[status] += 1
                report.ended = max(report.ended, ended)
            i += step
            if i >= len(requests):
                if not cycle:
                    break
                i %= len(requests)
    finally:
        writer.close()


async def _drive(
    host: str,
    port: int,
    requests: Sequence[bytes],
    connections: int,
    first: int,
    step: int,
    warmup: float,
    seconds: float,
    cycle: bool,
) -> LoadReport:
    report = LoadReport()
    now = time.perf_counter()
    measure_from = now + warmup
    stop_at = measure_from + seconds
    await asyncio.gather(
        *(
            _connection(host, port, requests, first + c * step, step * connections, measure_from,
                        stop_at, report, cycle)
            for c in range(connections)
        )
    )  # fmt: skip
    # Requests sent once may all be answered before the time is up: the run measured until then.
    report.seconds = seconds if cycle else max(0.0, min(stop_at, report.ended) - measure_from)
    return report


def _worker(args: tuple[Any, ...]) -> LoadReport:
    return asyncio.run(_drive(*args))


def run(
    host: str,
    port: int,
    requests: Sequence[Request],
    *,
    connections: int = 16,
    seconds: float = 10.0,
    warmup: float = 2.0,
    processes: int = 1,
    cycle: bool = True,
) -> LoadReport:
    """Drive the server at `host:port` with `requests` (cycled, or each sent once where not
    `cycle`) and report what came back."""
    encoded = [r.encode(f"{host}:{port}") for r in requests]
    per = max(1, connections // processes)
    jobs = [
        (host, port, encoded, per, p, processes, warmup, seconds, cycle) for p in range(processes)
    ]
    if processes == 1:
        return _worker(jobs[0])
    report = LoadReport()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        for part in pool.map(_worker, jobs):
            report.merge(part)
    return report


# -- the server under test ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_name() -> str:
    """What `serve` runs: uvicorn's own choice of event loop and HTTP parser (uvloop and
    httptools where installed, as tierbook installs them), one worker."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"uvicorn, one worker ({loop}, {http}), no access log"


@contextmanager
def serve(
    factory: str, *, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[int]:
    """Serve the ASGI app factory `module:function` with one uvicorn worker; yields the port."""
    port = port or free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    child = subprocess.Popen(command, env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + 60
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"{factory} exited with {child.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{factory} did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
