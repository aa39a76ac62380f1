"""The set-up script's Postgres discovery: an explicit DSN, a running server, then a local cluster."""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from halfsky_dev.local_postgres import (
    NoPostgresAvailable, can_connect, ensure_database, ensure_server, find_pg_bin_dir, normalise_dsn,
    stop_local_cluster,
)

CLOSED = "postgresql://postgres@127.0.0.1:1/postgres"


def test_explicit_dsn_wins(admin_dsn, tmp_path):
    server = ensure_server(tmp_path, {"WAREHOUSE_DSN": admin_dsn}, candidates=[CLOSED])
    assert server.how == "explicit" and server.admin_dsn == admin_dsn


def test_explicit_dsn_that_does_not_answer_is_an_error(tmp_path):
    with pytest.raises(NoPostgresAvailable, match="does not answer"):
        ensure_server(tmp_path, {"AIRFLOW_CONN_WAREHOUSE_DB": CLOSED.replace("postgresql", "postgres")})


def test_running_server_is_used_before_starting_one(admin_dsn, tmp_path):
    server = ensure_server(tmp_path, {}, candidates=[CLOSED, admin_dsn])
    assert server.how == "existing" and server.admin_dsn == admin_dsn
    assert not (tmp_path / "pgdata").exists()


def test_airflow_uri_schemes_are_normalised():
    assert normalise_dsn("postgres://u@h/db") == "postgresql://u@h/db"
    assert normalise_dsn("postgresql+psycopg://u@h/db") == "postgresql://u@h/db"


@pytest.fixture
def local_cluster():
    """A project-local cluster started as ensure_server starts one when no server answers; stopped after."""
    bin_dir = find_pg_bin_dir()
    if bin_dir is None:
        pytest.skip("no initdb/pg_ctl on this machine")
    # Not under pytest's 0700 tmp dir: the cluster may run as another account.
    state = Path(tempfile.mkdtemp(prefix="halfsky-pg-"))
    server = ensure_server(state, {}, candidates=[CLOSED], allow_pgserver=False)
    try:
        yield state, server
    finally:
        if can_connect(server.admin_dsn, timeout_s=1):  # a test may have stopped it already
            stop_local_cluster(server.data_dir, bin_dir)


def test_local_cluster_is_started_when_no_server_answers(local_cluster):
    state, server = local_cluster
    assert server.how == "local-cluster"
    assert (state / "pgdata" / "PG_VERSION").exists()
    assert can_connect(ensure_database(server.admin_dsn, "halfsky"))
    # A second call reuses the running cluster rather than making another.
    again = ensure_server(state, {}, candidates=[CLOSED], allow_pgserver=False)
    assert again.admin_dsn == server.admin_dsn


def test_a_stopped_local_cluster_no_longer_answers(local_cluster):
    _, server = local_cluster
    stop_local_cluster(server.data_dir, find_pg_bin_dir())
    assert not can_connect(server.admin_dsn, timeout_s=1)


def test_on_a_local_cluster_the_analyst_logs_in_over_tcp_with_its_password_checked_as_scram(local_cluster, monkeypatch):
    """The project's own cluster trusts only its admin login on loopback: a BI tool's login as
    halfsky_analyst must give HALFSKY_ANALYST_PASSWORD, which the server holds as a SCRAM verifier."""
    import psycopg

    from halfsky.warehouse.analyst_role import ANALYST_ROLE, ensure_analyst_role

    _, server = local_cluster
    password = "analyst-" + "p" * 24
    monkeypatch.setenv("HALFSKY_ANALYST_PASSWORD", password)
    warehouse = ensure_database(server.admin_dsn, "halfsky")
    ensure_analyst_role(warehouse)
    with psycopg.connect(server.admin_dsn) as conn:
        stored = conn.execute("select rolpassword from pg_authid where rolname = %s", (ANALYST_ROLE,)).fetchone()[0]
    assert stored.startswith("SCRAM-SHA-256$") and password not in stored
    host, port = "127.0.0.1", urlsplit(server.admin_dsn).port
    with psycopg.connect(host=host, port=port, dbname="halfsky", user=ANALYST_ROLE, password=password) as conn:
        assert conn.execute("select current_user").fetchone()[0] == ANALYST_ROLE
        assert conn.info.pgconn.used_password
    for wrong in ("not-the-password", None):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(host=host, port=port, dbname="halfsky", user=ANALYST_ROLE, password=wrong, connect_timeout=3)


def test_each_checkout_gets_its_own_databases_and_the_same_ones_on_every_run(admin_dsn, tmp_path, monkeypatch, capsys):
    """Two clones on one server used to share `halfsky` and `halfsky_airflow`: the second's `make demo` rebuilt the
    first's warehouse. The names now carry the checkout's HALFSKY_HOME, however it is spelt."""
    from halfsky_dev.devenv import airflow_db_name, build_env, warehouse_db_name
    from halfsky_dev.local_postgres import drop_database

    first, second = tmp_path / "clone_a" / ".halfsky", tmp_path / "clone_b" / ".halfsky"
    first.mkdir(parents=True)
    (tmp_path / "link_to_a").symlink_to(first.parent, target_is_directory=True)
    assert warehouse_db_name(first) == warehouse_db_name(tmp_path / "link_to_a" / ".halfsky") == warehouse_db_name(first)
    assert warehouse_db_name(first) != warehouse_db_name(second)
    assert airflow_db_name(first) != airflow_db_name(second)
    assert warehouse_db_name(first).startswith("halfsky_") and airflow_db_name(first).startswith("halfsky_airflow_")
    assert airflow_db_name(first).endswith(warehouse_db_name(first).removeprefix("halfsky_"))

    # build_env for real, on the running server (found as devenv finds it, not named to it)
    for name in ("WAREHOUSE_DSN", "AIRFLOW_CONN_WAREHOUSE_DB", "PGPASSWORD"):
        monkeypatch.delenv(name, raising=False)
    server = urlsplit(admin_dsn)
    monkeypatch.setenv("PGHOST", server.hostname or "127.0.0.1")
    monkeypatch.setenv("PGPORT", str(server.port or 5432))
    monkeypatch.setenv("PGUSER", server.username or "postgres")
    made = set()
    try:
        dbs = {}
        for label, home in (("a", first), ("a again", first), ("b", second)):
            monkeypatch.setenv("HALFSKY_HOME", str(home))
            env = build_env("postgres")
            dbs[label] = (urlsplit(env["AIRFLOW_CONN_WAREHOUSE_DB"]).path.lstrip("/"),
                          urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).path.lstrip("/"))
            made.update(dbs[label])
            assert f"this checkout's warehouse is the database {dbs[label][0]}" in capsys.readouterr().err
        assert dbs["a"] == dbs["a again"] == (warehouse_db_name(first), airflow_db_name(first))
        assert dbs["b"] == (warehouse_db_name(second), airflow_db_name(second))
        assert not set(dbs["a"]) & set(dbs["b"])
        for warehouse, metadata in dbs.values():
            assert can_connect(server._replace(path="/" + warehouse).geturl())
            assert can_connect(server._replace(path="/" + metadata).geturl())
    finally:
        for name in made:
            drop_database(admin_dsn, name)
