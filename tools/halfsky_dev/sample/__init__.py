"""Sample landing zones for demos, tests and benchmarks: ``python -m halfsky_dev.sample --help``."""
