"""The one-line progress display (counts, ETA, redraw on a terminal, a line per change otherwise) and
the GPU-hours each trial is charged."""

import io
import time
from pathlib import Path

import pytest

from orchestrator.grid.expand import Grid, load_grid
from orchestrator.sweep.progress import Counts, LiveLine, SweepProgress, eta, format_eta
from orchestrator.sweep.recorder import TrialRecord


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_counts_line_and_eta() -> None:
    counts = Counts(total=10, finished=3, running=2, failed=1, gpu_hours=1.234, eta_seconds=3725)
    assert counts.pending == 4
    assert counts.line() == "10 trials: 3 finished, 2 running, 1 failed, 4 pending, 1.23 GPU-hours, ETA 1h02m"
    assert [format_eta(s) for s in (None, 0, 42, 600)] == ["?", "0s", "42s", "10m"]
    assert eta(6, 100.0, 3) == 200.0 and eta(0, None, 1) == 0.0 and eta(5, None, 2) is None


def test_sweep_progress_counts_trials_as_they_start_and_end() -> None:
    progress = SweepProgress(total=5, finished=1, prior_mean_seconds=50.0, gpu_hours={"old": 0.5})
    progress.start("a")
    progress.start("b")
    assert progress.counts().line().startswith("5 trials: 1 finished, 2 running, 0 failed, 2 pending")
    assert progress.counts().eta_seconds == 4 * 50.0 / 2  # earlier runs' mean, 2 slots seen
    progress.finish("a", 10.0)
    progress.fail("b")
    progress.gpu_hours["a"] = 0.25
    counts = progress.counts()
    assert (counts.finished, counts.running, counts.failed, counts.pending) == (2, 0, 1, 2)
    assert counts.gpu_hours == 0.75 and counts.eta_seconds == 2 * 10.0 / 2


def test_without_a_terminal_a_line_is_printed_per_change() -> None:
    out = io.StringIO()
    live = LiveLine(out)
    first = Counts(3, 0, 1, 0, 0.0, None)
    live.show(first)
    live.show(first)  # no change: nothing new
    live.echo("finished x")
    live.show(Counts(3, 1, 1, 0, 0.1, 10.0))
    assert out.getvalue().splitlines() == [first.line(), "finished x", Counts(3, 1, 1, 0, 0.1, 10.0).line()]


def test_on_a_terminal_one_line_is_redrawn_in_place() -> None:
    out = Terminal()
    live = LiveLine(out, interval=3600.0)
    live.show(Counts(3, 0, 1, 0, 0.0, None), force=True)
    live.show(Counts(3, 1, 1, 0, 0.0, None))  # within the interval: not redrawn
    live.echo("finished x")
    live.close()
    text = out.getvalue()
    assert "\n" not in text.split("finished x")[0]  # the counts line was drawn with \r, no newline
    assert text.count("3 trials: 0 finished, 1 running") == 2  # drawn, then redrawn below the event line
    assert text.endswith("\n") and "\r\x1b[Kfinished x\n" in text


def test_gpu_hours_add_up_every_attempt_at_the_trials_gpu_fraction(tmp_path: Path) -> None:
    spec = load_grid_text(tmp_path).trials[0]
    record = TrialRecord(spec, gpu=0.25, gpu_hours=1.0)  # 1 GPU-hour from an earlier driver
    record.attempt_started = time.time() - 2 * 3600  # an attempt of two hours, then a retry of one
    record.end_attempt()
    record.attempt_started = time.time() - 3600
    assert record.hours_now() == pytest.approx(1.0 + 0.5 + 0.25, abs=1e-3)
    record.end_attempt()
    assert record.gpu_hours == pytest.approx(1.75, abs=1e-3) and record.seconds == pytest.approx(3 * 3600, abs=5)
    assert record.hours_now() == record.gpu_hours  # no attempt running


def load_grid_text(folder: Path) -> Grid:
    path = folder / "grid.yaml"
    path.write_text("fixed: {dataset: digits}\n")
    return load_grid(path)


def test_an_outage_note_rides_on_the_line_and_a_log_gets_a_line_when_it_comes_or_goes() -> None:
    stream = io.StringIO()
    live = LiveLine(stream)
    counts = Counts(total=3, finished=1, running=1, failed=0, gpu_hours=0.0, eta_seconds=None)
    live.show(counts, note="tracking store unreachable for 3 s, 2 writes queued")
    live.show(counts, note="tracking store unreachable for 9 s, 5 writes queued")  # only its numbers tick on
    live.show(counts)  # the store answers again
    assert stream.getvalue().splitlines() == [
        counts.line() + " | tracking store unreachable for 3 s, 2 writes queued", counts.line()]
    stopped = Counts(total=5, finished=1, running=0, failed=1, gpu_hours=0.5, eta_seconds=None, interrupted=2)
    assert stopped.pending == 1 and " 0 running, 2 interrupted, 1 failed, 1 pending, " in stopped.line()


def test_the_line_names_the_running_trials_and_their_task_clipped_to_the_terminal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    progress = SweepProgress(total=4, finished=0)
    for digest, label in (("a", "ease/zo-sgd lr=0.001"), ("b", "aper/fo-sgd epochs=0")):
        progress.start(digest)
        progress.at_task(digest, label, 0, 10)
    progress.at_task("a", "ease/zo-sgd lr=0.001", 2, 10)
    progress.at_task("gone", "never started", 0, 10)  # a late report of a trial that ended: not shown
    assert progress.running_line() == "running: ease/zo-sgd lr=0.001 (task 3/10), aper/fo-sgd epochs=0 (task 1/10)"
    progress.finish("b", 1.0)
    assert progress.running_line() == "running: ease/zo-sgd lr=0.001 (task 3/10)"
    monkeypatch.setenv("COLUMNS", "60")
    out = Terminal()
    LiveLine(out).show(progress.counts(), force=True, running=progress.running_line())
    drawn = out.getvalue().removeprefix("\r\x1b[K")
    assert len(drawn) == 59 and drawn.endswith("...") and drawn.startswith("4 trials: 1 finished, 1 running")
    log = io.StringIO()
    LiveLine(log).show(progress.counts(), running=progress.running_line())
    assert log.getvalue().rstrip("\n").endswith(" | running: ease/zo-sgd lr=0.001 (task 3/10)")


def test_a_sweep_without_gpus_shows_no_gpu_hours() -> None:
    progress = SweepProgress(total=2, finished=0, with_gpu_hours=False)
    assert progress.counts().line() == "2 trials: 0 finished, 0 running, 0 failed, 2 pending, ETA ?"
    assert "GPU-hours" in SweepProgress(total=2, finished=0).counts().line()
