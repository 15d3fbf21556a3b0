"""Repository tools that are neither the product nor an experiment: ``python -m tools.docs_tables``."""
