"""Above everything else: the paper reproduction, the baselines and the benchmarks. They may import any layer;
nothing outside experiments and tests imports them (tests/test_layers.py)."""
