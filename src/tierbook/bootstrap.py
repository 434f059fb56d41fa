"""The one place that builds the engine, unit of work and clock from settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from tierbook.adapters.db.engine import make_engine
from tierbook.adapters.db.migrate import upgrade
from tierbook.adapters.db.uow import SqlUnitOfWorkFactory
from tierbook.config import Settings
from tierbook.service.clocks import SystemClock
from tierbook.service.ports import Clock, UnitOfWorkFactory


@dataclass
class Container:
    settings: Settings
    engine: Engine
    uow_factory: UnitOfWorkFactory
    clock: Clock = field(default_factory=SystemClock)

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(
    settings: Settings | None = None, *, clock: Clock | None = None, migrate: bool = False
) -> Container:
    settings = settings or Settings()
    if migrate:
        upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    clock = clock or SystemClock()
    return Container(
        settings=settings,
        engine=engine,
        uow_factory=SqlUnitOfWorkFactory(engine, clock=clock),
        clock=clock,
    )
