"""Tables 1-4 as pure functions of a runs DataFrame: selection, seeds, configs, dashes, bold."""

from __future__ import annotations

import pathlib
from typing import Any

import pandas as pd
import pytest

from bench.report import BASE_CONFIG, FakeRun
from reports.build import write_report
from reports.cells import Cell, MixingError, prepare
from reports.ratios import ratio_blocks, table3, table4
from reports.runs import runs_frame
from reports.table import Table
from reports.tables import Skipped, table1, table1_cells, table2, table2_cells


def run(avg: float = 70.0, last: float = 60.0, fgt: float = 10.0, **params: Any) -> FakeRun:
    config = {**BASE_CONFIG, "method": "ease", "optimizer": "zo-sgd", "dataset": "cifar100",
              **params}
    metrics = {"avg_acc": avg, "last_acc": last, "forgetting": fgt,
               "peak_memory_gb": 2.41, "epoch_seconds": 32.4}
    return FakeRun(config, metrics)


def frame(*runs: FakeRun) -> pd.DataFrame:
    return runs_frame(r.record(f"run{i}", end_time_ms=1000 * i) for i, r in enumerate(runs))


def shown(table: Table, row: int) -> list[str]:
    """A row's printed entries, bold ones wrapped in ** as a reader would mark them."""
    out = []
    for c in range(len(table.columns)):
        text = "".join(table.text(row, c))
        out.append(f"**{text}**" if (row, c) in table.bold else text)
    return out


def test_seeds_are_mean_and_sample_std() -> None:
    runs = frame(run(70.0, seed=1), run(72.0, seed=2), run(80.0, optimizer="fo-sgd"))
    data, _, _ = table1_cells(runs)
    assert data[("ease", "zo-sgd", "cifar100", "avg_acc")] == Cell((70.0, 72.0))
    table = table1(runs)
    assert table.rows[1] == ("EASE", "SGD", "ZO")
    assert shown(table, 1)[0] == "71.00 ± 1.41"
    assert shown(table, 2) == ["--"] * 3  # Sign: no run


def test_a_seed_logged_twice_counts_once_the_latest_kept() -> None:
    runs = frame(run(10.0, seed=1, data_root="/a"), run(70.0, seed=1, data_root="/b"),
                 run(72.0, seed=2))
    data, notes, _ = table1_cells(runs)
    assert data[("ease", "zo-sgd", "cifar100", "avg_acc")] == Cell((70.0, 72.0))
    assert notes == []


def test_a_cell_with_two_configs_stops_the_report_naming_cell_and_settings() -> None:
    runs = frame(run(50.0, epochs=5, seed=1), run(70.0, seed=1), run(72.0, seed=2))
    with pytest.raises(MixingError) as error:
        table1_cells(runs)
    assert str(error.value).startswith(
        "table1: cell ease/zo-sgd/cifar100 has runs of 2 configs that differ in more than the seed "
        "(epochs = 100, 5); narrow the runs with --experiment or choose a rule with --prefer")


def test_a_chosen_rule_keeps_one_config_and_the_caption_says_so() -> None:
    runs = frame(run(50.0, epochs=5, seed=1, profile="corrected"), run(70.0, seed=1, profile="corrected"),
                 run(72.0, seed=2, profile="corrected"))
    most = table1(runs, prefer="most-seeds")
    assert shown(most, 1)[0] == "71.00 ± 1.41"
    assert "kept by the rule --prefer most-seeds" in most.caption
    assert "Profile: corrected." in most.caption
    assert most.notes == ("table1: ease/zo-sgd/cifar100 has 2 configs differing in epochs; kept one with "
                          "2 seed(s)",)
    newest = table1(frame(run(70.0, seed=1), run(72.0, seed=2), run(50.0, epochs=5, seed=1)),
                    prefer="newest")
    assert shown(newest, 1)[0] == "50.00" and "--prefer newest" in newest.caption


def test_profiles_never_share_a_cell() -> None:
    runs = frame(run(70.0, profile="released"), run(60.0, profile="corrected", seed=2))
    with pytest.raises(MixingError, match="profile = corrected, released"):
        table1(runs)


def test_device_and_code_version_do_not_split_configs() -> None:
    runs = frame(run(70.0, seed=1, device="cuda", num_workers=4), run(72.0, seed=2, device="auto"))
    chosen, notes = prepare(runs, ("dataset",), "t")
    assert len(chosen) == 2 and notes == []


def test_sparsity_mode_does_not_split_plain_runs() -> None:
    runs = frame(run(70.0, seed=1, sparsity_mode="exact"),
                 run(72.0, seed=2, sparsity_mode="released"))
    chosen, notes = prepare(runs, ("dataset",), "t")
    assert len(chosen) == 2 and notes == []


def test_table1_takes_only_q1_runs_without_enhancement() -> None:
    runs = frame(run(70.0), run(1.0, q=4), run(2.0, historical=0.2), run(3.0, sparsity=0.1),
                 run(4.0, hybrid=0.5), run(5.0, method="other"))
    data, _, _ = table1_cells(runs)
    assert list(data.values())[0] == Cell((70.0,)) and len(data) == 3


def test_missing_enhancement_params_read_as_off() -> None:
    records = [run(70.0).record("a")]
    for name in ("q", "historical", "sparsity", "hybrid"):
        del records[0][name]
    data, _, _ = table1_cells(runs_frame(records))
    assert data[("ease", "zo-sgd", "cifar100", "avg_acc")] == Cell((70.0,))


def test_table1_has_columns_only_for_datasets_with_runs_paper_order_first() -> None:
    table = table1(frame(run(dataset="digits"), run(dataset="cub"), run(dataset="cifar100")))
    assert list(dict.fromkeys(c.group for c in table.columns)) == ["CIFAR-100", "CUB", "Digits"]
    assert [r[0] for r in table1(frame(run(method="aper"))).rows] == ["APER"] * 9


def test_table1_bold_uses_welch_between_seeded_entries() -> None:
    runs = frame(
        run(80.0, 70, 10, seed=1), run(81.0, 71, 11, seed=2), run(79.0, 69, 9, seed=3),
        run(79.5, 40, 20, optimizer="zo-sgd-sign", seed=1),
        run(80.2, 41, 21, optimizer="zo-sgd-sign", seed=2),
        run(79.9, 42, 22, optimizer="zo-sgd-sign", seed=3),
    )
    table = table1(runs)
    zo, sign = shown(table, 1), shown(table, 2)
    assert not zo[0].startswith("**") and not sign[0].startswith("**")  # Avg: no real gap, no bold
    assert zo[1].startswith("**") and not sign[1].startswith("**")  # Last: clear gap
    assert zo[2].startswith("**") and not sign[2].startswith("**")  # Fgt: lower wins


def test_no_bold_when_every_entry_ties_after_rounding() -> None:
    table = table1(frame(*(run(80.001, 70, 10, optimizer=o) for o in ("fo-sgd", "zo-sgd", "zo-adam"))))
    assert table.bold == frozenset()


def test_table2_rows_are_the_papers_six_for_ease_one_block_per_device() -> None:
    runs = frame(run(optimizer="fo-sgd"), run(q=4), run(optimizer="zo-adam"), run(method="aper"),
                 run(optimizer="forward-grad", dataset="cub"))
    data, _, _ = table2_cells(runs)
    filled = [("fo-sgd", 1, "cifar100"), ("zo-sgd", 4, "cifar100"), ("forward-grad", 1, "cub")]
    metrics = ("peak_memory_gb", "epoch_seconds")
    assert set(data) == {("device not recorded", o, q, d, m) for o, q, d in filled for m in metrics}
    table = table2(runs)
    assert [r[1] for r in table.rows] == ["FO-SGD", "ZO-SGD (q=1)", "ZO-SGD (q=4)", "ZO-SGD-Sign",
                                          "ZO-SGD-Conserve", "Forward-Grad"]
    assert shown(table, 2)[:2] == ["2.41", "32.4"] and shown(table, 1) == ["--"] * 4


def test_table2_keeps_gpu_and_cpu_runs_apart_and_labels_them() -> None:
    records = [run(optimizer="fo-sgd").record("g", 1) | {"run_device": "cuda", "run_device_name": "NVIDIA H100"},
               run(optimizer="fo-sgd", seed=2).record("c", 2) | {"run_device": "cpu"}]
    table = table2(runs_frame(records))
    assert sorted({r[0] for r in table.rows}) == ["CPU (process memory)", "GPU NVIDIA H100"]
    assert "peak resident memory" in table.caption


@pytest.mark.parametrize("ratio, builder", [("historical", table3), ("sparsity", table4)])
def test_ratio_tables_take_the_plain_run_as_zero_and_skip_without_varied_runs(
    ratio: str, builder: Any
) -> None:
    plain = run(57.87, 48.32, 11.08, dataset="imagenet-a")
    with pytest.raises(Skipped):
        builder(frame(plain))
    runs = frame(plain, run(58.9, 49.04, 11.79, dataset="imagenet-a", **{ratio: 0.5}),
                 run(1.0, dataset="imagenet-a", hybrid=0.5, **{ratio: 0.5}),
                 run(2.0, dataset="imagenet-a", optimizer="zo-adam", **{ratio: 0.5}))
    table = builder(runs)
    labels = [c.label for c in table.columns]
    assert labels[0] == "0" and "50" in labels  # the paper's ratios plus the one we ran
    half = labels.index("50")
    assert shown(table, 0)[0] == "57.87" and shown(table, 0)[half] == "**58.90**"
    assert shown(table, 2)[0] == "**11.08**"  # lower forgetting is better
    assert all(entry == "--" for entry in shown(table, 0)[1:half])
    assert table.rows[0][0] == "ImageNet-A"


def test_table4_has_one_block_per_mask_mode_sharing_the_plain_run() -> None:
    runs = frame(run(50.0, dataset="cub"),
                 run(60.0, dataset="cub", sparsity=0.3, sparsity_mode="exact"),
                 run(61.0, dataset="cub", sparsity=0.3, sparsity_mode="released"))
    blocks, _, _ = ratio_blocks(runs, "sparsity")
    assert [(b.dataset, b.mode) for b in blocks] == [("cub", "exact"), ("cub", "released")]
    assert all(b.cells[(0.0, "avg_acc")] == Cell((50.0,)) for b in blocks)
    assert [b.cells[(0.3, "avg_acc")].mean for b in blocks] == [60.0, 61.0]
    assert ("CUB", "released", "Avg") in table4(runs).rows


def test_partial_data_skips_with_reasons_and_names_the_earlier_files_it_keeps(tmp_path: pathlib.Path) -> None:
    (tmp_path / "table3.tex").write_text("old")
    lines = write_report(frame(run(method="aper")), tmp_path)
    assert (tmp_path / "table1.tex").exists() and (tmp_path / "table3.tex").read_text() == "old"
    assert "table2.tex skipped" in "\n".join(lines)
    assert f"kept {tmp_path / 'table3.tex'} from an earlier report: this report has no table3" in lines
    assert not any("failed" in line for line in lines)


def test_mixing_writes_nothing(tmp_path: pathlib.Path) -> None:
    with pytest.raises(MixingError):
        write_report(frame(run(50.0, epochs=5), run(70.0)), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_row_that_never_learned_cannot_win_forgetting_and_is_marked() -> None:
    """Issue 23: ZO-SGD-Sign at or below the untrained run's Avg and Last has the lowest Fgt, but is
    not bolded for it; FO-SGD's Fgt, the lowest of the rows that learned, is. Cells below the
    untrained run are marked ‡."""
    runs = frame(run(30.0, 20.0, 12.0, optimizer="fo-sgd"), run(10.7, 4.0, 5.12, optimizer="zo-sgd-sign"),
                 run(25.0, 15.0, 20.0), run(12.0, 8.0, 0.0, epochs=0))
    table = table1(runs)
    rows = {labels[1:]: r for r, labels in enumerate(table.rows)}
    assert shown(table, rows[("SGD", "Sign")]) == ["10.70‡", "4.00‡", "5.12"]  # lowest Fgt, not bold
    assert shown(table, rows[("SGD", "FO")]) == ["**30.00**", "**20.00**", "**12.00**"]
    assert shown(table, rows[("SGD", "ZO")])[2] == "20.00"
    assert shown(table, rows[("none", "Untrained (0 epochs)")]) == ["12.00", "8.00", "0.00"]
    assert "never rise above the untrained (0-epoch) run" in table.caption and "‡: below" in table.caption
    # Without an untrained run there is no reference: the lowest Fgt is bold as before.
    alone = table1(frame(run(30.0, 20.0, 12.0, optimizer="fo-sgd"), run(10.7, 4.0, 5.12, optimizer="zo-sgd-sign")))
    assert shown(alone, 2)[2] == "**5.12**" and "‡" not in alone.caption
