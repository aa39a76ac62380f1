# The two commands a newcomer needs: `make demo` and `make test`.
# Each creates what it needs: .venv, a Postgres warehouse, an Airflow home.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ENV := source .halfsky/env.sh &&

.PHONY: help setup demo test bench clean

help:
	@echo "make demo   - nightly load of bundled sample data, then a summary of the marts"
	@echo "make test   - the test suite against a real Postgres, Airflow and dbt"
	@echo "make bench  - load-speed and memory figures"
	@echo "make clean  - remove .halfsky (local cluster, Airflow home, landing zone)"

setup:
	@./scripts/bootstrap.sh
	@.venv/bin/python -m halfsky.devenv

demo: setup
	@$(ENV) .venv/bin/python -m halfsky.demo

test:
	@./scripts/bootstrap.sh
	@.venv/bin/python -m halfsky.devenv --no-migrate
	@$(ENV) .venv/bin/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

bench: setup
	@$(ENV) .venv/bin/python bench/load_speed.py

clean:
	@if [ -f .halfsky/pgdata/PG_VERSION ]; then .venv/bin/python -c "from halfsky.local_postgres import *; from pathlib import Path; stop_local_cluster(Path('.halfsky/pgdata'), find_pg_bin_dir())" || true; fi
	rm -rf .halfsky
