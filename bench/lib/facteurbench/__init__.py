"""Helpers for facteur's benchmarks (bench/): private Postfix and facteur
instances, load generators, measurement."""
