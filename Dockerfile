# halfsky's Airflow image: the official Airflow 3.3.2 image with halfsky and the exact versions of
# constraints.txt baked in, so a container installs nothing when it starts.
#
#   docker compose build          # docker-compose.yml builds it as ${HALFSKY_IMAGE:-halfsky-airflow:local}
#
# Rebuild after changing code, DAGs, dbt models, expectations or constraints.txt.
FROM apache/airflow:3.3.2-python3.11

ENV HALFSKY_DBT_MANIFEST=/opt/halfsky/build/dbt/manifest.json \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/halfsky/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    DO_NOT_TRACK=1 \
    SCARF_ANALYTICS=false \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    AIRFLOW__USAGE_DATA_COLLECTION__ENABLED=False \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False \
    GX_ANALYTICS_ENABLED=False \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# /opt/halfsky belongs to airflow (group 0, like the image's own files): the editable install, the
# bytecode and the manifest are written into it at build time. The containers read it as AIRFLOW_UID.
USER root
RUN mkdir -p /opt/halfsky/plugins/halfsky && chown -R airflow:0 /opt/halfsky
USER airflow
WORKDIR /opt/halfsky

# The pinned dependencies first, in their own layer: it is rebuilt only when the pins change.
# halfsky is installed editable (its code is found in /opt/halfsky/plugins) because it finds
# dbt_project/ and expectations/ beside plugins/.
COPY --chown=airflow:0 constraints.txt pyproject.toml README.md /opt/halfsky/
COPY --chown=airflow:0 plugins/halfsky/__init__.py /opt/halfsky/plugins/halfsky/__init__.py
RUN pip install --no-cache-dir -c /opt/halfsky/constraints.txt -e /opt/halfsky
# Bytecode for every package in the airflow user's site-packages (the base image's Airflow and what pip just
# added): a process that finds no .pyc compiles each module it imports, every time it starts (Great Expectations
# alone: 6 s with bytecode, 14 s without), and the containers' user may not be able to write it later.
# Errors are ignored as pip ignores them: a few packages ship files that are not Python 3.
RUN python -m compileall -q -j 0 "$(python -c 'import site; print(site.getusersitepackages())')" >/dev/null 2>&1 || true

COPY --chown=airflow:0 plugins /opt/halfsky/plugins
COPY --chown=airflow:0 dags /opt/halfsky/dags
COPY --chown=airflow:0 dbt_project /opt/halfsky/dbt_project
COPY --chown=airflow:0 expectations /opt/halfsky/expectations

# Bytecode now: the containers' user (AIRFLOW_UID) may not be able to write __pycache__.
# The dbt manifest the DAG is rendered from is made here too (dbt parse connects to nothing).
RUN python -m compileall -q /opt/halfsky/plugins /opt/halfsky/dags \
 && if python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('halfsky.orchestration.dbt_manifest') is None)"; then \
        HALFSKY_HOME=/tmp/halfsky-build python -m halfsky.orchestration.dbt_manifest && rm -rf /tmp/halfsky-build; \
    fi \
 && python -c "import halfsky.orchestration.pipeline, halfsky.orchestration.celery_config, halfsky.orchestration.worker_identity"
