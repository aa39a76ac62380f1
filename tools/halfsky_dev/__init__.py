"""halfsky_dev: tooling for developers and the demo, kept out of the product package ``halfsky``.

- ``devenv``: prepare a machine (Postgres, databases, Airflow home, env file); ``local_postgres`` finds or
  starts the server;
- ``services`` and ``bi``: Airflow's services and Superset in the background (``make up``, ``make bi``),
  both through ``processes``;
- ``demo``: the nightly load on bundled sample data, then what landed in the marts (``make demo``);
- ``sample``: the landing-tree generator the demo, the tests and the bench use.

May import ``halfsky``; ``halfsky`` never imports this (tests/test_import_boundaries.py).
"""

# The same masking as halfsky's own modules: the demo and the generator log drop names, which carry id numbers.
from halfsky.config.log_masking import masked_logger as _masked_logger, module_names as _module_names  # noqa: E402
from pathlib import Path as _Path  # noqa: E402

for _name in _module_names("halfsky_dev", _Path(__file__).parent):
    _masked_logger(_name)
