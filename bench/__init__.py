"""Benchmarks (not tests): ``python -m bench.latency`` measures server-side time per utterance."""
