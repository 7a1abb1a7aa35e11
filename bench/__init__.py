"""Benchmarks: each prints its figures and the hardware, and keeps its report in
bench/results/ (not committed); the current figures are in docs/performance.md."""
