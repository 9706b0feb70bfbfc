"""Benchmarks: figures, not assertions. Run with `make bench`."""
