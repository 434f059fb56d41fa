"""The one place that builds the engine, unit of work and clock from settings, and the sweep's
worker processes from the same settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.pool import Pool
from multiprocessing.synchronize import RLock

from sqlalchemy.engine import Engine

from tierbook.adapters.db.engine import make_engine, share_writer_lock
from tierbook.adapters.db.hot import SqlHotReads
from tierbook.adapters.db.migrate import upgrade
from tierbook.adapters.db.uow import SqlUnitOfWorkFactory
from tierbook.config import Settings
from tierbook.service.clocks import SystemClock
from tierbook.service.model import ProgramConfig
from tierbook.service.ports import Clock, HotReads, UnitOfWorkFactory
from tierbook.service.sweep import SweepPage, sweep_page
from tierbook.service.writer import ActivityWriter


@dataclass
class Container:
    settings: Settings
    engine: Engine
    uow_factory: UnitOfWorkFactory
    hot_reads: HotReads
    clock: Clock = field(default_factory=SystemClock)
    hot_engine: Engine | None = None
    """The hot reads' own engine, where they do not share `engine` (PostgreSQL)."""
    activity_writer: ActivityWriter = field(init=False)
    """Single activities, those that arrive together recorded in one transaction."""

    def __post_init__(self) -> None:
        self.activity_writer = ActivityWriter(self.uow_factory, self.clock)

    def close(self) -> None:
        self.engine.dispose()
        if self.hot_engine is not None:
            self.hot_engine.dispose()


COLLECTOR_THRESHOLDS = (50_000, 20, 100)
"""The cyclic garbage collector's thresholds in a process that runs tierbook (see
`tune_collector`)."""
_PYTHON_THRESHOLDS = (700, 10, 10)


def tune_collector() -> None:
    """Run the cyclic garbage collector less often than Python's default, unless the process
    chose thresholds of its own.

    Evaluating and storing tier states allocates many short-lived objects (an entry per ledger
    row, a state and its figures per subject) and few cycles. At Python's default thresholds
    the collector ran every 700 allocations and took 12-15% of a batch write's and of a
    sweep's CPU; at these it takes 1-3%. Reference counting still frees at once everything that
    is not in a cycle: only cycles wait longer, at most 50,000 allocations.
    """
    if gc.get_threshold() == _PYTHON_THRESHOLDS:
        gc.set_threshold(*COLLECTOR_THRESHOLDS)


def bootstrap(
    settings: Settings | None = None, *, clock: Clock | None = None, migrate: bool = False
) -> Container:
    """The container of one process: its engine, units of work, hot reads and clock. The
    process's garbage collector is tuned here too (`tune_collector`): every process that runs
    tierbook (the server, a command, a sweep worker) builds its container first."""
    tune_collector()
    settings = settings or Settings()
    if migrate:
        upgrade(settings.database_url)
    engine = make_engine(settings.database_url, pool_size=settings.database_pool_size)
    # On PostgreSQL the hot reads take connections from a pool of their own, which skips the
    # liveness ping (see `adapters.db.hot`); on SQLite they keep a connection of the engine's.
    hot_engine = (
        None
        if engine.dialect.name == "sqlite"
        else make_engine(settings.database_url, pool_size=settings.database_pool_size, ping=False)
    )
    clock = clock or SystemClock()
    return Container(
        settings=settings,
        engine=engine,
        uow_factory=SqlUnitOfWorkFactory(engine, clock=clock),
        hot_reads=SqlHotReads(hot_engine or engine, pool_size=settings.database_pool_size),
        clock=clock,
        hot_engine=hot_engine,
    )


# -- sweep workers ------------------------------------------------------------------------------

_worker: tuple[UnitOfWorkFactory, dict[tuple[str, int], ProgramConfig]] | None = None


def _start_worker(database_url: str, writers: RLock) -> None:
    global _worker
    container = bootstrap(Settings(database_url=database_url))
    share_writer_lock(container.engine, writers)
    _worker = (container.uow_factory, {})


def _sweep_in_worker(page: SweepPage) -> tuple[int, int]:
    assert _worker is not None, "the worker was not started"
    uow_factory, programs = _worker
    return sweep_page(uow_factory, page, programs)


class ProcessSweeper:
    """Sweeps pages in `workers` processes, each evaluating and storing its own pages on its own
    database connection; on SQLite their writers queue on one lock they share.

    The pool starts on first use (a sweep with little to do never pays for it); `close` stops it.
    Processes are spawned, not forked, so no connection of this process is shared with them.
    """

    def __init__(self, settings: Settings, workers: int) -> None:
        self._database_url = settings.database_url
        self._workers = workers
        self._pool: Pool | None = None

    def __call__(self, pages: Sequence[SweepPage]) -> Iterator[tuple[int, int]]:
        if self._pool is None:
            context = get_context("spawn")
            self._pool = context.Pool(
                self._workers,
                initializer=_start_worker,
                initargs=(self._database_url, context.RLock()),
            )
        return self._pool.imap_unordered(_sweep_in_worker, pages)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None
