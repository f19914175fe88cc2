"""The optimizer benchmark's report logic on synthetic measurements (the benchmark itself is not a test)."""

from __future__ import annotations

from bench.optimizers import BEYOND_NAMES, RUNS, TWO_FORWARDS, beyond_lines, checks, render

SECONDS = {TWO_FORWARDS: 2.0, "fo-sgd": 4.0, "fo-adam": 4.0, "zo-sgd": 2.2, "zo-sgd-sign": 2.2,
           "zo-sgd-conserve": 5.5, "zo-adam": 2.2, "zo-adam-sign": 2.2, "zo-adam-conserve": 5.9,
           "forward-grad": 3.0, "zo-sgd-q4": 9.0, "zo-sparse-mezo": 2.4, "zo-lozo": 2.3, "zo-subzero": 2.3,
           "zo-hizoo": 3.3, "zo-muon": 2.5, "zo-sparse-mezo-released": 2.4, "zo-lozo-released": 2.3,
           "zo-subzero-released": 2.3, "zo-hizoo-released": 3.3, "zo-muon-released": 2.0}
PEAKS = {label: (1000 if label.startswith("fo-") else 100) * 2**20 for label, _, _ in RUNS}


def test_checks_report_each_target_met_or_missed() -> None:
    lines = checks(SECONDS, PEAKS, on_gpu=True)
    assert lines[0] == "ZO-SGD step / two inference forwards: 1.10 (target <= 1.15) met"
    assert lines[2] == "ZO-SGD q=4 step / q=1 step: 4.09 (target <= 4.2) met"
    assert lines[4] == "ZO-Adam-Conserve step / ZO-Adam step: 2.68 (target <= 2.6) MISSED"
    assert lines[5].endswith("0.100 (target <= 0.15 on GPU) met")
    assert "not applicable on CPU" in checks(SECONDS, PEAKS, on_gpu=False)[5]


def test_table_lists_every_run_with_forwards_and_paper_ratios() -> None:
    table = render(SECONDS, PEAKS, "synthetic").splitlines()
    assert [row.split()[0] for row in table[1:21]] == [label for label, _, _ in RUNS]
    assert table[3].split() == ["zo-sgd", "2", "2.200", "0.55", "0.55", "100.0", "0.100", "0.20"]
    assert table[10].split()[1] == "8"  # zo-sgd-q4: 2q forwards


def test_the_estimators_beyond_the_paper_are_benchmarked_beside_zo_sgd() -> None:
    assert [label for label, _, _ in RUNS[10:15]] == BEYOND_NAMES == ["zo-sparse-mezo", "zo-lozo", "zo-subzero",
                                                                     "zo-hizoo", "zo-muon"]
    table = render(SECONDS, PEAKS, "synthetic").splitlines()
    assert table[14].split()[:2] == ["zo-hizoo", "3"]  # 2q + 1 forwards
    lines = beyond_lines(SECONDS, PEAKS)
    assert lines[3] == "zo-hizoo / zo-sgd: step 1.50, peak memory 1.00, forwards 1.50"


def test_the_released_forms_are_benchmarked_with_their_forwards() -> None:
    assert [label for label, _, _ in RUNS[15:]] == [f"{name}-released" for name in BEYOND_NAMES]
    table = render(SECONDS, PEAKS, "synthetic").splitlines()
    assert table[20].split()[:2] == ["zo-muon-released", "2"]  # one-sided: 1 + q forwards at q = 1
    assert beyond_lines(SECONDS, PEAKS)[-1] == "zo-muon-released / zo-sgd: step 0.91, peak memory 1.00, forwards 1.00"
