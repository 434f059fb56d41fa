"""What building a container does to its process: the garbage collector's thresholds."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tierbook.bootstrap import COLLECTOR_THRESHOLDS, bootstrap
from tierbook.config import Settings


@pytest.fixture
def thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("thresholds")
def test_a_process_at_pythons_default_collects_less_often_once_bootstrapped() -> None:
    gc.set_threshold(700, 10, 10)
    bootstrap(Settings(database_url="sqlite://")).close()
    assert gc.get_threshold() == COLLECTOR_THRESHOLDS
    assert COLLECTOR_THRESHOLDS[0] > 700


@pytest.mark.usefixtures("thresholds")
def test_thresholds_a_process_chose_itself_are_kept() -> None:
    gc.set_threshold(5_000, 5, 5)
    bootstrap(Settings(database_url="sqlite://")).close()
    assert gc.get_threshold() == (5_000, 5, 5)
