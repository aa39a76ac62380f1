"""Helpers for tests/test_crash_safety.py: big drops, a pipeline step in a child process to kill, and
what a test watches for before it kills (Postgres' own progress views, files appearing in quarantine).

Nothing here reaches into the product: the child runs halfsky's own functions (tests/crash_child.py),
and the moment to kill is read from outside, as an operator would see it.
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Callable

import polars as pl
import psycopg

from halfsky.contract.forms import FORMS
from halfsky.contract.id_numbers import CHECK_CHARS, CHECK_WEIGHTS, is_valid

CHILD = str(Path(__file__).with_name("crash_child.py"))
SEED = 2026
# On time for a 2026-09 drop (monthly drops are due by the 10th of the next month).
ARRIVED = datetime.fromisoformat("2026-10-05T10:00:00+08:00")


# ---------------------------------------------------------------- drops

def big_csv_drop(root: Path, prefecture: str, period: str, name: str, beneficiaries: int, *,
                 bad_id_row: int | None = None, attachment: tuple[str, int] | None = None,
                 template_rows: int = 200) -> dict[str, int]:
    """A valid CSV folder drop with ``beneficiaries`` line-list rows; returns rows per form.

    The sample generator writes a small real drop (activity, funds, line list); its line list is then
    repeated with new, valid, distinct id numbers (same home region, birth date moved by whole days,
    same gender digit), which takes a second where the generator would take a minute.
    ``bad_id_row`` (1-based data row) gets a wrong check digit: the drop is then rejected for id_number_check.
    ``attachment`` (name, bytes): a file that is no form beside the CSVs, as a scan of the signed report would be;
    the reader ignores it (an ``unknown_file`` warning) and quarantine keeps it with the rest.
    """
    from halfsky.contract.forms import MONTHLY_FORMS
    from halfsky_dev.sample.content import ReportContent
    from halfsky_dev.sample.generator import set_received
    from halfsky_dev.sample.writers import WRITERS, Style

    target = root / prefecture / period / name
    target.parent.mkdir(parents=True, exist_ok=True)
    content = ReportContent(SEED, prefecture, period, template_rows)
    WRITERS["csv"](target, content, MONTHLY_FORMS, Style(), lambda form, row: None, random.Random(f"{SEED}/{name}"))
    template = pl.read_csv(target / "beneficiaries.csv", infer_schema_length=0)
    n = template.height
    rows = template[[i % n for i in range(beneficiaries)]].with_columns(variant=pl.int_range(pl.len()) // n)
    born = (pl.col("id_number").str.slice(6, 8).str.strptime(pl.Date, "%Y%m%d")
            + pl.duration(days=pl.col("variant") // 100)).dt.strftime("%Y%m%d")
    rows = rows.with_columns(first17=pl.concat_str(pl.col("id_number").str.slice(0, 6), born,
                                                   (pl.col("variant") % 100).cast(pl.String).str.zfill(2),
                                                   pl.col("id_number").str.slice(16, 1)))
    total = pl.sum_horizontal(pl.col("first17").str.slice(k, 1).cast(pl.Int64) * w for k, w in enumerate(CHECK_WEIGHTS))
    rows = rows.with_columns(id_number=pl.concat_str("first17", pl.lit(list(CHECK_CHARS)).list.get(total % 11)))
    ids = rows["id_number"].to_list()
    assert all(is_valid(i) for i in ids[:1000])
    rows = rows.drop("variant", "first17")
    if bad_id_row is not None:
        good = ids[bad_id_row - 1]
        ids[bad_id_row - 1] = good[:17] + ("0" if good[17] != "0" else "1")
    rows = rows.with_columns(pl.Series("id_number", ids))
    rows.write_csv(target / "beneficiaries.csv")
    if attachment:
        name, size = attachment
        with open(target / name, "wb") as fh:
            block = b"%PDF-1.4\n" + os.urandom((1 << 20) - 9)
            for _ in range(size >> 20):
                fh.write(block)
    set_received(target, ARRIVED)
    counts = {form: sum(1 for _ in open(target / f"{form}.csv", encoding="utf-8")) - 1
              for form in ("activity", "funds", "beneficiaries")}
    assert counts["beneficiaries"] == beneficiaries
    return counts


# ---------------------------------------------------------------- the child

@dataclass
class Child:
    """A pipeline step running in its own process group; ``tag`` is its Postgres application_name.
    Its output goes to files, not pipes, so a chatty child (dbt's log) never blocks on a full pipe."""

    proc: subprocess.Popen
    tag: str
    out: IO[str]
    err: IO[str]
    stdout: str = ""
    stderr: str = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: the Python process and anything it started (dbt)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float = 120) -> int:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()
            self._read()
            raise AssertionError(f"the child did not finish in {timeout} s:\n{self.stderr[-4000:]}")
        self._read()
        return self.proc.returncode

    def _read(self) -> None:
        for stream, attr in ((self.out, "stdout"), (self.err, "stderr")):
            stream.seek(0)
            setattr(self, attr, stream.read())

    def result(self) -> dict:
        return json.loads(self.stdout.strip().splitlines()[-1])


def start_child(args: list[str], *, env: dict[str, str] | None = None, file_size_limit: int | None = None,
                drop_dac_override: bool = False) -> Child:
    """``python tests/crash_child.py <args>`` in a new session (so killpg reaches dbt too).

    ``file_size_limit`` sets RLIMIT_FSIZE (a write past it fails with EFBIG, as on a full disk);
    ``drop_dac_override`` takes CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH out of a root child's bounding set, so
    file modes bind it as they bind the pipeline's own unprivileged account.
    """
    tag = f"crash-{uuid.uuid4().hex[:10]}"
    child_env = {**os.environ, **(env or {}), "PGAPPNAME": tag, "PYTHONUNBUFFERED": "1"}

    def limits() -> None:
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
        if drop_dac_override and os.geteuid() == 0:
            libc = ctypes.CDLL(None, use_errno=True)
            for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
                if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                    raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    # (RLIMIT_FSIZE binds these files too: an ingest child's log stays far below any limit a test sets.)
    out, err = tempfile.TemporaryFile("w+", encoding="utf-8"), tempfile.TemporaryFile("w+", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, CHILD, *args], env=child_env, stdout=out, stderr=err, text=True,
                            start_new_session=True,
                            preexec_fn=limits if (file_size_limit is not None or drop_dac_override) else None)
    return Child(proc, tag, out, err)


def ingest_args(dsn: str, landing: Path, quarantine: Path, as_of: datetime, paths: list[str]) -> list[str]:
    return ["ingest", dsn, str(landing), str(quarantine), as_of.isoformat(), *paths]


def wait_for(what: str, check: Callable[[], object], child: Child | None = None, timeout: float = 90,
             interval: float = 0.02):
    """Poll ``check`` until it returns something truthy; fail if the child ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if child is not None and not child.alive():
            child.wait()
            raise AssertionError(f"the child ended (exit {child.proc.returncode}) before {what}:\n{child.stderr[-4000:]}")
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# ---------------------------------------------------------------- what Postgres shows

def copy_progress(conn: psycopg.Connection, tag: str, table: str) -> int:
    """Rows the child's COPY into ``table`` has written so far (uncommitted), 0 when it is not copying."""
    row = conn.execute(
        """select p.tuples_processed from pg_stat_progress_copy p join pg_stat_activity a using (pid)
           where a.application_name = %s and p.relid = %s::regclass and p.command = 'COPY FROM'""",
        (tag, table)).fetchone()
    return row[0] if row else 0


def sessions_of(dsn: str, tag: str | None = None) -> list[tuple]:
    """Backends still connected to the database of ``dsn`` (only the child's when ``tag`` is given), but ours."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            """select pid, application_name, state, left(query, 80) from pg_stat_activity
               where datname = current_database() and pid <> pg_backend_pid()
                 and (%s::text is null or application_name = %s)""", (tag, tag)).fetchall()


def wait_sessions_gone(dsn: str, tag: str | None = None, timeout: float = 60) -> None:
    """A killed client's backends end when they next read its socket (or finish the statement they run)."""
    wait_for("the killed child's backends to end", lambda: not sessions_of(dsn, tag), timeout=timeout, interval=0.1)


def raw_rows(conn: psycopg.Connection, submission_id: int) -> dict[str, int]:
    return {name: conn.execute(f"select count(*) from raw.{name} where submission_id = %s", (submission_id,)).fetchone()[0]
            for name in FORMS}


def submissions_of(conn: psycopg.Connection, drop_path: str) -> list[tuple]:
    return conn.execute("select submission_id, status, quarantine_path from ingest.submissions where drop_path = %s",
                        (drop_path,)).fetchall()


def relation_checksums(dsn: str, schema: str) -> dict[str, str]:
    """md5 of every table's rows in ``schema``, ordered by their text: equal iff the contents are.
    (Views are left out: they are queries over these tables, and some need the person key to be read.)"""
    with psycopg.connect(dsn, autocommit=True) as conn:
        names = [r[0] for r in conn.execute(
            """select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = %s and c.relkind in ('r', 'p', 'm') order by 1""", (schema,))]
        out = {}
        for name in names:
            out[name] = conn.execute(
                f'select count(*) || \':\' || md5(coalesce(string_agg(t::text, E\'\\n\' order by t::text), \'\')) '
                f'from "{schema}"."{name}" as t').fetchone()[0]
        return out
