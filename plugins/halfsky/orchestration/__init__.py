"""halfsky under Airflow: the task bodies the DAG files call (``pipeline``), assets, DAG defaults and
alert callbacks, the Cosmos task group and its manifest, run context, ingest batching, the night's
alerts and digest, and the settings Airflow's own processes import (Celery, worker identity).

May import every other halfsky sub-package; nothing imports it but ``dags/``.
"""
