# The two commands a newcomer needs: `make demo` and `make test`.
# Each creates what it needs: .venv, a Postgres warehouse, an Airflow home.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ENV := source .halfsky/env.sh &&

# make up AIRFLOW_PORT=8090 / make docs DOCS_PORT=8091 to move them.
AIRFLOW_PORT ?= 8080
DOCS_PORT ?= 8081
# The upload page for prefecture staff (halfsky.portal.app), started by make up beside Airflow.
UPLOAD_PORT ?= 8082
# make up EXECUTOR=celery [CELERY_WORKERS=2]: CeleryExecutor, Redis broker, workers on this machine (docs/celery.md).
EXECUTOR ?= local
CELERY_WORKERS ?= 2
SERVICES := .venv/bin/python -m halfsky_dev.services

.PHONY: help setup demo test check bench soak up down status docs clean

help:
	@echo "make demo   - nightly load of bundled sample data, then a summary of the marts"
	@echo "make test   - the test suite against a real Postgres, Airflow and dbt"
	@echo "make check  - the fast lane: tests that need no Postgres and no Airflow (tests/unit), under a minute"
	@echo "make bench  - halfsky's load speed and memory beside a COPY floor, pandas+GX and Polars peers, dbt nights, build_marts"
	@echo "              (bench/run.py; BENCH_ARGS='--sizes small' for a one-minute smoke run; figures in bench/results/)"
	@echo "make soak   - 50 nights in a row over a growing, hostile landing tree with SIGKILLs and a Postgres restart;"
	@echo "              nothing may be lost or doubled (bench/soak.py, not in CI; SOAK_ARGS='--quick' for 5 nights)"
	@echo "make up     - Airflow UI and services on http://127.0.0.1:$(AIRFLOW_PORT), in the background (login printed),"
	@echo "              and the prefecture staff's upload page on http://127.0.0.1:$(UPLOAD_PORT)"
	@echo "              (EXECUTOR=celery CELERY_WORKERS=2: CeleryExecutor with a Redis broker and local workers)"
	@echo "make down   - stop what make up and make docs started"
	@echo "make status - which of those services run"
	@echo "make docs   - dbt docs generate, then serve them on http://127.0.0.1:$(DOCS_PORT)"
	@echo "make bi     - Superset dashboards on http://127.0.0.1:$(BI_PORT), read-only on the marts (bi-check: browser check; bi-down: stop)"
	@echo "make clean  - remove .halfsky (local cluster, Airflow home, landing zone)"

setup:
	@./scripts/bootstrap.sh
	@.venv/bin/python -m halfsky_dev.devenv

demo: setup
	@$(ENV) .venv/bin/python -m halfsky_dev.demo

test:
	@./scripts/bootstrap.sh
	@.venv/bin/python -m halfsky_dev.devenv --no-migrate
	@$(ENV) .venv/bin/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# No database, no Airflow home: only the .venv. The unit lane's slow tests (Great Expectations' own engine)
# run in make test.
check:
	@./scripts/bootstrap.sh
	@.venv/bin/python -m pytest -n 2 --dist loadfile -m "not slow" tests/unit $(PYTEST_ARGS)

bench: setup
	@$(ENV) .venv/bin/python bench/run.py $(BENCH_ARGS)

soak: setup
	@$(ENV) .venv/bin/python bench/soak.py $(SOAK_ARGS)

up: setup
	@$(ENV) $(SERVICES) up --port $(AIRFLOW_PORT) --executor $(EXECUTOR) --workers $(CELERY_WORKERS) --upload-port $(UPLOAD_PORT)

down:
	@if [ -x .venv/bin/python ]; then if [ -f .halfsky/env.sh ]; then $(ENV) $(SERVICES) down; else $(SERVICES) down; fi; fi

status:
	@if [ -f .halfsky/env.sh ]; then $(ENV) $(SERVICES) status; else echo "nothing set up yet: make up"; fi

docs: setup
	@$(ENV) $(SERVICES) docs --port $(DOCS_PORT)

clean: down bi-down
	@if [ -f .halfsky/pgdata/PG_VERSION ]; then .venv/bin/python -c "from halfsky_dev.local_postgres import *; from pathlib import Path; stop_local_cluster(Path('.halfsky/pgdata'), find_pg_bin_dir())" || true; fi
	rm -rf .halfsky

# Superset on http://127.0.0.1:$(BI_PORT) reading the marts as halfsky_analyst, dashboards from deploy/superset/assets.
BI_PORT ?= 8088
BI := .venv/bin/python -m halfsky_dev.bi
.PHONY: bi bi-check bi-down

bi: setup
	@$(ENV) BI_PORT=$(BI_PORT) $(BI) up --port $(BI_PORT)

bi-check:
	@$(ENV) $(BI) check

bi-down:
	@if [ -x .venv/bin/python ]; then if [ -f .halfsky/env.sh ]; then $(ENV) $(BI) down; else $(BI) down; fi; fi
