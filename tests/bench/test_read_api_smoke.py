"""The read benchmark runs end to end at the smoke size and writes its figures (never a speed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import common, read_api


def test_the_read_benchmark_runs_and_writes_its_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(read_api, "WORK", tmp_path / "data")
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")

    assert read_api.main(["--size", "smoke", "--backend", "sqlite", "--seconds", "1"]) == 0

    written = json.loads((tmp_path / "results" / "smoke" / "read_api-smoke.json").read_text())
    assert written["benchmark"] == "read_api"
    endpoints = written["figures"]["endpoints"]["sqlite"]
    assert set(endpoints) == {"native", "omneo"}
    for figures in endpoints.values():
        assert figures["requests"] > 0
        assert set(figures["statuses"]) == {"200"}
    assert {goal["name"] for goal in written["goals"]} == {
        "sqlite native requests/s vs the FastAPI floor",
        "sqlite native p99",
        "sqlite omneo requests/s vs the FastAPI floor",
        "sqlite omneo p99",
    }
