"""Two dbt builds of one warehouse never run at once: the second waits for the first, and a killed build frees it."""

from __future__ import annotations

import threading
import time

import psycopg


def test_a_second_build_waits_for_the_first_and_a_dead_holder_frees_the_lock(warehouse):
    from halfsky.orchestration.pipeline import one_dbt_build_at_a_time

    entered = threading.Event()

    def second_build():
        with one_dbt_build_at_a_time(warehouse):
            entered.set()

    holder = psycopg.connect(warehouse, autocommit=True)  # stands for a build that is running
    holder.execute("select pg_advisory_lock(hashtext('halfsky.dbt_build'))")
    waiter = threading.Thread(target=second_build, daemon=True)
    waiter.start()
    time.sleep(1.5)
    assert not entered.is_set(), "the second build started while the first held the lock"
    holder.close()  # the first build's process dies: Postgres frees its session lock
    waiter.join(timeout=10)
    assert entered.is_set()
