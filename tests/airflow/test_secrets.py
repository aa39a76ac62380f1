"""Secrets (issue 10, item 4): credentials come only from Airflow connections or the environment; the person key,
the passwords and the beneficiaries' id numbers appear in no file of the repository and in no log of a run; the key
never shows in `ps` or pg_stat_activity; the files that hold secrets or personal data are not world-readable.

The run is tests/dag_site.py's (shared with test_idempotency.py): real `airflow dags test` of nightly_load and
build_marts (Cosmos), then halfsky.orchestration.pipeline.build_marts (dbt through halfsky.warehouse.dbt_runner), with a random person key,
a warehouse password in the warehouse DSN and an analyst password; `ps` and pg_stat_activity sampled every 50 ms
throughout.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from dag_site import Sampler, run_child, shared_site

REPO_ROOT = Path(__file__).resolve().parents[2]
ID_LIKE = re.compile(rb"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")


@pytest.fixture(scope="session")
def site(admin_dsn, tmp_path_factory):
    with shared_site(admin_dsn, tmp_path_factory) as shared:
        yield shared


def _is_id_number(token: bytes) -> bool:
    """An 18-character token whose digits 7-14 are a birth date: an id number (valid check digit or not)."""
    try:
        born = date(int(token[6:10]), int(token[10:12]), int(token[12:14]))
    except ValueError:
        return False
    return 1900 <= born.year <= 2030


def _file_texts(path: Path) -> list[bytes]:
    """A file's bytes; an xlsx (zip) as its members' bytes, where the cells' text is."""
    data = path.read_bytes()
    if data[:2] == b"PK" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return [archive.read(name) for name in archive.namelist()]
    return [data]


@pytest.fixture(scope="session")
def id_numbers(site) -> set[bytes]:
    """Every id number of the sample: in the drops on the landing tree (accepted or not) and in raw."""
    found = {token for path in site["root"].rglob("*") if path.is_file() and not path.is_symlink()
             for text in _file_texts(path) for token in ID_LIKE.findall(text) if _is_id_number(token)}
    with psycopg.connect(site["dsn"]) as conn:
        found |= {n.encode() for (n,) in conn.execute("select distinct id_number from raw.beneficiaries")}
    assert len(found) > 50, "the sample should hold dozens of id numbers"
    return found


def _secrets(site) -> dict[str, bytes]:
    return {name: value.encode() for name, value in site["needles"].items()}


def _files(*places: Path) -> list[Path]:
    out = []
    for place in places:
        if place.is_file():
            out.append(place)
        elif place.is_dir():
            out += [p for p in place.rglob("*") if p.is_file() and not p.is_symlink()]
    return out


def _scan(files: list[Path], secrets_: dict[str, bytes], ids: set[bytes] = frozenset()) -> list[tuple[str, str]]:
    """(file, what) for every secret or id number found in ``files``."""
    hits = []
    for path in files:
        try:
            texts = _file_texts(path)
        except (OSError, zipfile.BadZipFile):
            continue  # gone since it was listed (another test's file), or not readable: nothing to leak from here
        for text in texts:
            hits += [(str(path), name) for name, value in secrets_.items() if value in text]
            hits += [(str(path), f"id number {t.decode()}") for t in set(ID_LIKE.findall(text)) & ids]
    return hits


def _cosmos_cache(site) -> list[Path]:
    configured = site["env"].get("AIRFLOW__COSMOS__CACHE_DIR")
    if configured:
        return [Path(configured)]
    shared = Path("/tmp/cosmos")  # Cosmos' default: shared by every Airflow home on the machine
    return [shared / "build_marts__dbt", shared / "profile"]


# --- the repository and the logs ----------------------------------------------------------------------------

def test_no_secret_or_id_number_is_in_any_file_of_the_repository(site, id_numbers):
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, check=True).stdout
    files = [REPO_ROOT / os.fsdecode(name) for name in listed.split(b"\0") if name]
    assert len(files) > 100
    assert _scan(files, _secrets(site), id_numbers) == []


def test_no_secret_or_id_number_is_in_the_logs_of_a_run(site, id_numbers):
    """The task logs (`airflow dags test` prints them; the Airflow home holds the metadata database with the
    rendered task fields and XComs, and any log files), dbt's logs and target/ (halfsky.warehouse.dbt_runner's work
    folder, HALFSKY_HOME/dbt/<db>) and Cosmos' cache, after every run the site and the other tests made."""
    dbt_work = site["halfsky_home"] / "dbt" / site["db"]
    assert (dbt_work / "logs" / "dbt.log").stat().st_size > 0 and (dbt_work / "target").is_dir()
    run_log = site["logs"].read_text(errors="replace")
    # The scan reads the right text: the task logs name the drops and dbt's lines, never what they hold.
    assert site["truth"]["drops"][0]["path"] in run_log and "dbt" in run_log
    files = _files(site["logs"], site["home"], site["halfsky_home"], *_cosmos_cache(site))
    assert _scan(files, _secrets(site), id_numbers) == []


def test_the_quarantine_holds_id_numbers_but_no_secret(site, id_numbers):
    files = _files(site["quarantine"])
    assert files
    assert _scan(files, _secrets(site)) == []
    # The rejected drops' bytes are there as sent (their id numbers with them): the scan would see a leak.
    assert any("id number" in what for _, what in _scan(files, {}, id_numbers))


# --- what other users of the machine see while it runs ------------------------------------------------------

def test_the_sampler_sees_a_secret_in_a_command_line_and_in_a_query(admin_dsn):
    needle = "calibration-" + secrets.token_hex(8)
    with Sampler(admin_dsn, {"needle": needle}) as sampler:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)", needle])
        with psycopg.connect(admin_dsn) as conn:
            conn.execute(sql.SQL("select pg_sleep(1), {}").format(sql.Literal(needle)))
        child.wait()
    assert {where for where, _, _ in sampler.hits} >= {"ps", "pg_stat_activity.query"}


def test_no_secret_shows_in_ps_or_pg_stat_activity_during_the_runs(site):
    """The key reaches dbt as PGOPTIONS (`-c halfsky.person_key=<hex>`): an environment variable, read by libpq
    at connect time. Not an argument (ps), not query text (pg_stat_activity), whichever way dbt is run."""
    samplers = site["samplers"]
    assert set(samplers) == {"nightly_load", "build_marts", "pipeline.build_marts"}
    for name, sampler in samplers.items():
        assert sampler.hits == [], name
        assert sampler.samples["ps"] >= 20 and sampler.samples["pg_stat_activity"] >= 20, (name, sampler.samples)
    # The samples saw the builds at work: dbt's own process, and its queries running.
    assert samplers["pipeline.build_marts"].samples["dbt_processes"] > 0
    assert samplers["build_marts"].samples["active_queries"] > 0
    assert samplers["pipeline.build_marts"].samples["active_queries"] > 0


def test_the_analyst_password_never_travels_as_sql_text(site, monkeypatch):
    """ALTER ROLE takes no bound parameter: a password written into it as a literal is in pg_stat_activity while
    it runs, and in the server log whenever statements are logged. It must be sent as a SCRAM verifier."""
    from halfsky.warehouse.analyst_role import ensure_analyst_role

    sent: list[str] = []
    execute = psycopg.Connection.execute

    def spy(self, query, params=None, **kwargs):
        sent.append(query.as_string(self) if isinstance(query, sql.Composable) else str(query))
        return execute(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", spy)
    monkeypatch.setenv("HALFSKY_ANALYST_PASSWORD", site["analyst_password"])
    ensure_analyst_role(site["dsn"])
    assert any("alter role" in q.lower() for q in sent), "the password was set"
    assert [q for q in sent if site["analyst_password"] in q] == []


# --- where credentials come from ----------------------------------------------------------------------------

def test_dbt_profiles_take_every_credential_from_the_environment():
    import yaml

    for path in (REPO_ROOT / "dbt_project").rglob("profiles.yml"):
        for target in yaml.safe_load(path.read_text())["halfsky"]["outputs"].values():
            for field in ("host", "user", "password", "dbname", "port"):
                assert "env_var(" in str(target.get(field, "env_var(")), (path, field)


# --- file modes ----------------------------------------------------------------------------------------------

def _world_accessible(*places: Path) -> list[str]:
    found = []
    for place in places:
        for path in [place, *place.rglob("*")]:
            mode = path.lstat().st_mode
            if not stat.S_ISLNK(mode) and mode & 0o007:
                found.append(f"{oct(mode & 0o777)} {path}")
    return found


def test_quarantined_drops_reports_and_dbt_files_are_not_world_readable(site):
    """Quarantine (the rejected drops' bytes, every report.{html,csv,json}) and dbt's logs and target/, as the run
    left them."""
    reports = list(site["quarantine"].rglob("report.html"))
    assert reports and list(site["quarantine"].rglob("drop"))
    assert _world_accessible(site["quarantine"]) == []
    # halfsky.warehouse.dbt_runner's folder for this warehouse: dbt.log (every statement dbt ran), target/ (compiled SQL,
    # run results, partial-parse state); and the folder above it, which keeps the manifest's folder private too.
    dbt_home = site["halfsky_home"] / "dbt"
    assert (dbt_home / site["db"] / "logs" / "dbt.log").exists()
    assert _world_accessible(dbt_home / site["db"]) == []
    assert dbt_home.stat().st_mode & 0o077 == 0


ENV_FILE_CHILD = r"""
import os, pathlib, sys
home = pathlib.Path(sys.argv[1])
stale = home / "env.sh"
stale.write_text("export OLD=1\n")
stale.chmod(0o644)                      # what an older halfsky left behind
os.umask(0)                             # the loosest umask a user may have
pathlib.Path.chmod = lambda *a, **k: None  # a mode set after the secret is in the file does not count
os.chmod = lambda *a, **k: None
from halfsky.config.private_files import secret
from halfsky_dev import devenv
key = secret(home / "person_hmac_key")
devenv.write_env_file({"HALFSKY_PERSON_HMAC_KEY": key}, stale)
for name in ("person_hmac_key", "env.sh"):
    print(name, oct((home / name).stat().st_mode & 0o777))
"""


def test_env_file_and_person_key_file_are_private_from_their_first_byte(tmp_path):
    run = run_child({**os.environ}, ENV_FILE_CHILD, str(tmp_path))
    assert run.returncode == 0, run.stderr[-3000:]
    assert dict(line.split() for line in run.stdout.splitlines()) == {"person_hmac_key": "0o600", "env.sh": "0o600"}
    assert (tmp_path / "env.sh").read_text().count("HALFSKY_PERSON_HMAC_KEY") == 1


def test_the_checkouts_own_secret_files_and_state_folder_are_private(tmp_path):
    from halfsky_dev.devenv import private_dir, state_dir

    state = state_dir()
    for name in ("env.sh", "person_hmac_key", "analyst_password", "services/jwt_secret", "services/api_secret_key",
                 "services/simple_auth_manager_passwords.json"):
        if (state / name).exists():
            assert (state / name).stat().st_mode & 0o077 == 0, name
    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    assert private_dir(folder).stat().st_mode & 0o777 == 0o700


TASK_LOG_CHILD = r"""
from airflow.sdk.log import init_log_file
path = init_log_file("dag_id=nightly_load/run_id=r/task_id=ingest_prefecture/map_index=0/attempt=1.log")
print(oct(path.stat().st_mode & 0o777), oct(path.parent.stat().st_mode & 0o777))
"""


def test_task_log_files_airflow_writes_are_the_owners_only(tmp_path):
    """The file and folders Airflow's task runner makes for each task's log, under halfsky's Airflow settings."""
    from halfsky_dev.devenv import TELEMETRY_OFF, airflow_env

    home = tmp_path / "airflow"
    env = {**os.environ, **airflow_env(home, f"sqlite:///{home / 'airflow.db'}"), **TELEMETRY_OFF}
    run = run_child(env, TASK_LOG_CHILD)
    assert run.returncode == 0, run.stderr[-3000:]
    file_mode, folder_mode = run.stdout.split()
    assert int(file_mode, 8) & 0o077 == 0 and int(folder_mode, 8) & 0o077 == 0, run.stdout
    assert Path(env["AIRFLOW__COSMOS__CACHE_DIR"]).is_relative_to(home)


def test_what_the_services_write_is_the_owners_only(tmp_path, monkeypatch):
    """`make up` starts the scheduler and its task processes through halfsky_dev.processes: their files (task logs,
    quarantine, dbt's) and the service's own log are made with no access for others."""
    from halfsky_dev import services
    monkeypatch.setenv("HALFSKY_HOME", str(tmp_path))
    procs = services.processes()
    pid = procs.start("probe", [sys.executable, "-c", "open('made.txt', 'w').write('x')"], dict(os.environ),
                      cwd=tmp_path)
    os.waitpid(pid, 0)
    assert (tmp_path / "made.txt").stat().st_mode & 0o077 == 0
    assert procs.log_file("probe").stat().st_mode & 0o077 == 0
