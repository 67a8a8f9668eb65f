"""Benchmarks: one command per benchmark, results in docs/benchmarks.md (see README)."""
