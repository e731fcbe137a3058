"""Benchmarks: scripts with reported numbers (see README.md), not timed tests."""
