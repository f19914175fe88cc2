"""Searched grids: Ray Tune draws each cell's samples, ASHA stops the poor ones, the best rerun on test."""
