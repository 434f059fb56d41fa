"""Group commit for single activities: requests that arrive together share one transaction.

Every single activity is a request of its own, with its own outcome or error, but its cost is
mostly not its own: a transaction to open and commit, and statements that read and write one
subject where they could read and write many. `ActivityWriter.record` queues the request;
whichever request finds no other being recorded leads: it takes every request queued by then
(its own among them) and records them in one transaction (`activities.record_together`), then
wakes each with its outcome and hands the lead to the next request queued meanwhile, if any.
Under a steady stream of requests each transaction records what arrived during the one
before; a request that arrives alone is recorded alone at once, through `activities.record`,
exactly as without the writer.

Recording together never changes an outcome. `record_together` records each command as it
would be recorded alone, and stops at the first command that shares a tier state, an
idempotency key or an entry with an earlier one: that command and those after it go back to
the head of the queue, in order, and are recorded in the next transaction, after the earlier
one committed. Should the shared transaction fail as a whole (a lock not granted in time, the
database gone), each of its requests is recorded again alone, so each gets the outcome, or
the error, it would have had.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby

from tierbook.domain.errors import TierbookError
from tierbook.service import activities
from tierbook.service.activities import Outcome
from tierbook.service.commands import RecordActivity
from tierbook.service.ports import Clock, UnitOfWorkFactory

log = logging.getLogger(__name__)

GROUP_LIMIT = 64
"""The most requests recorded in one transaction."""


@dataclass(eq=False)
class _Request:
    tenant_id: str
    command: RecordActivity
    wake: threading.Event = field(default_factory=threading.Event)
    outcome: Outcome | None = None
    error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.outcome is not None or self.error is not None


class ActivityWriter:
    """Records single activities, those that arrive together in one transaction."""

    def __init__(
        self, uow_factory: UnitOfWorkFactory, clock: Clock, *, limit: int = GROUP_LIMIT
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._limit = limit
        self._lock = threading.Lock()
        self._queue: list[_Request] = []
        self._leading = False

    def record(self, tenant_id: str, command: RecordActivity) -> Outcome:
        """Record one activity as `activities.record` would alone; raises its error."""
        me = _Request(tenant_id, command)
        with self._lock:
            self._queue.append(me)
            leads = not self._leading
            self._leading = True
        while True:
            if not leads:
                me.wake.wait()
                me.wake.clear()
            if me.done:
                break
            self._lead()  # woken without an outcome, or first: this request leads a round
            leads = False
        if me.error is not None:
            raise me.error
        assert me.outcome is not None
        return me.outcome

    def _lead(self) -> None:
        """Record the queued requests (one transaction per tenant), wake each with its outcome
        and hand the lead to the first request still queued."""
        with self._lock:
            group, self._queue = self._queue[: self._limit], self._queue[self._limit :]
        try:
            self._record(group)
        except BaseException as exc:  # pragma: no cover - `_record` answers every request
            for request in group:
                if not request.done:
                    request.error = exc
            raise
        finally:
            later = [r for r in group if not r.done]
            with self._lock:
                self._queue[:0] = later
                following = self._queue[0] if self._queue else None
                self._leading = following is not None
            for request in group:
                if request.done:
                    request.wake.set()
            if following is not None:
                following.wake.set()

    def _record(self, group: Sequence[_Request]) -> None:
        ordered = sorted(group, key=lambda r: r.tenant_id)  # stable: arrival order within
        for tenant_id, requests in groupby(ordered, key=lambda r: r.tenant_id):
            self._together(tenant_id, list(requests))

    def _together(self, tenant_id: str, requests: list[_Request]) -> None:
        if len(requests) == 1:
            self._alone(requests[0])
            return
        try:
            with self._uow_factory() as uow:
                results = activities.record_together(
                    uow, self._clock, tenant_id=tenant_id, commands=[r.command for r in requests]
                )
                uow.commit()
        except Exception:
            log.debug("a shared transaction failed; its requests are recorded alone", exc_info=True)
            for request in requests:
                self._alone(request)
            return
        for request, result in zip(requests, results, strict=True):
            if isinstance(result, TierbookError):
                request.error = result
            elif result is not None:
                request.outcome = result

    def _alone(self, request: _Request) -> None:
        try:
            with self._uow_factory() as uow:
                outcome = activities.record(
                    uow, self._clock, tenant_id=request.tenant_id, commands=[request.command]
                )
                uow.commit()
        except Exception as exc:
            request.error = exc
        else:
            request.outcome = outcome
