"""The SQL unit of work: one connection, one transaction, every repository on it.

Nothing is written unless `commit()` is called; leaving the `with` block rolls back the rest.
A writing unit of work begins with `BEGIN IMMEDIATE` on SQLite (see `engine`), a reading one
with a deferred `BEGIN` on SQLite and a READ ONLY transaction on PostgreSQL. On SQLite the
writers of one engine queue on an in-process lock before they begin (`engine.writer_lock`).
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Self

import sqlalchemy as sa

from tierbook.adapters.db.engine import WRITE_OPTION, WriterLock, writer_lock
from tierbook.adapters.db.repositories_catalog import SqlMemberRepository, SqlProgramRepository
from tierbook.adapters.db.repositories_ledger import SqlAssignmentRepository, SqlLedgerRepository
from tierbook.adapters.db.repositories_ops import (
    SqlApiKeyRepository,
    SqlCheckpointRepository,
    SqlOutboxRepository,
)
from tierbook.adapters.db.repositories_sessions import SqlDialectRepository
from tierbook.adapters.db.repositories_state import SqlStateRepository
from tierbook.adapters.db.repositories_webhooks import SqlWebhookRepository
from tierbook.domain.errors import ConcurrentUpdate
from tierbook.service.clocks import SystemClock
from tierbook.service.ports import (
    ApiKeyRepository,
    AssignmentRepository,
    CheckpointRepository,
    Clock,
    DialectRepository,
    LedgerRepository,
    MemberRepository,
    OutboxRepository,
    ProgramRepository,
    StateRepository,
    UnitOfWork,
    UnitOfWorkFactory,
    WebhookRepository,
)


class SqlUnitOfWork:
    programs: ProgramRepository
    members: MemberRepository
    ledger: LedgerRepository
    assignments: AssignmentRepository
    states: StateRepository
    outbox: OutboxRepository
    webhooks: WebhookRepository
    keys: ApiKeyRepository
    checkpoints: CheckpointRepository
    dialects: DialectRepository

    def __init__(
        self, engine: sa.Engine, *, write: bool = True, clock: Clock | None = None
    ) -> None:
        self._engine = engine
        self._write = write
        self._clock = clock or SystemClock()
        self._connection: sa.Connection | None = None
        self._writer: WriterLock | None = None

    def __enter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("this unit of work is already open")
        self._queue()
        try:
            connection = self._engine.connect()
            try:
                connection.execution_options(**self._options())
                connection.begin()
            except BaseException:
                connection.close()
                raise
        except BaseException:
            self._leave_queue()
            raise
        self._connection = connection
        args = (connection, self._clock)
        self.programs = SqlProgramRepository(*args, write=self._write)
        self.members = SqlMemberRepository(*args, write=self._write)
        self.ledger = SqlLedgerRepository(*args, write=self._write)
        self.assignments = SqlAssignmentRepository(*args, write=self._write)
        self.states = SqlStateRepository(*args, write=self._write)
        self.outbox = SqlOutboxRepository(*args, write=self._write)
        self.keys = SqlApiKeyRepository(*args, write=self._write)
        self.webhooks = SqlWebhookRepository(*args, write=self._write)
        self.checkpoints = SqlCheckpointRepository(*args, write=self._write)
        self.dialects = SqlDialectRepository(*args, write=self._write)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.rollback()
        finally:
            try:
                connection.close()
            finally:
                self._leave_queue()

    def commit(self) -> None:
        """Commit; a later statement in the same `with` block starts a new transaction."""
        self._open().commit()

    def rollback(self) -> None:
        self._open().rollback()

    def _open(self) -> sa.Connection:
        if self._connection is None:
            raise RuntimeError("the unit of work is not open; use it in a `with` block")
        return self._connection

    def _queue(self) -> None:
        """A writer on SQLite waits for the engine's other writers here (see `writer_lock`)."""
        self._writer = writer_lock(self._engine) if self._write else None
        if self._writer is not None and not self._writer.lock.acquire(
            timeout=self._writer.timeout_s
        ):
            self._writer = None
            raise ConcurrentUpdate("another writer held the database too long; retry")

    def _leave_queue(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.lock.release()

    def _options(self) -> dict[str, bool]:
        if self._engine.dialect.name == "postgresql" and not self._write:
            # The pool resets this characteristic when the connection is returned.
            return {"postgresql_readonly": True}
        return {WRITE_OPTION: self._write}


class SqlUnitOfWorkFactory:
    def __init__(self, engine: sa.Engine, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self._clock = clock

    def __call__(self, *, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write=write, clock=self._clock)


if TYPE_CHECKING:
    # mypy proves here that these classes satisfy the service's ports.
    def _conforms(uow: SqlUnitOfWork, factory: SqlUnitOfWorkFactory) -> None:
        _: UnitOfWork = uow
        __: UnitOfWorkFactory = factory
