"""The name a task instance records as its host ([core] hostname_callable, set by halfsky.config.airflow_runtime),
so the grid says which worker ran it.

Celery workers on separate machines differ by hostname already. Several on one machine (the local recipe
of ``make up EXECUTOR=celery``, or the Celery test) would all record the same one: each is started with
HALFSKY_WORKER_NAME and records ``<name>@<host>``, the name Celery itself gives that worker.
"""

from __future__ import annotations

import os
import socket

WORKER_NAME_ENV = "HALFSKY_WORKER_NAME"


def hostname() -> str:
    # The machine's own name: getfqdn() can answer "localhost" where /etc/hosts lists the name there.
    host = socket.gethostname()
    name = os.environ.get(WORKER_NAME_ENV, "").strip()
    return f"{name}@{host}" if name else host
