"""Benchmarks (not tests): ``python -m experiments.bench.latency`` measures server-side time per utterance."""
