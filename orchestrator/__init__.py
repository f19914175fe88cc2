"""Command line and orchestration: grids, Ray Tune sweeps and MLflow tracking around the trainers."""
