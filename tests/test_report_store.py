"""End to end through a real SQLite MLflow store: load_runs, then write_report.

The store holds the paper's numbers as runs on a GPU (Table 1 must come back out unchanged in
table1.tex), runs that must be ignored (RUNNING, FAILED), and a second experiment with a q sweep,
a ratio run and params and metrics outside the contract. The CLI's exit code 2 on mixed configs
is checked against a store of its own.
"""

from __future__ import annotations

import pathlib
import re

import matplotlib.image
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from bench.report import BASE_CONFIG, FakeRun, log_runs, paper_runs, throwaway_sqlite
from orchestrator.cli import main
from catalog import paper
from reports import latex
from reports.build import write_report
from reports.runs import load_runs
from reports.select import ACCURACY
from reports.tables import TABLE1_GROUPS, table1

PAPER_RUNS = len(paper_runs())
TABLE1_ORDER = [(m, o) for m in ("ease", "aper") for _, rows in TABLE1_GROUPS for o, _ in rows]


def _ignored_runs() -> list[FakeRun]:
    """Same setting as a paper cell, absurd numbers: they must never reach a table."""
    params = {**BASE_CONFIG, "method": "ease", "optimizer": "fo-sgd", "dataset": "cifar100",
              "seed": 7, "profile": "released"}
    bad = {"avg_acc": 1.0, "last_acc": 1.0, "forgetting": 99.0}
    return [FakeRun(params, bad, status="RUNNING"), FakeRun(params, bad, status="FAILED")]


def _extra_runs() -> list[FakeRun]:
    base = {**BASE_CONFIG, "method": "ease", "optimizer": "zo-sgd", "dataset": "digits",
            "momentum": 0.9, "custom_note": "a"}
    metrics = {"avg_acc": 60.0, "last_acc": 50.0, "forgetting": 5.0, "gpu_hours": 0.5,
               "custom_score": 3.0, "peak_memory_gb": 2.5, "epoch_seconds": 10.0}
    return [
        FakeRun({**base, "q": q}, {**metrics, "avg_acc": 60.0 + q}) for q in (1, 2, 4)
    ] + [FakeRun({**base, "historical": 0.4}, metrics)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    with throwaway_sqlite():
        client = MlflowClient(tracking_uri=uri)
        log_runs(client, client.create_experiment("paper"), [*paper_runs(), *_ignored_runs()])
        log_runs(client, client.create_experiment("extra"), _extra_runs())
        client.create_experiment("empty")
    return uri


def test_only_finished_runs_of_the_named_experiments_are_loaded(store: str) -> None:
    runs = load_runs(store, ["paper"])
    assert len(runs) == PAPER_RUNS
    assert set(runs["experiment"]) == {"paper"}
    assert runs["avg_acc"].min() > 1.0  # the RUNNING and FAILED runs stayed out
    assert len(load_runs(store)) == len(load_runs(store, [])) == PAPER_RUNS + 4
    assert len(load_runs(store, ["paper", "paper"])) == PAPER_RUNS


def test_columns_are_typed_and_unknown_params_stay_strings(store: str) -> None:
    runs = load_runs(store, ["extra"])
    assert runs["q"].dtype == "Int64" and sorted(runs["q"].tolist()) == [1, 1, 2, 4]
    assert runs["historical"].dtype == "float64" and runs["historical"].max() == 0.4
    assert runs["momentum"].dtype == "float64" and set(runs["momentum"]) == {0.9}  # a knob: typed as declared
    assert runs["custom_note"].dtype == "string" and set(runs["custom_note"]) == {"a"}
    assert runs["custom_score"].dtype == "float64"
    assert runs["gpu_hours"].tolist() == [0.5] * 4
    assert runs["config_hash"].notna().all() and runs["run_id"].is_unique
    assert runs["acc"].isna().all()  # no acc history was logged for these


def test_a_missing_experiment_is_reported_not_raised(store: str, tmp_path: pathlib.Path) -> None:
    assert len(load_runs(store, ["paper", "nope"])) == PAPER_RUNS
    lines = write_report(load_runs(store, ["empty", "nope"]), tmp_path)
    assert lines[0] == "experiment not found: nope"


def test_no_runs_gives_skip_lines_and_no_tables(store: str, tmp_path: pathlib.Path) -> None:
    runs = load_runs(store, ["empty"])
    lines = write_report(runs, tmp_path / "out", compare_paper=True)
    assert len(runs) == 0 and (tmp_path / "out" / "runs.parquet").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html", "runs.parquet"]
    assert sum("skipped" in line for line in lines) == 12, lines  # 6 tables, 5 figures, the comparison
    assert not any("failed" in line for line in lines)


def _body_rows(tex: str) -> list[list[str]]:
    body = tex.split("\\midrule", 1)[1].split("\\bottomrule")[0]
    rows = [line for line in body.splitlines() if line.endswith("\\\\")]
    return [[entry.strip() for entry in line[:-2].split("&")] for line in rows]


def _plain(entry: str) -> str:
    return re.sub(r"^\\textbf\{(.*)\}$", r"\1", entry.strip())


def test_paper_table1_comes_back_out_unchanged(store: str) -> None:
    rows = _body_rows(latex.render(table1(load_runs(store, ["paper"]))))
    assert len(rows) == len(TABLE1_ORDER)
    for key, row in zip(TABLE1_ORDER, rows):
        assert [_plain(e) for e in row[3:]] == [f"{v:.2f}" for v in paper.TABLE1_ROWS[key]], key


def test_paper_table1_bolds_the_best_of_each_column_per_method(store: str) -> None:
    rows = _body_rows(latex.render(table1(load_runs(store, ["paper"]))))
    for block, method in ((rows[:9], "ease"), (rows[9:], "aper")):
        for column in range(12):
            values = [paper.TABLE1_ROWS[(method, o)][column]
                      for m, o in TABLE1_ORDER if m == method]
            higher = ACCURACY[column % 3][2]
            best = f"{(max if higher else min)(values):.2f}"
            expected = [f"{v:.2f}" == best for v in values]
            assert [r[3 + column].startswith("\\textbf{") for r in block] == expected


@pytest.fixture(scope="module")
def written(store: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, list[str]]:
    """The full report of every experiment, written once for the tests that read it."""
    out = tmp_path_factory.mktemp("report")
    return out, write_report(load_runs(store), out, compare_paper=True)


def test_report_writes_every_file_and_the_parquet_round_trips(
    store: str, written: tuple[pathlib.Path, list[str]]
) -> None:
    runs = load_runs(store)
    tmp_path, lines = written
    figures = {f"{stem}.{ext}" for stem in ("figure5", "figure_bars", "figure_tasks", "figure_queries")
               for ext in ("pdf", "png")}
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"runs.parquet", "table1.tex", "table2.tex", "table3.tex", "table4.tex",
                     "compare_paper.tex", "compare_paper.txt", "report.html", *figures}, lines
    back = pd.read_parquet(tmp_path / "runs.parquet")
    pd.testing.assert_frame_equal(back.reset_index(drop=True), runs.reset_index(drop=True))
    image = matplotlib.image.imread(tmp_path / "figure5.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert (tmp_path / "figure5.pdf").read_bytes().startswith(b"%PDF")
    summary = (tmp_path / "compare_paper.txt").read_text()
    assert "Table 1: 216 of 232 published numbers have runs; mean |diff| 0.00" in summary  # no untrained run here


def test_device_code_version_and_task_columns_come_from_the_store(store: str) -> None:
    runs = load_runs(store, ["paper"])
    assert set(runs["run_device"]) == {"cuda"} and set(runs["run_device_name"]) == {"NVIDIA H100 80GB HBM3"}
    assert runs["code_version"].isna().all()  # these runs logged none
    first = runs[(runs["method"] == "ease") & (runs["optimizer"] == "fo-sgd") & (runs["dataset"] == "cifar100")]
    assert first["task_acc/9"].round(2).tolist() == [85.96] and runs["task_acc/0"].dtype == "float64"


def test_html_report_is_one_self_contained_page(written: tuple[pathlib.Path, list[str]]) -> None:
    page = (written[0] / "report.html").read_text()
    assert page.count("<img ") == 4 and page.count("src='data:image/png;base64,") == 4
    assert not re.search(r"(src|href)=['\"](?!data:)", page)  # nothing outside the file
    for title in ("Table 1", "Table 2", "Table 3", "Table 4", "Comparison with the paper"):
        assert f"<h2>{title}" in page, title
    assert "91.23" in page and "font-weight: bold" in page
    assert f"{PAPER_RUNS + 4} FINISHED runs from experiment(s) extra, paper; profile(s) released, unrecorded." in page


def test_cli_exits_2_on_mixed_configs_and_a_rule_or_experiment_resolves_it(tmp_path: pathlib.Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mixed.db'}"
    client = MlflowClient(tracking_uri=uri)
    params = {**BASE_CONFIG, "method": "ease", "optimizer": "zo-sgd", "dataset": "cub"}
    log_runs(client, client.create_experiment("paper-grid"), [FakeRun(params, {"avg_acc": 80.0})])
    log_runs(client, client.create_experiment("debug"), [FakeRun({**params, "epochs": 1}, {"avg_acc": 20.0})])
    runner = CliRunner()
    out = str(tmp_path / "out")
    mixed = runner.invoke(main, ["report", "--tracking-uri", uri, "--out", out])
    assert mixed.exit_code == 2 and not (tmp_path / "out").exists()
    assert mixed.output.strip().splitlines()[-1].startswith(
        "error: table1: cell ease/zo-sgd/cub has runs of 2 configs that differ in more than the seed "
        "(epochs = 1, 100)")
    narrowed = runner.invoke(main, ["report", "--tracking-uri", uri, "--out", out, "--experiment", "paper-grid"])
    assert narrowed.exit_code == 0, narrowed.output
    ruled = runner.invoke(main, ["report", "--tracking-uri", uri, "--out", out, "--prefer", "newest"])
    assert ruled.exit_code == 0 and "--prefer newest" in (tmp_path / "out" / "table1.tex").read_text()


def test_a_typo_in_experiment_is_exit_2_and_leaves_the_earlier_report(tmp_path: pathlib.Path) -> None:
    uri = f"sqlite:///{tmp_path / 'typo.db'}"
    client = MlflowClient(tracking_uri=uri)
    log_runs(client, client.create_experiment("smoke"), [FakeRun({**BASE_CONFIG, "method": "ease", "optimizer": "zo-sgd",
                                                                  "dataset": "cub"}, {"avg_acc": 80.0})])
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["report", "--tracking-uri", uri, "--out", str(out)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    typo = CliRunner().invoke(main, ["report", "--tracking-uri", uri, "--out", str(out), "--experiment", "smok"])
    assert typo.exit_code == 2 and typo.output.strip() == f"error: no experiment 'smok' in {uri}; have: smoke"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_report_keeps_outputs_it_does_not_replace(store: str, tmp_path: pathlib.Path) -> None:
    (tmp_path / "table3.tex").write_text("an earlier report's table 3")
    (tmp_path / "figure5.png").write_bytes(b"an earlier figure")
    lines = write_report(load_runs(store, ["empty"]), tmp_path)
    assert (tmp_path / "table3.tex").read_text() == "an earlier report's table 3"
    assert (tmp_path / "figure5.png").read_bytes() == b"an earlier figure"
    assert f"kept {tmp_path / 'table3.tex'} from an earlier report: this report has no table3" in lines


def test_finished_runs_with_nan_accuracy_or_unreadable_params_are_skipped_by_name(tmp_path: pathlib.Path) -> None:
    uri = f"sqlite:///{tmp_path / 'odd.db'}"
    client = MlflowClient(tracking_uri=uri)
    good = {**BASE_CONFIG, "method": "ease", "optimizer": "zo-sgd", "dataset": "cub"}
    nan_id, bad_id, _ = log_runs(client, client.create_experiment("odd"), [
        FakeRun({**good, "seed": 2}, {"avg_acc": float("nan"), "last_acc": 1.0}),
        FakeRun({**good, "seed": 3, "q": "many", "tasks": "ten"}, {"avg_acc": 70.0, "last_acc": 60.0}),
        FakeRun(good, {"avg_acc": 80.0, "last_acc": 70.0, "forgetting": 5.0})])
    result = CliRunner().invoke(main, ["report", "--tracking-uri", uri, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"skipped run {nan_id} of experiment odd: avg_acc is NaN" in lines
    assert f"skipped run {bad_id} of experiment odd: param tasks = 'ten' is not an integer" in lines
    assert "80.00" in (tmp_path / "out" / "table1.tex").read_text()
