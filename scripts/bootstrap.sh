#!/usr/bin/env bash
# Create .venv with the exact versions in constraints.txt and install halfsky into it.
# Idempotent: skips the install when constraints.txt and pyproject.toml are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON="$candidate"; break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  echo "halfsky: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi

if [ ! -x .venv/bin/python ]; then
  echo "halfsky: creating .venv with $($PYTHON --version)" >&2
  "$PYTHON" -m venv .venv
fi

stamp=.venv/.halfsky-installed
want="$(cat constraints.txt pyproject.toml tools/pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "halfsky: installing pinned dependencies into .venv (first run takes a minute or two)" >&2
  uv_version="$(grep -E '^uv==' constraints.txt | cut -d= -f3)"
  # uv resolves and installs Airflow's ~200 packages an order of magnitude faster than pip.
  # --compile-bytecode: uv writes no .pyc by default, and a process that finds none compiles every module it
  # imports (and, where PYTHONDONTWRITEBYTECODE=1 is exported, never keeps them, so every process does it
  # again): 14 s instead of 6 s to import Great Expectations, in each Airflow task, dbt and GX process.
  # pip compiles by default.
  if .venv/bin/python -m pip install -q --disable-pip-version-check "uv==${uv_version}" 2>/dev/null; then
    .venv/bin/uv pip install --python .venv/bin/python -q --compile-bytecode -c constraints.txt -e '.[test]' -e ./tools
  else
    .venv/bin/python -m pip install -q -c constraints.txt -e '.[test]' -e ./tools
  fi
  echo "$want" > "$stamp"
  touch .venv/.halfsky-bytecode
fi

# A .venv installed before bootstrap compiled bytecode: compile its site-packages once (about a minute).
if [ ! -f .venv/.halfsky-bytecode ]; then
  echo "halfsky: compiling .venv's bytecode once (every Airflow, dbt and GX process starts faster)" >&2
  site="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  # -q, and errors ignored: a few packages ship files that are not Python 3 (templates, tests); pip and uv skip them too.
  .venv/bin/python -m compileall -q -j 0 "$site" >/dev/null 2>&1 || true
  touch .venv/.halfsky-bytecode
fi
# halfsky itself is installed editable: its plugins/ and dags/ are compiled here, on every run (only changed files).
.venv/bin/python -m compileall -q -j 0 plugins tools dags >/dev/null
