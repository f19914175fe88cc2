"""The names of what zfsweep writes to MLflow, shared by the writer (orchestrator/) and the readers
(reports/, bench/), so the two cannot drift apart.

One run per trial; its params are the resolved TrialConfig (catalog/config.py), flat. These are
its tags and metrics.
"""

from __future__ import annotations

HASH_TAG = "zfsweep.config_hash"  # the trial's identity: the same config gives the same hash anywhere
GRID_TAG = "zfsweep.grid"
ERROR_TAG = "zfsweep.error"  # why a FAILED run failed, one line
# Tags rather than params: a retried trial may land on another device, and tags can change.
DEVICE_TAG = "zfsweep.device"
DEVICE_NAME_TAG = "zfsweep.device_name"
LEASE_PREFIX = "zfsweep.lease."  # experiment tags: one driver per experiment
MATRIX_TAG = "zfsweep.task_matrix"  # the task x task matrix, only where its artifact could not be written
COMMIT_TAG = "mlflow.source.git.commit"  # MLflow's own tag: the UI shows it on the run page
NOTE_TAG = "mlflow.note.content"  # the experiment's description in the MLflow UI
KIND_TAG = "mlflow.experimentKind"  # what the UI sets when a user picks the experiment's type
KIND = "custom_model_development"  # opens on the runs table, not the GenAI traces view
# A saved view of the runs table (its columns), which the UI opens at ?viewStateShareKey=<key>.
VIEW_TAG_PREFIX = "mlflow.sharedViewState."
VIEW_KEY = "zfsweep"

# A grid with a `search:` block (orchestrator/search/) tags each of its runs with its cell, the phase it
# belongs to and, for the sampled trials, the search they were drawn by.
CELL_TAG = "zfsweep.cell"  # e.g. "ease/zo-sgd/glyphs": the settings one search is run for
PHASE_TAG = "zfsweep.phase"  # one of PHASES
PHASES = ("preset", "search", "tuned")  # the grid's own trials, the sampled ones, the best one's seeded reruns
SEARCHED_TAG = "zfsweep.searched"  # the searched settings of a sample, comma-separated: "lr"
SEARCH_TAG = "zfsweep.search"  # digest of the cell's base config and the block: which samples belong together
EARLY_STOP_TAG = "zfsweep.stopped_early"  # a sampled trial the scheduler (ASHA) stopped: FINISHED, partial
VALIDATION_METRIC = "val_avg"  # a searched trial's running mean held-out accuracy (step = task); never test

# A trial's final result, one metric each (plus `acc`, the accuracy after each task, step = task).
RESULT_METRICS: tuple[str, ...] = ("avg_acc", "last_acc", "forgetting", "peak_memory_gb", "epoch_seconds",
                                   "forward_passes", "wall_seconds", "trainable_params", "val_avg")
# What the driver adds: GPU-hours the trial held (gpu fraction x hours).
DRIVER_METRICS: tuple[str, ...] = ("gpu_hours",)
