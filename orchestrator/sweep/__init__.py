"""The sweep on Ray Tune: the trainable around a trial, per-trial checkpoints, the recorder that writes to MLflow, and the live progress line."""
