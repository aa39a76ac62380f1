"""Crash safety, for real: pipeline steps in processes of their own killed with SIGKILL, a Postgres server of
the test's own stopped and started under a running batch, a quarantine that cannot be written.

After each: no partial rows, no drop stuck (a drop is pending, or not registered at all, until a run decides
it), and the next run finishes the work exactly once. The moment to kill is read from outside, as an operator
would see it: Postgres' pg_stat_progress_copy for a COPY, the quarantine folder for the copy of a rejected
drop's bytes, dbt's own fold log for a build. No hook in the product, no mock of the database.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

import hostile_drops as hd
from crash_helpers import (
    big_csv_drop, copy_progress, ingest_args, raw_rows, relation_checksums, sessions_of, start_child,
    submissions_of, wait_for, wait_sessions_gone,
)
from ingest_helpers import AS_OF, ingest_all, make_tree
from halfsky.ingest import runner
from halfsky.ingest.runner import DropsLeftPending, pending_work, process_prefecture
from halfsky_dev.local_postgres import (
    database_dsn, drop_database, ensure_database, find_pg_bin_dir, start_local_cluster, stop_local_cluster,
)
from halfsky.ingest.quarantine import quarantine_dir

BIG = 80_000  # line-list rows: their COPY lasts a second or more, long enough to be caught in the act
KILLED = -signal.SIGKILL


@dataclass
class Server:
    """A Postgres cluster of this module's own (initdb/pg_ctl), so it can be stopped and started."""

    data_dir: Path
    bin_dir: Path
    admin_dsn: str
    dsn: str

    def stop(self) -> None:
        stop_local_cluster(self.data_dir, self.bin_dir)

    def start(self) -> None:
        assert start_local_cluster(self.data_dir, self.bin_dir) == self.admin_dsn  # same port: the DSN still holds

    def port(self) -> int:
        return int(self.admin_dsn.rsplit(":", 1)[1].split("/")[0])


@pytest.fixture(scope="module")
def server():
    from halfsky.warehouse.schema import ensure_schema

    bin_dir = find_pg_bin_dir()
    if bin_dir is None:
        pytest.skip("no initdb/pg_ctl on this machine: these tests stop and start a server of their own")
    # Not under pytest's 0700 tmp dir: the cluster may run as another account (initdb refuses root).
    state = Path(tempfile.mkdtemp(prefix="halfsky-crash-pg-"))
    data_dir = state / "pgdata"
    admin = start_local_cluster(data_dir, bin_dir)
    srv = Server(data_dir, bin_dir, admin, ensure_database(admin, "halfsky"))
    ensure_schema(srv.dsn)
    yield srv
    try:
        srv.stop()
    finally:
        shutil.rmtree(state, ignore_errors=True)


def _connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True)


def _due(dsn: str, landing: Path) -> list[str]:
    work, _ = pending_work(dsn, str(landing), AS_OF)
    return sorted(p for batch in work for p in batch["paths"])


def _rel(prefecture: str, period: str, name: str) -> str:
    return f"{prefecture}/{period}/{name}"


# Each test has a period of its own: drops of one prefecture-period would supersede each other across tests.
def _valid(landing: Path, prefecture: str, period: str, name: str) -> str:
    """A small valid JSON drop (one row per monthly form), its bytes its own; returns its path."""
    hd.write_json(landing, prefecture, period, name, hd.valid_doc(prefecture, period, counterparty=f"{name} 慈善总会"))
    return _rel(prefecture, period, name)


def _bad(landing: Path, prefecture: str, period: str, name: str) -> str:
    """A small drop rejected for a program code that is on no code list."""
    doc = hd.valid_doc(prefecture, period, counterparty=f"{name} 慈善总会")
    doc["forms"]["activity"][0]["program_code"] = "NO_SUCH_PROGRAM"
    hd.write_json(landing, prefecture, period, name, doc)
    return _rel(prefecture, period, name)


def _wait_copy(dsn: str, child, table: str = "raw.beneficiaries") -> int:
    """Wait until the child's COPY into ``table`` has written rows (uncommitted); returns how many so far."""
    with _connect(dsn) as conn:
        return wait_for(f"the child's COPY into {table} to have written rows",
                        lambda: copy_progress(conn, child.tag, table), child)


def _assert_loaded_once(conn: psycopg.Connection, rel: str, counts: dict[str, int]) -> int:
    [(sid, status, qpath)] = submissions_of(conn, rel)
    assert (status, qpath) == ("accepted", None)
    rows = raw_rows(conn, sid)
    assert {f: rows[f] for f in counts} == counts and sum(rows.values()) == sum(counts.values())
    return sid


def _assert_pending_and_empty(conn: psycopg.Connection, rel: str) -> int:
    [(sid, status, qpath)] = submissions_of(conn, rel)
    assert (status, qpath) == ("pending", None)
    assert sum(raw_rows(conn, sid).values()) == 0
    assert conn.execute("select count(*) from ingest.drop_findings where submission_id = %s", (sid,)).fetchone()[0] == 0
    return sid


def _small_counts() -> dict[str, int]:
    return {"activity": 1, "funds": 1, "beneficiaries": 1}


def _assert_quarantined_whole(source: Path, folder: Path) -> None:
    """The drop's bytes, file for file, beside a report: what a clean rejection leaves."""
    quarantined = folder / "drop" / source.name
    if source.is_dir():
        files = sorted(p.name for p in source.iterdir())
        assert sorted(p.name for p in quarantined.iterdir()) == files
        for name in files:
            assert filecmp.cmp(source / name, quarantined / name, shallow=False), name
    else:
        assert quarantined.read_bytes() == source.read_bytes()
    assert {"report.json", "report.html", "report.csv"} <= {p.name for p in folder.iterdir()}


# ---------------------------------------------------------------- SIGKILL during COPY

def test_sigkill_during_copy_leaves_no_rows_and_the_next_run_loads_the_drop_once(server, tmp_path):
    landing, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    counts = big_csv_drop(landing, "150100", "2026-09", "150100_2026-09_v1", BIG)
    rel = _rel("150100", "2026-09", "150100_2026-09_v1")

    child = start_child(ingest_args(server.dsn, landing, quarantine, AS_OF, [rel]))
    copied = _wait_copy(server.dsn, child)
    child.kill()
    assert child.wait() == KILLED
    assert 0 < copied < BIG, "killed in the middle of the line list's COPY"
    wait_sessions_gone(server.dsn, child.tag)

    with _connect(server.dsn) as conn:
        # activity and funds were COPY'd before the line list, in the same transaction: none of it stayed.
        sid = _assert_pending_and_empty(conn, rel)
    assert _due(server.dsn, landing) == [rel]

    assert process_prefecture(server.dsn, str(landing), str(quarantine), [rel], as_of=AS_OF) == {"accepted": 1}
    with _connect(server.dsn) as conn:
        assert _assert_loaded_once(conn, rel, counts) == sid  # the same submission, decided now
    assert _due(server.dsn, landing) == []


# ---------------------------------------------------------------- SIGKILL during the quarantine copy

def test_sigkill_during_the_quarantine_copy_leaves_the_drop_pending_and_the_next_run_rejects_it_once(server, tmp_path):
    landing, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    period, name, scan = "2026-08", "654000_2026-08_v1", "盖章扫描件.pdf"
    # Rejected for one row's id number; the 64 MiB scan beside the CSVs makes the quarantine copy last a while.
    big_csv_drop(landing, "654000", period, name, 2_000, bad_id_row=1_000, attachment=(scan, 64 << 20))
    rel = _rel("654000", period, name)
    source = landing / rel

    child = start_child(ingest_args(server.dsn, landing, quarantine, AS_OF, [rel]))
    with _connect(server.dsn) as conn:
        sid = wait_for("the drop to be registered", lambda: (submissions_of(conn, rel) or [[None]])[0][0], child)
    folder = Path(quarantine_dir(str(quarantine), "654000", period, sid))
    copying = folder / "drop" / name / scan  # copied last, after the CSVs
    # The moment the scan's copy has begun, freeze the child, see the file half-written, then SIGKILL it.
    deadline = time.monotonic() + 120
    while not copying.exists():
        assert child.alive() and time.monotonic() < deadline, "the child ended before copying the drop to quarantine"
        time.sleep(0.0005)
    os.killpg(child.pid, signal.SIGSTOP)
    written = copying.stat().st_size
    child.kill()
    assert child.wait() == KILLED
    assert written < (source / scan).stat().st_size, "killed in the middle of the copy"
    wait_sessions_gone(server.dsn, child.tag)

    # Half a drop in quarantine, no report, nothing recorded: the drop is pending, and its folder harmless.
    assert not (folder / "report.json").exists()
    with _connect(server.dsn) as conn:
        _assert_pending_and_empty(conn, rel)
    assert _due(server.dsn, landing) == [rel]

    assert process_prefecture(server.dsn, str(landing), str(quarantine), [rel], as_of=AS_OF) == {"rejected": 1}
    with _connect(server.dsn) as conn:
        assert submissions_of(conn, rel) == [(sid, "rejected", str(folder))]
        assert sum(raw_rows(conn, sid).values()) == 0
        rules = conn.execute("select rule, count(*) from ingest.drop_findings where submission_id = %s and severity = 'error' "
                             "group by rule", (sid,)).fetchall()
    assert rules == [("id_number_check", 1)]
    _assert_quarantined_whole(source, folder)
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert report["status"] == "rejected"
    assert [p.name for p in folder.parent.iterdir()] == [str(sid)]  # one decision, one folder
    assert _due(server.dsn, landing) == []


# ---------------------------------------------------------------- Postgres restarts

def test_postgres_down_between_runs_is_a_clear_error_and_the_next_run_finishes_once(server, tmp_path, monkeypatch):
    landing, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    rel1 = _valid(landing, "150200", "2026-07", "first.json")
    assert process_prefecture(server.dsn, str(landing), str(quarantine), [rel1], as_of=AS_OF) == {"accepted": 1}
    rel2 = _valid(landing, "371500", "2026-07", "second.json")

    server.stop()
    try:
        # Listing the night's drops waits for the warehouse too, then fails saying where it looked.
        monkeypatch.setattr(runner, "RECONNECT_DELAYS", (0.1, 0.2))
        with pytest.raises(DropsLeftPending, match="cannot be reached") as down:
            pending_work(server.dsn, str(landing), AS_OF)
        message = str(down.value)
        assert "127.0.0.1" in message and str(server.port()) in message and "refused" in message
        # A batch handed out before the server went away waits for it, then fails saying so.
        with pytest.raises(DropsLeftPending, match="cannot be reached.*stays pending"):
            process_prefecture(server.dsn, str(landing), str(quarantine), [rel2], as_of=AS_OF)
    finally:
        server.start()

    assert _due(server.dsn, landing) == [rel2]
    assert process_prefecture(server.dsn, str(landing), str(quarantine), [rel2], as_of=AS_OF) == {"accepted": 1}
    with _connect(server.dsn) as conn:
        _assert_loaded_once(conn, rel1, _small_counts())
        _assert_loaded_once(conn, rel2, _small_counts())
    assert _due(server.dsn, landing) == []


def test_postgres_restart_during_a_batch_retries_the_interrupted_drop_and_never_a_bad_one(server, tmp_path):
    landing, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    period = "2026-06"
    small = _valid(landing, "150600", period, "150600_small.json")
    counts = big_csv_drop(landing, "330800", period, "330800_big", BIG)
    big = _rel("330800", period, "330800_big")
    bad = _bad(landing, "360900", period, "360900_bad.json")
    # The batch's order: 150600 small (decided before the restart), 330800 big (its COPY cut by the restart),
    # 360900 bad (judged on the new connection: rejected once, never taken for a warehouse failure).
    child = start_child(ingest_args(server.dsn, landing, quarantine, AS_OF, [bad, big, small]))
    _wait_copy(server.dsn, child)
    server.stop()  # -m fast: every session is terminated, its transaction rolled back
    server.start()
    rc = child.wait(timeout=180)
    assert rc == 0, child.stderr[-4000:]
    assert child.result() == {"rejected": 1, "accepted": 2}

    log = _records(child.stderr)
    retried = [r for r in log if r.startswith(f"WARNING halfsky.ingest.runner: {big}: the warehouse failed")]
    assert retried and "trying the drop again" in retried[0], child.stderr[-4000:]
    assert not [r for r in log if bad in r and "again" in r], "a bad drop is never retried"
    assert len([r for r in log if "REJECTED" in r and bad in r]) == 1
    with _connect(server.dsn) as conn:
        _assert_loaded_once(conn, big, counts)
        _assert_loaded_once(conn, small, _small_counts())
        [(sid, status, qpath)] = submissions_of(conn, bad)
        assert status == "rejected" and sum(raw_rows(conn, sid).values()) == 0
    assert [p.name for p in Path(qpath).parent.iterdir()] == [str(sid)]
    _assert_quarantined_whole(landing / bad, Path(qpath))
    assert _due(server.dsn, landing) == []


def _records(log: str) -> list[str]:
    """The child's log, one record per entry (a message may span lines)."""
    return re.split(r"\n(?=(?:DEBUG|INFO|WARNING|ERROR|CRITICAL) )", log)


def test_postgres_that_stays_down_fails_the_batch_naming_the_pending_drops_and_the_retry_loads_them_once(server, tmp_path):
    landing, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    period = "2026-05"
    first = _valid(landing, "360900", period, "360900_a.json")
    counts = big_csv_drop(landing, "420200", period, "420200_big", BIG)
    big = _rel("420200", period, "420200_big")
    last = _valid(landing, "130900", period, "130900_c.json")
    paths = sorted([first, big, last], key=lambda p: p.split("/"))  # the batch's own order: 130900, 360900, 420200
    assert paths == [last, first, big]
    extra = _valid(landing, "654000", period, "654000_z.json")
    paths.append(extra)  # after the big one: never reached while the server is down

    child = start_child(ingest_args(server.dsn, landing, quarantine, AS_OF, paths),
                        env={"CRASH_RECONNECT_DELAYS": "0.2,0.4"})  # not sum(runner.RECONNECT_DELAYS) s per drop
    _wait_copy(server.dsn, child)
    server.stop()
    try:
        rc = child.wait(timeout=120)
    finally:
        server.start()
    assert rc == 3, child.stderr[-4000:]
    failure = next(line for line in child.stderr.splitlines() if line.startswith("DropsLeftPending"))
    assert "2 drop(s) stay pending" in failure and big in failure and extra in failure, failure

    with _connect(server.dsn) as conn:
        _assert_loaded_once(conn, last, _small_counts())
        _assert_loaded_once(conn, first, _small_counts())
        _assert_pending_and_empty(conn, big)
        never_reached = submissions_of(conn, extra)  # not registered, or registered and still pending
        assert [r[1] for r in never_reached] in ([], ["pending"])
        assert not never_reached or sum(raw_rows(conn, never_reached[0][0]).values()) == 0
    assert _due(server.dsn, landing) == [big, extra]
    assert process_prefecture(server.dsn, str(landing), str(quarantine), [big, extra], as_of=AS_OF) == {"accepted": 2}
    with _connect(server.dsn) as conn:
        _assert_loaded_once(conn, big, counts)
        _assert_loaded_once(conn, extra, _small_counts())
    assert _due(server.dsn, landing) == []


# ---------------------------------------------------------------- a quarantine that cannot take the drop

def _starved_quarantine_run(server, tmp_path, period: str, prefecture: str, bad_name: str, good_prefecture: str, *,
                            file_size_limit: int | None = None, read_only_root: bool = False):
    """A bad drop and a good one in one batch, run by a child the quarantine refuses; returns what to check."""
    landing, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    bad_rows = big_csv_drop(landing, prefecture, period, bad_name, 5_000, bad_id_row=7)
    bad = _rel(prefecture, period, bad_name)
    good = _valid(landing, good_prefecture, period, f"{good_prefecture}_ok.json")
    quarantine.mkdir()
    if read_only_root:
        quarantine.chmod(0o500)
    child = start_child(ingest_args(server.dsn, landing, quarantine, AS_OF, [bad, good]),
                        file_size_limit=file_size_limit, drop_dac_override=read_only_root)
    rc = child.wait(timeout=120)
    return landing, quarantine, bad, good, rc, child.stderr, bad_rows


def _assert_kept_pending_and_said_so(server, landing, bad, good, rc, log, reason):
    assert rc == 3, log[-4000:]
    # The batch went on: the good drop is loaded; the bad one is pending, named, with the store's own error.
    failure = next(line for line in log.splitlines() if line.startswith("DropsLeftPending"))
    assert "1 drop(s) stay pending" in failure and bad in failure and good not in failure, failure
    said = [line for line in log.splitlines() if bad in line and "stays pending" in line]
    assert said and reason in said[0], log[-4000:]
    with _connect(server.dsn) as conn:
        _assert_pending_and_empty(conn, bad)
        _assert_loaded_once(conn, good, _small_counts())
    assert _due(server.dsn, landing) == [bad]


def _assert_next_run_rejects_once(server, landing, quarantine, bad):
    assert process_prefecture(server.dsn, str(landing), str(quarantine), [bad], as_of=AS_OF) == {"rejected": 1}
    with _connect(server.dsn) as conn:
        [(sid, status, qpath)] = submissions_of(conn, bad)
        assert status == "rejected" and sum(raw_rows(conn, sid).values()) == 0
    assert [p.name for p in Path(qpath).parent.iterdir()] == [str(sid)]
    _assert_quarantined_whole(landing / bad, Path(qpath))
    assert _due(server.dsn, landing) == []


def test_an_unwritable_quarantine_keeps_the_drop_pending_and_says_so(server, tmp_path):
    landing, quarantine, bad, good, rc, log, _ = _starved_quarantine_run(
        server, tmp_path, "2026-04", "150100", "150100_unwritable", "152500", read_only_root=True)
    _assert_kept_pending_and_said_so(server, landing, bad, good, rc, log, "Permission denied")
    assert list(quarantine.iterdir()) == []  # nothing could be written, nothing was
    quarantine.chmod(0o700)  # the admin fixes the permissions
    _assert_next_run_rejects_once(server, landing, quarantine, bad)


def test_a_full_quarantine_keeps_the_drop_pending_and_says_so(server, tmp_path):
    # RLIMIT_FSIZE stands in for a full disk without root: a write past 256 KiB fails (EFBIG, as ENOSPC would)
    # part way through the 440 kB line list.
    limit = 256 * 1024
    landing, quarantine, bad, good, rc, log, _ = _starved_quarantine_run(
        server, tmp_path, "2026-03", "150200", "150200_full", "371500", file_size_limit=limit)
    _assert_kept_pending_and_said_so(server, landing, bad, good, rc, log, "File too large")
    partial = list(quarantine.rglob("beneficiaries.csv"))
    assert len(partial) == 1 and partial[0].stat().st_size == limit  # cut off where the space ran out
    _assert_next_run_rejects_once(server, landing, quarantine, bad)


# ---------------------------------------------------------------- SIGKILL during the dbt build

FOLDED_MODELS = 10  # macros/incremental_facts.sql folded_models()


def _clone(admin_dsn: str, template_dsn: str, name: str) -> str:
    """CREATE DATABASE ... TEMPLATE: a copy of a warehouse, dimensions and all, in seconds."""
    template = template_dsn.rsplit("/", 1)[1]
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for attempt in range(50):  # a session that just closed may linger a moment
            try:
                conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(template)))
                break
            except psycopg.errors.ObjectInUse:
                time.sleep(0.2)
        else:
            raise AssertionError(f"{template} stays in use: {sessions_of(template_dsn)}")
    return database_dsn(admin_dsn, name)


def _folded(conn: psycopg.Connection, submission_ids: list[int]) -> int:
    """How many incremental models hold the new drops already (each writes its fold-log lines as it commits)."""
    if conn.execute("select to_regclass('intermediate.int_fold_log')").fetchone()[0] is None:
        return 0
    return conn.execute("select count(distinct model) from intermediate.int_fold_log where submission_id = any(%s)",
                        (submission_ids,)).fetchone()[0]


def _state(dsn: str) -> dict[str, dict[str, str]]:
    return {schema: relation_checksums(dsn, schema) for schema in ("marts", "intermediate")}


def test_sigkill_during_the_dbt_build_and_the_next_build_gives_the_marts_of_an_uninterrupted_one(
        dimensions, admin_dsn, tmp_path):
    from halfsky.orchestration.pipeline import build_marts

    tag = uuid.uuid4().hex[:8]
    killed_db, clean_db = f"halfsky_crash_dbt_{tag}", f"halfsky_crash_ref_{tag}"
    try:
        killed = _clone(admin_dsn, dimensions, killed_db)
        root, _ = make_tree(tmp_path, "--prefectures", "2", "--months", "2", "--rows", "20", "--seed", "5")
        run = ingest_all(killed, root, tmp_path / "quarantine")
        assert all(not o.get("rejected") for o in run["outcomes"].values()), run
        with _connect(killed) as conn:
            new = [r[0] for r in conn.execute("select submission_id from ingest.submissions where status = 'accepted' "
                                              "and drop_path = any(%s)", ([p for b in run["work"] for p in b["paths"]],))]
        clean = _clone(admin_dsn, killed, clean_db)  # the same raw, for a build nobody interrupts
        # Both builds at once (dbt waits on Postgres a good deal): one to kill, one to compare with.
        uninterrupted = start_child(["marts", clean, AS_OF.isoformat()])
        child = start_child(["marts", killed, AS_OF.isoformat()])
        try:
            with _connect(killed) as watch:
                folded = wait_for("dbt to fold the new drops into some incremental models, not yet all",
                                  lambda: 0 < (n := _folded(watch, new)) < FOLDED_MODELS and n, child, timeout=400,
                                  interval=0.05)
                at_kill = sessions_of(killed)
                child.kill()  # the Python process and dbt under it
            assert child.wait() == KILLED
            assert uninterrupted.wait(timeout=400) == 0, uninterrupted.stderr[-4000:]
        finally:
            child.kill()
            uninterrupted.kill()
        reference = _state(clean)
        assert at_kill, "dbt was at work in the warehouse when it was killed"
        wait_sessions_gone(killed, timeout=180)
        with _connect(killed) as conn:
            assert 0 < _folded(conn, new) < FOLDED_MODELS, f"the kill left the build half done ({folded} models folded)"
        assert _state(killed) != reference

        build_marts(AS_OF, killed)
        with _connect(killed) as conn:
            assert _folded(conn, new) == FOLDED_MODELS
        after = _state(killed)
        for schema, tables in reference.items():
            differing = {t: (after[schema].get(t), tables.get(t)) for t in after[schema].keys() | tables.keys()
                         if after[schema].get(t) != tables.get(t)}
            assert not differing, f"{schema} after a killed build and a retry differs from an uninterrupted build: {differing}"
    finally:
        for name in (killed_db, clean_db):
            drop_database(admin_dsn, name)
            shutil.rmtree(Path(os.environ.get("HALFSKY_HOME", ".halfsky")) / "dbt" / name, ignore_errors=True)
