# source me: environment for the prototype Superset (own venv, loopback only)
export DO_NOT_TRACK=1
export SCARF_ANALYTICS=false          # honoured only by source builds; see superset_config.py
export SUPERSET_CONFIG_PATH=/tmp/superset-proto/superset_config.py
export SUPERSET_HOME=/tmp/superset-proto/superset_home
export SUPERSET_SECRET_KEY="$(cat /tmp/superset-proto/.secret_key)"
export FLASK_APP=superset
export PATH=/tmp/superset-proto/venv/bin:$PATH
