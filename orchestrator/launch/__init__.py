"""Launchers that take a grid to where the GPUs are: a SLURM allocation (`zfsweep slurm`) and a
Kubernetes cluster through KubeRay (`zfsweep kube`). Both end in the same `zfsweep run GRID
--address ...` on the Ray head, so a sweep behaves there exactly as on a Ray cluster started
from cluster.yaml. Nothing here imports Ray, MLflow or torch at import time (a fast CLI).
"""
