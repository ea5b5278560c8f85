"""Loomwork benchmarks: data generators, a load generator and the benchmark runner (see docs/benchmarks.md)."""
