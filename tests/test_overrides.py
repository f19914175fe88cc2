"""`--set KEY=VALUE`: a paper grid switches profile (or any setting) without editing the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.grid.expand import load_grid
from orchestrator.grid.schema import GridError
from orchestrator.grid.overrides import parse_overrides

GRIDS = Path(__file__).resolve().parent.parent / "grids"


def test_set_profile_switches_every_trial_of_a_paper_grid() -> None:
    released = load_grid(GRIDS / "table1.yaml")
    corrected = load_grid(GRIDS / "table1.yaml", parse_overrides(["profile=corrected"]))
    assert {t.config.profile for t in released.trials} == {"released"}
    assert {t.config.profile for t in corrected.trials} == {"corrected"}
    assert len(corrected.trials) == len(released.trials) == 72
    assert not {t.config_hash for t in released.trials} & {t.config_hash for t in corrected.trials}


def test_set_replaces_an_axis_the_seeds_and_include_values(tmp_path: Path) -> None:
    grid = tmp_path / "g.yaml"
    grid.write_text("fixed: {dataset: digits}\naxes: {q: [1, 2, 4]}\nseeds: [1, 2]\n"
                    "include:\n  - {q: 8, optimizer: zo-adam}\n"
                    "when:\n  - match: {q: [2]}\n    set: {lr: 0.5}\n")
    trials = load_grid(grid, parse_overrides(["q=4", "seed=7", "lr=1e-3"])).trials
    assert {(t.config.q, t.config.seed, t.config.lr) for t in trials} == {(4, 7, 1e-3)}
    assert {t.config.optimizer for t in trials} == {"fo-sgd", "zo-adam"}


@pytest.mark.parametrize("pair, message", [
    ("profile", "expected KEY=VALUE"), ("nokey=1", "unknown setting"), ("profile=paper", "allowed: released"),
    ("q=[1, 2]", "must be one value"), ("lr=fast", "expected float")])
def test_a_bad_setting_is_one_line_naming_it(pair: str, message: str) -> None:
    with pytest.raises(GridError, match=message):
        parse_overrides([pair])
    result = CliRunner().invoke(main, ["run", str(GRIDS / "table3.yaml"), "--dry-run", "--set", pair])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "--set" in result.output
