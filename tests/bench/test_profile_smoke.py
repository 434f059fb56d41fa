"""The profiles run end to end on a few members and show where the time goes (a check that they
work, not a speed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import profile


@pytest.mark.parametrize(
    ("path", "rounds", "expected"),
    [
        ("sweep", None, "evaluate_many"),
        ("read", 200, "hot_member_tiers"),
        ("single", 20, "record_activity"),
        ("ingest", 1, "refresh_many"),
    ],
)
def test_a_profile_prints_the_path_it_ran(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    path: str,
    rounds: int | None,
    expected: str,
) -> None:
    monkeypatch.setattr(profile, "WORK", tmp_path)
    # These runs last a tenth of a second: on a busy machine the timing thread may not move
    # the time on within one, and the profile would record no samples.
    monkeypatch.setattr(profile, "TIMING_THREAD", False)
    html = tmp_path / "profile.html"
    argv = [path, "--members", "200", "--html", str(html)]
    assert profile.main(argv + (["--rounds", str(rounds)] if rounds else [])) == 0
    printed = capsys.readouterr().out
    assert expected in printed
    assert html.read_text().lstrip().startswith("<!DOCTYPE html>")
