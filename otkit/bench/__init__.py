"""Benchmark helpers behind ``benchmarks/`` and the ``otkit bench`` command."""
