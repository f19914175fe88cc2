"""Benchmarks: performance targets are measured here as ratios within one run, never asserted in tests."""
