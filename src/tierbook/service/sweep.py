"""The sweep: move every tier state that is due by an instant forward, and record what changed.

It takes every state whose stable span has ended by the instant (`stable_until`, never later
than the next due instant): the due ones, and those whose figures moved without anything falling
due (an entry left a window). Storing those again keeps the hot reads answering from stored
states instead of replaying ledgers.

Due states are taken in waves (the `wave` earliest due), each cut into pages of about `page`
states of one program, with every due state of a holder in the same page so its ledger is read
once. A page is evaluated under a read transaction (`evaluate_page`) and stored under the write
lock (`store_page`) only where no other writer touched its states since: each state's version is
compared with the one read beside its ledger, and a state written meanwhile is evaluated again
under the lock. Pages of a large wave are swept in worker processes, each evaluating and storing
its own (see `PageSweeper`): the tier clock runs on every core while the database sees one short
write per page, and a concurrent entry is never lost.

Each state is evaluated as of the sweep's instant, which puts the end of its stable span after
it: the waves end, and a second sweep finds nothing to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import groupby
from typing import Protocol

from tierbook.domain.state import TierState
from tierbook.service.members import not_in_future
from tierbook.service.model import ProgramConfig
from tierbook.service.ports import Clock, UnitOfWork, UnitOfWorkFactory
from tierbook.service.subjects import (
    Evaluated,
    evaluate_many,
    load_program,
    refresh_many,
    store,
    subjects_by_keys,
)

StateKey = tuple[int, str]


@dataclass(frozen=True, slots=True)
class SweepReport:
    states: int
    changes: int


@dataclass(frozen=True, slots=True)
class SweepPage:
    """Due states of one program to move forward to `as_of` together."""

    tenant_id: str
    program_id: int
    keys: tuple[StateKey, ...]
    as_of: datetime


@dataclass(frozen=True, slots=True)
class EvaluatedPage:
    """A page evaluated under one read transaction, with the versions of what it read."""

    page: SweepPage
    keys: tuple[StateKey, ...]
    """The page's keys and the due states of the same holders that joined them."""
    evaluated: tuple[Evaluated, ...]
    """Every key's state but those whose group or holder is gone."""
    versions: dict[StateKey, int]


class PageSweeper(Protocol):
    """Sweeps pages (`sweep_page`), in any order; yields each page's (states moved, tier
    changes) once it is stored."""

    def __call__(self, pages: Sequence[SweepPage]) -> Iterable[tuple[int, int]]: ...


def evaluate_page(
    uow_factory: UnitOfWorkFactory,
    page: SweepPage,
    programs: dict[tuple[str, int], ProgramConfig] | None = None,
) -> EvaluatedPage:
    """Read and evaluate a page's states (and the due states of the same holders); no writes."""
    with uow_factory(write=False) as uow:
        program = _program(uow, page.tenant_id, page.program_id, programs)
        holders = {subject_id for _, subject_id in page.keys}
        siblings = [(g.id, s) for g in program.groups for s in holders]
        due = uow.states.due_among(page.tenant_id, page.as_of, siblings)
        keys = tuple(dict.fromkeys([*page.keys, *due]))
        subjects, _ = subjects_by_keys(uow, page.tenant_id, program, keys)
        versions = uow.states.versions(page.tenant_id, keys)
        evaluated = evaluate_many(uow, page.tenant_id, program, subjects, page.as_of)
    return EvaluatedPage(page, keys, tuple(evaluated), versions)


def sweep_page(
    uow_factory: UnitOfWorkFactory,
    page: SweepPage,
    programs: dict[tuple[str, int], ProgramConfig] | None = None,
) -> tuple[int, int]:
    """Evaluate a page under a read transaction, then store it under the write lock and
    commit; (states moved, tier changes)."""
    evaluated = evaluate_page(uow_factory, page, programs)
    with uow_factory() as uow:
        counts = store_page(uow, evaluated)
        uow.commit()
    return counts


def in_process(uow_factory: UnitOfWorkFactory) -> PageSweeper:
    """Sweep pages one after another in this process."""
    programs: dict[tuple[str, int], ProgramConfig] = {}

    def run(pages: Sequence[SweepPage]) -> Iterator[tuple[int, int]]:
        for page in pages:
            yield sweep_page(uow_factory, page, programs)

    return run


def store_page(uow: UnitOfWork, evaluated: EvaluatedPage) -> tuple[int, int]:
    """Store an evaluated page under the write lock; (states moved, tier changes).

    A state some other writer stored since the page was read is evaluated again here, under
    the lock, from what the database holds now.
    """
    page = evaluated.page
    tenant_id, at = page.tenant_id, page.as_of
    uow.states.lock(tenant_id, list(evaluated.keys))
    current = uow.states.versions(tenant_id, evaluated.keys)
    read = evaluated.versions
    fresh = [e for e in evaluated.evaluated if current.get(e.key) == read.get(e.key)]
    settled = {e.key for e in fresh}
    again = [k for k in evaluated.keys if k not in settled]
    changes = len(store(uow, tenant_id, page.program_id, fresh))
    if again:
        program = load_program(uow, tenant_id, page.program_id)
        subjects, orphans = subjects_by_keys(uow, tenant_id, program, again)
        for group_id, subject_id in orphans:
            # A state whose group or holder is gone: the sweep never takes it again.
            stored = uow.states.get(tenant_id, group_id, subject_id)
            if stored is not None:
                uow.states.save(tenant_id, program.id, _undue(stored.state), stored.history)
        changes += len(refresh_many(uow, tenant_id, program, subjects, at))
    return len(evaluated.keys), changes


def sweep(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    *,
    as_of: datetime | None = None,
    page: int = 500,
    wave: int = 20_000,
    progress: Callable[[int], None] | None = None,
    sweeper: PageSweeper | None = None,
    parallel_from: int = 2_000,
) -> SweepReport:
    """Move every state due by `as_of` (default now) forward, one committed page at a time.

    `sweeper` sweeps the pages of waves of at least `parallel_from` due states (elsewhere, e.g.
    in worker processes); smaller waves, and every page by default, are swept here.
    """
    now = clock.now()
    at = not_in_future(as_of or now, now, "as_of")
    local = in_process(uow_factory)
    states = changes = 0
    while True:
        with uow_factory(write=False) as uow:
            due = uow.states.due(at, wave)
        if not due:
            break
        pages = _pages(due, at, page)
        run = sweeper if sweeper is not None and len(due) >= parallel_from else local
        for moved, changed in run(pages):
            states += moved
            changes += changed
            if progress is not None:
                progress(moved)
    return SweepReport(states=states, changes=changes)


def _pages(due: Sequence[tuple[str, int, int, str]], at: datetime, size: int) -> list[SweepPage]:
    """Pages of at most about `size` states of one program; a holder's states stay together."""
    pages: list[SweepPage] = []
    ordered = sorted(due, key=lambda d: (d[0], d[1], d[3], d[2]))
    for (tenant_id, program_id), rows in groupby(ordered, key=lambda d: (d[0], d[1])):
        keys: list[StateKey] = []
        for _, holder_rows in groupby(rows, key=lambda d: d[3]):
            if len(keys) >= size:
                pages.append(SweepPage(tenant_id, program_id, tuple(keys), at))
                keys = []
            keys += [(group_id, subject_id) for _, _, group_id, subject_id in holder_rows]
        if keys:
            pages.append(SweepPage(tenant_id, program_id, tuple(keys), at))
    return pages


def _program(
    uow: UnitOfWork,
    tenant_id: str,
    program_id: int,
    cache: dict[tuple[str, int], ProgramConfig] | None,
) -> ProgramConfig:
    # Within one sweep a program is read once per process. Should it change meanwhile, every
    # state it holds is written again, and `store_page` evaluates those under the new rules.
    if cache is None:
        return load_program(uow, tenant_id, program_id)
    key = (tenant_id, program_id)
    if key not in cache:
        cache[key] = load_program(uow, tenant_id, program_id)
    return cache[key]


def _undue(state: TierState) -> TierState:
    return replace(state, next_due_at=None, stable_until=None)
