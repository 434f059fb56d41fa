"""On SQLite, the writing units of work of one engine queue in the process for their turn.

SQLite has one write lock per database; a thread that met it inside SQLite would sleep in the
busy handler. The engine's writers therefore wait on an in-process lock first (the order of
arrival is theirs), readers never do, and other processes and engines still meet SQLite's own
busy timeout, unless they share a lock across processes (the sweep's workers). None of these
tests measure time; they check who waits for whom.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tierbook.adapters.db import engine as engine_module
from tierbook.adapters.db.engine import (
    Lock,
    WriterLock,
    make_engine,
    share_writer_lock,
    writer_lock,
)
from tierbook.adapters.db.migrate import upgrade
from tierbook.adapters.db.uow import SqlUnitOfWorkFactory
from tierbook.domain.errors import ConcurrentUpdate

WAIT = 30.0
"""How long a test waits for a thread to reach a point (a safety net, never a measurement)."""


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'writers.db'}"
    upgrade(url)
    return url


@pytest.fixture
def engine(url: str) -> Iterator[sa.Engine]:
    engine = make_engine(url)
    yield engine
    engine.dispose()


class _Watched:
    """A re-entrant lock (or `lock`, seen through) that says when a thread has to wait for it."""

    def __init__(self, lock: Lock | None = None) -> None:
        self._lock = lock or threading.RLock()
        self.waited = threading.Event()

    def acquire(self, *, timeout: float) -> bool:
        if self._lock.acquire(timeout=0):
            return True
        self.waited.set()
        return self._lock.acquire(timeout=timeout)

    def release(self) -> None:
        self._lock.release()


def test_a_second_writer_waits_in_the_queue_until_the_first_has_finished(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = _Watched()
    monkeypatch.setitem(engine_module._WRITER_LOCKS, engine, WriterLock(queue, WAIT))
    uows = SqlUnitOfWorkFactory(engine)
    events: list[str] = []

    def second() -> None:
        with uows() as uow:
            events.append("second began")
            uow.checkpoints.put("t", "job", {"by": "second"})
            uow.commit()

    waiter = threading.Thread(target=second)
    with uows() as uow:
        waiter.start()
        # The second writer waits here, in the process, not in SQLite's busy handler.
        assert queue.waited.wait(WAIT)
        events.append("first commits")
        uow.checkpoints.put("t", "job", {"by": "first"})
        uow.commit()
    waiter.join(WAIT)
    assert events == ["first commits", "second began"]
    with uows(write=False) as uow:
        assert uow.checkpoints.get("t", "job") == {"by": "second"}


def test_engines_that_share_a_lock_across_processes_queue_their_writers_on_it(
    engine: sa.Engine, url: str
) -> None:
    shared = multiprocessing.get_context("spawn").RLock()
    other = make_engine(url)  # as another process would open it
    try:
        share_writer_lock(engine, shared)
        watched = _Watched(shared)
        share_writer_lock(other, watched)
        events: list[str] = []

        def second() -> None:
            with SqlUnitOfWorkFactory(other)() as uow:
                events.append("second began")
                uow.commit()

        waiter = threading.Thread(target=second)
        with SqlUnitOfWorkFactory(engine)() as uow:
            waiter.start()
            # The other engine's writer waits on the shared lock, not in SQLite's busy handler.
            assert watched.waited.wait(WAIT)
            events.append("first commits")
            uow.commit()
        waiter.join(WAIT)
        assert events == ["first commits", "second began"]
    finally:
        other.dispose()


def test_a_writer_queued_longer_than_the_lock_timeout_gets_concurrent_update(url: str) -> None:
    impatient = make_engine(url, lock_timeout_s=0.05)
    try:
        uows = SqlUnitOfWorkFactory(impatient)
        failed: list[BaseException] = []

        def second() -> None:
            try:
                with uows():
                    pass
            except ConcurrentUpdate as exc:
                failed.append(exc)

        with uows():
            waiter = threading.Thread(target=second)
            waiter.start()
            waiter.join(WAIT)
        assert len(failed) == 1
        # The queue was left behind: the next writer gets its turn.
        with uows() as uow:
            uow.commit()
    finally:
        impatient.dispose()


def test_readers_do_not_queue_behind_a_writer(engine: sa.Engine) -> None:
    uows = SqlUnitOfWorkFactory(engine)
    read: list[object] = []

    def reader() -> None:
        with uows(write=False) as uow:
            read.append(uow.checkpoints.get("t", "job"))

    with uows() as uow:
        uow.checkpoints.put("t", "job", {"n": 1})
        thread = threading.Thread(target=reader)
        thread.start()
        thread.join(WAIT)
        assert not thread.is_alive()
        uow.commit()
    assert read == [None]


def test_a_writer_that_fails_to_begin_leaves_the_queue(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    uows = SqlUnitOfWorkFactory(engine)

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("no connection")

    with monkeypatch.context() as patch:
        patch.setattr(engine, "connect", broken)
        with pytest.raises(RuntimeError), uows():
            pass
    done = threading.Event()

    def writer() -> None:
        with uows() as uow:
            uow.commit()
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    thread.join(WAIT)
    assert done.is_set()


def test_only_sqlite_engines_queue_their_writers() -> None:
    postgres = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        assert writer_lock(postgres) is None
        share_writer_lock(postgres, threading.RLock())
        assert writer_lock(postgres) is None
    finally:
        postgres.dispose()
