"""Grid YAML read strictly: duplicate keys, line numbers, alias bombs, short messages, 1e-3 floats, safe names."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.grid.expand import GridError, load_grid
from orchestrator.grid.yamlload import MAX_NODES, YamlError, load_yaml

BASE = "fixed: {dataset: digits, method: aper}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(GridError) as raised:
        load_grid(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


@pytest.mark.parametrize("text, fragment", [
    ("axes:\n  method: [aper]\n  optimizer: [fo-sgd]\n  method: [ease]\n",
     "line 4: duplicate key 'method' (first given on line 2)"),
    ("fixed: {dataset: digits}\naxes: {q: [1]}\nfixed: {dataset: cub}\n",
     "line 3: duplicate key 'fixed' (first given on line 1)"),
    ("fixed:\n  lr: 0.1\n  lr: 0.2\n", "line 3: duplicate key 'lr'"),
])
def test_duplicate_keys_are_an_error_naming_the_line(tmp_path: Path, text: str, fragment: str) -> None:
    assert fragment in error_of(write(tmp_path, text))


@pytest.mark.parametrize("text, line", [
    ("fixed: {dataset: digits}\naxes: {q: [1, 2}\n", 2),
    ("fixed:\n  dataset: digits\n bad indent: 1\n", 3),
    ("fixed: {seed: *nothing}\n", 1),
    ("fixed: {a: 1}\n\n\n\t- tab\n", 4),
])
def test_every_yaml_error_names_its_line(tmp_path: Path, text: str, line: int) -> None:
    assert f"'file': is not valid YAML (line {line}: " in error_of(write(tmp_path, text))


def _bomb(levels: int) -> str:
    """The 'billion laughs': each level's list repeats the previous one 9 times (9**levels values)."""
    lines = ['{x: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]}']
    lines += [f"{{x: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]}}" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("where", ["fixed: {seed: *a8}", "axes: {q: *a8}", "seeds: *a8", "resources: {cpu: *a8}"])
def test_alias_bombs_are_refused_before_expansion(tmp_path: Path, where: str) -> None:
    # 9**9 = 387 million values once expanded: without the bound this test would exhaust memory.
    # The anchors sit under `description`'s sibling keys; the grid uses the last one somewhere.
    text = "include:\n" + "".join(f"  - {line}\n" for line in _bomb(9).splitlines()) + where + "\n"
    message = error_of(write(tmp_path, text))
    assert f"expands to more than {MAX_NODES:,} values" in message and len(message) < 400


def test_moderate_aliases_still_work() -> None:
    data = load_yaml("base: &b {dataset: digits, method: aper}\nfixed: {<<: *b, epochs: 1}\n")
    assert data["fixed"] == {"dataset": "digits", "method": "aper", "epochs": 1}


def test_unbounded_values_are_never_formatted_whole(tmp_path: Path) -> None:
    long_list = "[" + ", ".join(["1"] * 5000) + "]"
    for text in (f"fixed: {{seed: {long_list}}}\n", f"resources: {{cpu: {long_list}}}\n",
                 f"axes: {{q: [{long_list}]}}\n", f"fixed: {{optimizer: {'x' * 100000}}}\n",
                 f"{'k' * 100000}: 1\n"):
        message = error_of(write(tmp_path, text))
        assert len(message) < 700 + len(str(tmp_path))


def test_exponent_floats_are_floats(tmp_path: Path) -> None:
    assert load_yaml("a: 1e-3\nb: 5E4\nc: -2.5e+2\nd: v1e3\n") == {"a": 0.001, "b": 50000.0, "c": -250.0, "d": "v1e3"}
    grid = load_grid(write(tmp_path, BASE + "axes: {lr: [1e-3, 2e-4]}\n"))
    assert sorted(t.config.lr for t in grid.trials) == [2e-4, 1e-3]


@pytest.mark.parametrize("text, fragment", [
    ("fixed: {lr: .nan}\n", "'fixed.lr': must be a finite number, got nan"),
    ("fixed: {eps: .inf}\n", "'fixed.eps': must be a finite number, got inf"),
    ("seeds: [-1]\n", "'seeds': must be an integer in [0, 4294967295], got -1"),
    ("seeds: [99999999999]\n", "'seeds': must be an integer in [0, 4294967295]"),
    ("fixed: {lr: [0.1]}\n", "'fixed.lr': must be a single value"),
])
def test_values_no_trial_can_use_are_grid_errors(tmp_path: Path, text: str, fragment: str) -> None:
    assert fragment in error_of(write(tmp_path, text))


@pytest.mark.parametrize("name", ["..", ".", "../up", "a/b", "a\\b", "tab\there"])
def test_names_cannot_leave_the_storage_folder(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, f"name: {name!r}\n" + BASE)
    assert "'name': " in error_of(path) and "not allowed" in error_of(path)


def test_cli_answers_bad_paths_and_names_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["run", str(tmp_path), "--dry-run"])
    assert result.exit_code == 2 and result.output.strip() == f"error: {tmp_path}: 'file': is a folder; give the path of a grid file (.yaml)"
    path = write(tmp_path, BASE)
    result = runner.invoke(main, ["run", str(path), "--experiment", "..", "--dry-run",
                                  "--tracking-uri", f"sqlite:///{tmp_path}/s.db"])
    assert result.exit_code == 2 and "'--experiment': '..' is not allowed" in result.output
    assert len(result.output.strip().splitlines()) == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["grid.yaml"]


def test_yaml_error_carries_its_line() -> None:
    with pytest.raises(YamlError) as raised:
        load_yaml("a: 1\nb: [\n")
    assert raised.value.line == 3 and str(raised.value).startswith("line 3: ")


def _grid_error_in_child(path: Path) -> subprocess.CompletedProcess:
    """load_grid(path) in a child process: a regression hangs or grows there, and fails here on the timeout."""
    code = ("import sys\nfrom orchestrator.grid.expand import GridError, load_grid\n"
            "try:\n    load_grid(sys.argv[1])\nexcept GridError as error:\n    print(error)\n    sys.exit(2)\n")
    try:
        return subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"load_grid({path}) did not answer within 30 s")


@pytest.mark.parametrize("text", ["fixed: {seed: &a [*a]}\n", "fixed: &m {dataset: digits, self: *m}\n",
                                  "axes: {q: &a [1, [2, *a]]}\n"])
def test_aliases_that_contain_themselves_are_refused(tmp_path: Path, text: str) -> None:
    done = _grid_error_in_child(write(tmp_path, text))
    assert done.returncode == 2 and "refers to itself" in done.stdout and len(done.stdout.splitlines()) == 1


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_grid_paths_that_are_not_regular_files_are_refused(device: str) -> None:
    done = _grid_error_in_child(Path(device))
    assert done.returncode == 2 and done.stdout.strip() == f"{device}: 'file': is not a regular file; give the path of a grid file (.yaml)"


def test_a_fifo_as_grid_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "grid.yaml"
    os.mkfifo(fifo)
    done = _grid_error_in_child(fifo)
    assert done.returncode == 2 and "'file': is not a regular file" in done.stdout


def test_names_too_long_for_a_folder_are_refused_up_front(tmp_path: Path) -> None:
    path = write(tmp_path, f"name: {'n' * 300}\n" + BASE)
    assert "'name': " in error_of(path) and "at most 128 bytes" in error_of(path)
    runner = CliRunner()
    result = runner.invoke(main, ["run", str(write(tmp_path, BASE)), "--experiment", "é" * 100, "--dry-run",
                                  "--tracking-uri", f"sqlite:///{tmp_path}/s.db"])
    assert result.exit_code == 2 and "'--experiment': " in result.output and "at most 128 bytes" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.yaml"]
