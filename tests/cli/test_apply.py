"""`tierbook apply FILE`: create or update a program from its §3 YAML, idempotently."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.cli.conftest import PROGRAM_YAML, TENANT, Cli
from tierbook.demo import document as demo_document

BRONZE, SILVER, GOLD = (line for line in PROGRAM_YAML.splitlines() if "handle: " in line)
# Silver and Gold trade ranks (and thresholds, so that value_min still rises with rank).
SWAPPED_RANKS = PROGRAM_YAML.replace(
    SILVER, "      - {id: 2, handle: silver, name: Silver, rank: 2, value_min: 2500}"
).replace(GOLD, "      - {id: 3, handle: gold, name: Gold, rank: 1, value_min: 1000}")
WITHOUT_BRONZE = (
    PROGRAM_YAML.replace(BRONZE + "\n", "")
    .replace(SILVER, "      - {id: 2, handle: silver, name: Silver, rank: 0, is_floor: true}")
    .replace(GOLD, "      - {id: 3, handle: gold, name: Gold, rank: 1, value_min: 2500}")
)
WITHOUT_GOLD = "\n".join(line for line in PROGRAM_YAML.splitlines() if "handle: gold" not in line)


def write(tmp_path: Path, text: str, name: str = "program.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_apply_creates_a_program_then_reports_it_unchanged(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, PROGRAM_YAML)
    created = cli("apply", path, "--tenant", TENANT)
    assert created.stdout.startswith("created: program 123 (ACME Rewards) in tenant acme")
    assert "1 groups, 3 tiers" in created.stdout
    again = cli("apply", path, "--tenant", TENANT)
    assert again.stdout.startswith("unchanged: program 123")


def test_apply_updates_a_program_whose_rules_changed(cli: Cli, tmp_path: Path) -> None:
    cli("apply", write(tmp_path, PROGRAM_YAML), "-t", TENANT)
    cli.enrol(["m1", "m2"], datetime(2025, 1, 10, tzinfo=UTC))
    changed = PROGRAM_YAML.replace("value_min: 2500", "value_min: 3000")
    result = cli("apply", write(tmp_path, changed, "v2.yaml"), "-t", TENANT)
    assert result.stdout.startswith("updated: program 123")
    assert "2 tier states re-evaluated" in result.stdout


def test_renumbering_ranks_is_refused_without_force(cli: Cli, tmp_path: Path) -> None:
    cli("apply", write(tmp_path, PROGRAM_YAML), "-t", TENANT)
    swapped = write(tmp_path, SWAPPED_RANKS, "swapped.yaml")
    refused = cli("apply", swapped, "-t", TENANT, code=1)
    assert refused.stdout == ""
    assert refused.stderr.count("\n") == 1
    assert refused.stderr.startswith("error: refused: tier 'silver' would move from rank 1 to 2")
    forced = cli("apply", swapped, "-t", TENANT, "--force")
    assert forced.stdout.startswith("updated: program 123")
    assert "(forced)" in forced.stdout
    assert cli("apply", swapped, "-t", TENANT).stdout.startswith("unchanged")


def test_removing_a_tier_members_hold_is_refused_without_force(cli: Cli, tmp_path: Path) -> None:
    cli("apply", write(tmp_path, PROGRAM_YAML), "-t", TENANT)
    cli.enrol(["m1"], datetime(2025, 1, 10, tzinfo=UTC))
    path = write(tmp_path, WITHOUT_BRONZE, "no-bronze.yaml")
    refused = cli("apply", path, "-t", TENANT, code=1)
    assert "tier 'bronze' (1) is held by members" in refused.stderr
    cli("apply", path, "-t", TENANT, "--force")
    assert cli("apply", path, "-t", TENANT).stdout.startswith("unchanged")


def test_dropping_a_tier_nobody_holds_needs_no_force(cli: Cli, tmp_path: Path) -> None:
    cli("apply", write(tmp_path, PROGRAM_YAML), "-t", TENANT)
    cli.enrol(["m1"], datetime(2025, 1, 10, tzinfo=UTC))
    result = cli("apply", write(tmp_path, WITHOUT_GOLD, "no-gold.yaml"), "-t", TENANT)
    assert result.stdout.startswith("updated: program 123")
    assert "1 groups, 2 tiers" in result.stdout


def test_a_yaml_syntax_error_names_its_line(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "program: {id: 1\ngroups: [\n")
    result = cli("apply", path, code=1)
    assert result.stderr.startswith("error: program.yaml: line ")
    assert "not valid YAML" in result.stderr
    assert result.stderr.count("\n") == 1


def test_an_invalid_document_names_the_field(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, PROGRAM_YAML.replace("metric: points", "metric: karma"))
    result = cli("apply", path, code=1)
    assert result.stderr.startswith("error: groups.0.metric:")


def test_an_id_beyond_64_bits_names_the_field(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, PROGRAM_YAML.replace("id: 3,", "id: 9223372036854775808,"))
    result = cli("apply", path, code=1)
    assert result.stderr.startswith("error: groups.0.tiers.2.id:")
    assert "SQL" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_document_that_is_not_a_mapping_says_so(cli: Cli, tmp_path: Path) -> None:
    result = cli("apply", write(tmp_path, "- 1\n- 2\n"), code=1)
    assert result.stderr.startswith("error: document: ")


def test_a_missing_file_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    cli("apply", tmp_path / "nope.yaml", code=2)


def test_the_demo_program_is_an_ordinary_document(cli: Cli) -> None:
    path = Path(__file__).parents[2] / "src" / "tierbook" / "demo" / "program.yaml"
    assert cli("apply", path, "-t", "demo").stdout.startswith("created: program 123")
    assert demo_document().program.timezone == "Australia/Melbourne"
