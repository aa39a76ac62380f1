"""The dbt manifest Cosmos renders the marts DAG from: ``python -m halfsky.orchestration.dbt_manifest``.

Cosmos can list the dbt project by running ``dbt ls`` while the DAG file is parsed,
which would put a dbt process (and its start-up time) into every parse of every DAG
file. ``LoadMode.DBT_MANIFEST`` reads a manifest written once at set-up instead;
``make demo``/``make test``/``make up`` and the Docker image build it. ``dbt parse``
needs no database, so this runs on a machine with no warehouse configured.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from halfsky.warehouse.dbt_runner import PROJECT_DIR


def manifest_path() -> Path:
    explicit = os.environ.get("HALFSKY_DBT_MANIFEST", "").strip()
    if explicit:
        return Path(explicit)
    home = Path(os.environ.get("HALFSKY_HOME", PROJECT_DIR.parent / ".halfsky"))
    return home / "dbt" / "manifest" / "manifest.json"


def _project_files() -> list[Path]:
    return [p for p in PROJECT_DIR.rglob("*") if p.is_file() and p.suffix in {".sql", ".yml", ".yaml", ".csv"}
            and not {"target", "logs", "dbt_packages"} & set(p.relative_to(PROJECT_DIR).parts)]


def is_stale(path: Path | None = None) -> bool:
    """True when the manifest is missing or older than a file of the dbt project."""
    path = path or manifest_path()
    if not path.exists():
        return True
    built = path.stat().st_mtime
    return any(p.stat().st_mtime > built for p in _project_files())


def build_manifest(path: Path | None = None) -> Path:
    """``dbt parse`` beside the manifest, then a rename into place: a DAG processor reading it meanwhile
    sees the old manifest or the new one, never half of one. Placeholders satisfy profiles.yml; nothing connects."""
    path = path or manifest_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    placeholders = {"HALFSKY_DB_HOST": "127.0.0.1", "HALFSKY_DB_USER": "dbt_parse", "HALFSKY_DB_NAME": "dbt_parse"}
    env = {**placeholders, **os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False", "DO_NOT_TRACK": "1"}
    with tempfile.TemporaryDirectory(prefix=".parse-", dir=path.parent) as work:
        argv = [str(Path(sys.executable).with_name("dbt")), "parse", "--project-dir", str(PROJECT_DIR),
                "--profiles-dir", str(PROJECT_DIR), "--target-path", work, "--log-path", str(Path(work) / "logs")]
        result = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=PROJECT_DIR)
        if result.returncode != 0:
            raise RuntimeError(f"dbt parse failed (exit {result.returncode}):\n{(result.stdout + result.stderr)[-3000:]}")
        os.replace(Path(work) / "manifest.json", path)
    return path


def ensure_manifest() -> Path:
    path = manifest_path()
    if is_stale(path):
        build_manifest(path)
    return path


def main() -> int:
    started = time.perf_counter()
    path = build_manifest()
    print(f"halfsky: dbt manifest written to {path} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
