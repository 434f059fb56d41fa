"""The sweep benchmark runs end to end at its smallest size (a check that it works, not a speed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.common import RESULTS

from bench import sweep


def test_the_sweep_benchmark_runs_and_writes_its_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "WORK", tmp_path)
    assert sweep.main(["--size", "smoke", "--backend", "sqlite"]) == 0
    result = json.loads((RESULTS / "smoke" / "sweep-smoke.json").read_text())
    figures = result["figures"]["sqlite"]
    assert figures["rebuild"]["states"] == figures["data"]["states"]
    assert figures["again"]["states"] == 0
    assert figures["checked_states"] > 0
    assert result["figures"]["reference"]["ledger_rows"] == figures["data"]["entries"]
    assert [g["name"] for g in result["goals"]] == ["sqlite rebuild within 3x of DuckDB"]
