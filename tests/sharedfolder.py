"""A scratch folder that `zfsweep slurm` accepts as shared storage, for the launcher tests.

The checkout's build/ folder (ignored by git), unless the checkout itself lies on node-local
storage (a clone under /tmp, as CI may make): then a folder under the home directory.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from orchestrator.launch.shared import node_local_root

ROOT = Path(__file__).resolve().parents[1]


def shared_scratch(prefix: str) -> Path:
    base = ROOT / "build" if node_local_root(ROOT) is None else Path.home() / ".cache" / "zfsweep-tests"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))
