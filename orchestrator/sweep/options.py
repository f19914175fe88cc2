"""How one `zfsweep run` sweeps: the flags it takes, declared once with their defaults.

The command line builds one frozen SweepOptions and hands it down unchanged to the sweep
(orchestrator/commands.py, orchestrator/sweep/shards.py), so a default is written here and nowhere
else, and a value the user gave (`--outage-limit 0`) arrives as given. Standard library only:
the CLI reads these defaults for its `--help` without loading Ray or MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass

OUTAGE_LIMIT_SECONDS = 6 * 3600.0  # also the Outbox's own default


@dataclass(frozen=True)
class SweepOptions:
    """Where results go, how faults are retried, how many trials run at once, how long a tracking
    outage is ridden out, which Ray cluster runs the trials, and how many trials one Tuner holds."""

    storage: str = "ray_results"  # Ray results and per-trial checkpoints (shared storage on a cluster)
    retries: int = 2  # retries of a failed trial, each from its last finished task
    max_concurrent: int | None = None  # at most this many trials at once (None: as many as fit)
    outage_limit: float = OUTAGE_LIMIT_SECONDS  # seconds of tracking outage before the sweep stops
    address: str | None = None  # Ray cluster to join (None: start a local instance)
    # Trials per Tuner.fit(): Tune keeps every trial of a fit in the driver and rewrites them all into
    # its experiment state, so a fit's cost per trial grows with its size (measured: docs/scale.md).
    shard_size: int = 500

    def __post_init__(self) -> None:
        if self.retries < 0 or self.outage_limit < 0:
            raise ValueError("retries and outage_limit must be >= 0")
        if self.shard_size < 1 or (self.max_concurrent is not None and self.max_concurrent < 1):
            raise ValueError("shard_size and max_concurrent must be >= 1")
