"""Trainers: one class-incremental trial as a plain function of a frozen config (no Ray, no MLflow)."""
