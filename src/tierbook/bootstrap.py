"""The one place that builds the engine, unit of work and clock from settings, and the sweep's
worker processes from the same settings."""

from __future__ import annotations

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


@dataclass
class Container:
    settings: Settings
    engine: Engine
    uow_factory: UnitOfWorkFactory
    hot_reads: HotReads
    clock: Clock = field(default_factory=SystemClock)
    hot_engine: Engine | None = None
    """The hot reads' own engine, where they do not share `engine` (PostgreSQL)."""

    def close(self) -> None:
        self.engine.dispose()
        if self.hot_engine is not None:
            self.hot_engine.dispose()


def bootstrap(
    settings: Settings | None = None, *, clock: Clock | None = None, migrate: bool = False
) -> Container:
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
