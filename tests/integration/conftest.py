"""Fixtures of the integration suite (the database fixtures are in `tests/conftest.py`)."""

from __future__ import annotations

from typing import Any

import pytest

from tierbook.domain import clock as clock_module


@pytest.fixture
def clock_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """How each tier clock evaluation started, in order: `restore` where it resumed from a
    stored state, `enrol` where it replayed the ledger from enrolment."""
    runs: list[str] = []
    for way in ("restore", "enrol"):
        real = getattr(clock_module._Run, way)

        def counted(self: Any, *args: Any, _real: Any = real, _way: str = way) -> Any:
            runs.append(_way)
            return _real(self, *args)

        monkeypatch.setattr(clock_module._Run, way, counted)
    return runs
