"""`zfsweep trial` says when each task ends (a trial of the paper's grids runs for hours)."""

from __future__ import annotations

import json
import re
import subprocess
import sys


def test_trial_prints_one_line_per_finished_task_and_the_result_last() -> None:
    args = ["trial", "--dataset", "digits", "--backbone", "test_vit", "--weights", "random", "--image-size", "32",
            "--tasks", "2", "--epochs", "1", "--json"]
    done = subprocess.run([sys.executable, "-c", "from orchestrator.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("task ")]
    assert [re.sub(r"accuracy [0-9.]+ \(\d+ s\)", "accuracy A (T s)", line) for line in lines] == [
        "task 1 of 2: accuracy A (T s)", "task 2 of 2: accuracy A (T s)"], done.stderr
    result = json.loads(done.stdout)
    assert f"accuracy {result['acc'][-1]:.2f}" in lines[-1]
