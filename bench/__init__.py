"""Benchmarks: each prints its figures and the hardware; results go to docs/performance.md."""
