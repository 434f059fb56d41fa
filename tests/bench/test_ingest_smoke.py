"""The ingest benchmark runs end to end at the smoke size and writes its results.

It asserts that the script works and checked its own work, never a speed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import common, ingest, report


def test_the_ingest_benchmark_runs_and_writes_its_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(ingest, "WORK", tmp_path / "work")
    (tmp_path / "work").mkdir()

    code = ingest.main(["--size", "smoke", "--backend", "sqlite", "--seconds", "1"])

    written = json.loads((tmp_path / "results" / "smoke" / "ingest-smoke.json").read_text())
    figures = written["figures"]["sqlite"]
    assert code == 0, json.dumps(figures, indent=1)
    assert figures["single"]["all_201"]
    assert figures["single"]["requests"] > 0
    # Each transaction records at least one request: no entry goes uncounted.
    assert figures["single"]["entries_per_transaction"] >= 1
    assert 1 <= figures["batch"]["check"]["transactions"] <= figures["batch"]["calls"]
    assert figures["batch"]["check"]["states_wrong"] == 0
    assert figures["import"]["check"]["states_checked"] > 0
    assert figures["reference"]["rows"] == written["figures"]["workload"]["entries_ingested"]
    section = "\n".join(report.SECTIONS["ingest"][1](written))
    assert "| sqlite |" in section
    assert "requests per transaction on average: " in section
    assert {goal["name"] for goal in written["goals"]} == {
        "single_sqlite",
        "batch_sqlite",
        "import_sqlite",
    }


def test_single_requests_send_a_refund_after_its_purchase_on_the_same_connection() -> None:
    work = ingest.workload("smoke")
    laid_out = ingest.striped(work.tail, 8)
    assert len(laid_out) % 8 == 0
    assert len(laid_out) > len(work.tail) - 8 * 8
    assert len({e.key for e in laid_out}) == len(laid_out)
    place = {e.key: i for i, e in enumerate(laid_out)}
    gaps = [place[e.key] - place[e.reverses] for e in laid_out if e.reverses in place]
    assert gaps
    assert all(gap > 0 and gap % 8 == 0 for gap in gaps)


def test_entries_limits_what_the_batch_and_import_phases_ingest() -> None:
    whole = ingest.workload("smoke")
    part = ingest.workload("smoke", 100)
    assert part.tail == whole.tail
    assert part.batched == whole.tail[:100]
    assert whole.batched == whole.tail
