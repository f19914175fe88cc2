"""How one `zfsweep run` sweeps: the flags it takes, declared once with their defaults.

The command line builds one frozen SweepOptions and hands it down unchanged to the sweep
(orchestrator/commands.py, orchestrator/sweep/driver.py), so a default is written here and nowhere
else, and a value the user gave (`--outage-limit 0`) arrives as given. Standard library only:
the CLI reads these defaults for its `--help` without loading Ray or MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass

OUTAGE_LIMIT_SECONDS = 6 * 3600.0  # also the Outbox's own default


@dataclass(frozen=True)
class SweepOptions:
    """Where results go, how faults are retried, how many trials run at once, how long a tracking
    outage is ridden out, and which Ray cluster runs the trials."""

    storage: str = "ray_results"  # checkpoints, error files, a search's Tune folder (shared storage on a cluster)
    retries: int = 2  # retries of a failed trial, each from its last finished task
    max_concurrent: int | None = None  # at most this many trials at once (None: as many as fit)
    outage_limit: float = OUTAGE_LIMIT_SECONDS  # seconds of tracking outage before the sweep stops
    address: str | None = None  # Ray cluster to join (None: start a local instance)

    def __post_init__(self) -> None:
        if self.retries < 0 or self.outage_limit < 0:
            raise ValueError("retries and outage_limit must be >= 0")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
