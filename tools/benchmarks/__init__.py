"""The performance benchmark: ``python -m tools.benchmarks``."""
