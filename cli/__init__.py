"""``elmol-nlu``, the command line: the top layer, over the core, training and export (tests/test_layers.py)."""
