"""Grid expansion, validation errors and the stability of config hashes."""

import itertools
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.grid.expand import GridError, config_hash, load_grid
from catalog.config import make_config
from trainers.presets import resolve


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return path


def test_axes_expand_to_their_cartesian_product(tmp_path: Path) -> None:
    grid = load_grid(write(tmp_path, """
name: g
fixed: {dataset: digits, epochs: 1}
axes:
  method: [aper]
  optimizer: [fo-sgd, zo-sgd, zo-adam]
  seed: [1, 2]
"""))
    assert grid.name == "g"
    assert len(grid.trials) == 6
    assert {(t.config.optimizer, t.config.seed) for t in grid.trials} == {
        (o, s) for o in ("fo-sgd", "zo-sgd", "zo-adam") for s in (1, 2)}
    assert all(t.config.epochs == 1 and t.config.lr is not None for t in grid.trials)


def test_duplicate_trials_collapse(tmp_path: Path) -> None:
    grid = load_grid(write(tmp_path, "fixed: {dataset: digits}\naxes: {lr: [0.1, 0.1]}\n"))
    assert len(grid.trials) == 1 and grid.name == "grid"


def test_hash_is_stable_and_ignores_execution_settings() -> None:
    config = resolve(make_config({"dataset": "digits", "optimizer": "zo-sgd"}))
    same = resolve(make_config({"dataset": "digits", "optimizer": "zo-sgd", "device": "cpu", "num_workers": 2}))
    other = resolve(make_config({"dataset": "digits", "optimizer": "zo-sgd", "seed": 7}))
    assert config_hash(config) == config_hash(same)
    assert config_hash(config) != config_hash(other)
    # the hash is a function of the values alone: pinned so that it cannot drift between versions
    assert len(config_hash(config)) == 16 and config_hash(config) == config_hash(resolve(config))


@pytest.mark.parametrize("text, fragment", [
    ("axes: {optimizer: [zo-nope]}\n", "'axes.optimizer': unknown value 'zo-nope'; allowed: fo-sgd"),
    ("fixed: {colour: red}\n", "'fixed.colour': unknown setting; allowed:"),
    ("fixed: {sparsity: 1.5}\n", "'fixed.sparsity': must be a ratio in [0, 1)"),
    ("fixed: {q: 0}\n", "'fixed.q': must be an integer >= 1"),
    ("fixed: {momentum: 1.0}\n", "'fixed.momentum': must be a number in [0, 1)"),
    ("axes: {q: []}\n", "'axes.q': must be a non-empty list"),
    ("axes: {q: [2]}\nfixed: {optimizer: zo-sgd-conserve}\n", "supports q = 1 only"),
    ("trials: 3\n", "'trials': unknown grid key"),
    ("name: [\n", "'file': is not valid YAML"),
    ("fixed: {epochs: two}\n", "'fixed.epochs': expected int"),
])
def test_bad_grids_fail_with_one_line_naming_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(GridError) as error:
        load_grid(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and fragment in message and "\n" not in message


def test_missing_grid_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(GridError, match="cannot be read"):
        load_grid(tmp_path / "nope.yaml")


def test_seeds_include_when_and_exclude(tmp_path: Path) -> None:
    grid = load_grid(write(tmp_path, """
fixed: {dataset: digits, method: aper}
axes:
  optimizer: [fo-sgd, zo-sgd, zo-sgd-conserve]
seeds: [1, 2]
include:
  - {optimizer: zo-sgd, q: [2, 4]}
when:
  - match: {optimizer: [zo-sgd, zo-sgd-conserve]}
    set: {epochs: 2}
  - match: {q: 4}
    set: {epochs: 5}
    resources: {cpu: 2, gpu: 0.5}
exclude:
  - {optimizer: zo-sgd-conserve, seed: 2}
"""))
    got = {(t.config.optimizer, t.config.q, t.config.seed): t for t in grid.trials}
    # main block: 3 optimizers x 2 seeds, less conserve x seed 2; include: zo-sgd x q in (2, 4) x 2 seeds
    assert set(got) == {("fo-sgd", 1, 1), ("fo-sgd", 1, 2), ("zo-sgd", 1, 1), ("zo-sgd", 1, 2),
                        ("zo-sgd-conserve", 1, 1), ("zo-sgd", 2, 1), ("zo-sgd", 2, 2), ("zo-sgd", 4, 1), ("zo-sgd", 4, 2)}
    assert got[("fo-sgd", 1, 1)].config.epochs == 3  # the digits preset: no rule matched
    assert got[("zo-sgd", 2, 1)].config.epochs == 2
    assert got[("zo-sgd", 4, 2)].config.epochs == 5  # later rules win
    assert got[("zo-sgd", 4, 2)].resources.cpu == 2 and got[("zo-sgd", 4, 2)].resources.gpu == 0.5
    assert got[("zo-sgd", 2, 2)].resources.cpu == 1


def test_exclude_drops_invalid_trials_before_validation(tmp_path: Path) -> None:
    grid = load_grid(write(tmp_path, """
fixed: {dataset: digits}
axes: {optimizer: [zo-sgd, zo-sgd-conserve], q: [1, 4]}
exclude: [{optimizer: zo-sgd-conserve, q: [2, 4]}]
"""))
    assert sorted((t.config.optimizer, t.config.q) for t in grid.trials) == [
        ("zo-sgd", 1), ("zo-sgd", 4), ("zo-sgd-conserve", 1)]


def test_fast_expansion_equals_make_config_and_resolve_on_every_trial(tmp_path: Path) -> None:
    methods, optimizers, datasets = ["aper", "ease"], ["fo-sgd", "fo-adam", "zo-adam-sign", "forward-grad"], \
        ["digits", "cub", "omnibenchmark"]
    grid = load_grid(write(tmp_path, f"""
fixed: {{lr: 0.5, tasks: 2}}
axes: {{method: {methods}, optimizer: {optimizers}, dataset: {datasets}, batch_size: [null, 7]}}
"""))
    expected = {config_hash(c): c for c in (
        resolve(make_config({"method": m, "optimizer": o, "dataset": d, "lr": 0.5, "tasks": 2, "batch_size": b}))
        for m, o, d, b in itertools.product(methods, optimizers, datasets, [None, 7]))}
    assert {t.config_hash: t.config for t in grid.trials} == expected


@pytest.mark.parametrize("text, fragment", [
    ("when: [{match: {colour: red}, set: {q: 2}}]\n", "'when[0].match.colour': unknown setting; allowed:"),
    ("when: [{set: {q: 2}}]\n", "'when[0].match': is required"),
    ("when: [{match: {q: 1}, set: {q: 0}}]\n", "'when[0].set.q': must be an integer >= 1"),
    ("when: [{match: {q: 1}, then: {q: 2}}]\n", "'when[0].then': unknown rule key; allowed: match, set, resources"),
    ("when: {match: {q: 1}}\n", "'when': must be a list"),
    ("include: [{}]\n", "'include[0]': must name at least one setting"),
    ("include: [{q: 0}]\n", "'include[0].q': must be an integer >= 1"),
    ("exclude: [{}]\n", "'exclude[0]': must name at least one setting"),
    ("seeds: 3\n", "'seeds': must be a non-empty list"),
    ("seeds: [1, x]\n", "'seeds': expected int, got 'x'"),
    ("seeds: [1]\naxes: {seed: [2]}\n", "'seeds': give the seeds either here or as the setting 'seed'"),
    ("resources: {gpu: 1.5}\n", "'resources.gpu': must be 'auto', a fraction in [0, 1] or a whole number"),
    ("resources: {gpus: 1}\n", "'resources.gpus': unknown resource; did you mean 'gpu'? allowed: cpu, gpu, memory_gb,"),
    ("resources: {trials_per_gpu: 0}\n", "'resources.trials_per_gpu': must be an integer >= 1"),
    ("when: [{match: {q: 1}, resources: {gpu_memory_gb: 40}}]\n", "'when[0].resources.gpu_memory_gb': unknown resource"),
    ("fixed: {optimizer: zo-sgd-conserve}\ninclude: [{q: 2}]\n",
     "'include[0].q': zo-sgd-conserve supports q = 1 only, got 2 (trial q=2; an `exclude` rule can drop such trials)"),
    ("fixed: {optimizer: zo-sgd-conserve}\nwhen: [{match: {seed: 1993}, set: {q: 3}}]\n",
     "'when[0].set.q': zo-sgd-conserve supports q = 1 only"),
    ("- 1\n- 2\n", "'file': must be a mapping"),
])
def test_bad_schema_fails_with_one_line_naming_the_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(GridError) as error:
        load_grid(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and fragment in message and "\n" not in message


GRIDS = Path(__file__).resolve().parents[1] / "grids"


@pytest.mark.parametrize("name, trials", [
    ("smoke", 20), ("table1", 72), ("table2", 24), ("table3", 5), ("table4", 10), ("figure5", 12),
    ("enhancements", 5), ("full", 20824), ("beyond", 240), ("beyond-digits", 42)])
def test_shipped_grids_expand_to_their_documented_size(name: str, trials: int) -> None:
    path = GRIDS / f"{name}.yaml"
    grid = load_grid(path)
    assert grid.name == name and len(grid.trials) == trials
    # each grid file says which sparsity mask it uses, and uses that one
    mode = re.search(r"^# sparsity_mode: (\w+)", path.read_text(), re.MULTILINE)
    assert mode is not None and {t.config.sparsity_mode for t in grid.trials} == {mode.group(1)}


def test_full_grid_covers_the_cross_product_without_invalid_or_redundant_trials() -> None:
    grid = load_grid(GRIDS / "full.yaml")
    configs = [t.config for t in grid.trials]
    assert not [c for c in configs if c.optimizer.endswith("-conserve") and c.q > 1]
    zo = [c for c in configs if c.optimizer.startswith("zo-")]
    assert {c.q for c in zo} == {1, 2, 4, 8, 16, 32}
    assert {(c.historical, c.sparsity) for c in zo} == {(h / 10, s / 10) for h in (0, 2, 4, 6, 8) for s in range(10)}
    first_order = [c for c in configs if not c.optimizer.startswith("zo-")]
    assert len(first_order) == 2 * 3 * 4 and {(c.q, c.historical, c.sparsity, c.hybrid) for c in first_order} == {
        (1, 0.0, 0.0, 0.0)}
    assert {c.method for c in configs} == {"ease", "aper"} and len({c.dataset for c in configs}) == 4


def test_table1_is_the_paper_table() -> None:
    grid = load_grid(GRIDS / "table1.yaml")
    cells = {(t.config.method, t.config.optimizer, t.config.dataset) for t in grid.trials}
    assert len(cells) == 72 and {t.config.q for t in grid.trials} == {1}
    assert {t.config.epochs for t in grid.trials if t.config.optimizer.startswith("zo-")} == {100}


def test_beyond_grid_runs_each_new_estimator_beside_zo_sgd_on_its_presets() -> None:
    configs = [t.config for t in load_grid(GRIDS / "beyond.yaml").trials]
    cells = {(c.method, c.dataset, c.q, c.fo_head) for c in configs if c.q in (1, 4)}
    assert len(cells) == 2 * 4 * 2 * 2
    for cell in cells:
        assert {c.optimizer for c in configs if (c.method, c.dataset, c.q, c.fo_head) == cell} == {
            "zo-sgd", "zo-sparse-mezo", "zo-lozo", "zo-subzero", "zo-hizoo", "zo-muon"}
    assert {c.lr for c in configs if c.optimizer != "zo-muon"} == {1e-4} and {c.q for c in configs} == {1, 4, 16}
    assert {c.lr for c in configs if c.optimizer == "zo-muon"} == {1e-2}
    assert {c.hessian_smooth for c in configs if c.optimizer == "zo-hizoo"} == {None, 1e-2}


def test_grids_readme_states_each_grids_trial_count() -> None:
    rows = re.findall(r"^\| ([\w-]+\.yaml) \| ([\d,]+) \|", (GRIDS / "README.md").read_text(), re.MULTILINE)
    assert {name for name, _ in rows} == {path.name for path in GRIDS.glob("*.yaml")}
    for name, trials in rows:
        assert len(load_grid(GRIDS / name).trials) == int(trials.replace(",", "")), name


def test_every_grid_error_is_reported_at_once_with_did_you_mean(tmp_path: Path) -> None:
    path = write(tmp_path, "fixd: {lr: 1}\nfixed: {optimzer: zo-sgd, lr: [0.1], tasks: 0}\naxes: {q: [1, 0], metod: [ease]}\n"
                           "include: [{dataset: cfar100}]\nresources: {gpus: 1, cpu: .nan}\n")
    with pytest.raises(GridError) as raised:
        load_grid(path)
    lines = str(raised.value).splitlines()
    assert [line.split(": ", 2)[1] for line in lines] == [
        "'fixd'", "'fixed.optimzer'", "'fixed.lr'", "'axes.metod'", "'resources.gpus'", "'resources.cpu'",
        "'fixed.tasks'", "'axes.q'", "'include[0].dataset'"], lines
    assert all(line.startswith(f"{path}: ") for line in lines)
    text = "\n".join(lines)
    for hint in ("'fixd': unknown grid key; did you mean 'fixed'?", "unknown setting; did you mean 'optimizer'?",
                 "unknown setting; did you mean 'method'?", "unknown resource; did you mean 'gpu'?",
                 "unknown value 'cfar100'; did you mean 'cifar100'?"):
        assert hint in text, text
    result = CliRunner().invoke(main, ["run", str(path), "--dry-run"])
    assert result.exit_code == 2 and result.output.splitlines() == [f"error: {line}" for line in lines]
