"""Ingest against a real warehouse: every reject rule, every warning, resubmission, duplicates, replay."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from ingest_helpers import AS_OF, ingest_all, make_tree
from halfsky_dev.sample.generator import INVALID_KINDS


@pytest.fixture(scope="module")
def mixed(fresh_database, tmp_path_factory):
    """3 prefectures x 2 months of dirty-but-valid drops, a resubmission, a duplicate, warnings, and every invalid kind.

    In a warehouse of its own: the worker's shared one may already hold a later version of one of these
    prefecture-periods from another module, which would supersede this tree's drop."""
    base = tmp_path_factory.mktemp("mixed")
    root, truth = make_tree(base, "--prefectures", "3", "--months", "2", "--first-period", "2026-08", "--rows", "15", "--dirty", "--invalid", "all",
                            "--resubmissions", "1", "--duplicates", "1", "--with-warnings", "--seed", "7")
    quarantine = base / "quarantine"
    with fresh_database("ingest", schema=True) as dsn:
        run = ingest_all(dsn, root, quarantine)
        with psycopg.connect(dsn) as conn:
            rows = conn.execute(
                "select submission_id, drop_path, status, reasons, quarantine_path, is_late from ingest.submissions "
                "where drop_path = any(%s)", ([d["path"] for d in truth["drops"]],)).fetchall()
        log = {r[1]: {"id": r[0], "status": r[2], "reasons": r[3], "quarantine": r[4], "late": r[5]} for r in rows}
        yield {"root": root, "truth": truth, "quarantine": quarantine, "run": run, "log": log, "dsn": dsn}


def _rules(entry, severity):
    return {r["rule"] for r in entry["reasons"] if r["severity"] == severity}


def test_every_drop_gets_exactly_the_expected_status(mixed):
    expected = {d["path"]: d["expected_status"] for d in mixed["truth"]["drops"]}
    assert {path: entry["status"] for path, entry in mixed["log"].items()} == expected


@pytest.mark.parametrize("kind", INVALID_KINDS)
def test_each_invalid_drop_is_rejected_for_its_own_rule_with_nothing_in_raw(mixed, kind):
    drop = next(d for d in mixed["truth"]["drops"] if d["expected_rule"] == kind)
    entry = mixed["log"][drop["path"]]
    assert entry["status"] == "rejected"
    assert _rules(entry, "error") == {kind}
    with psycopg.connect(mixed["dsn"]) as conn:
        for table in ("activity", "funds", "beneficiaries"):
            assert conn.execute(f"select count(*) from raw.{table} where submission_id = %s", (entry["id"],)).fetchone()[0] == 0
        findings = conn.execute("select rule, form, row_number, field from ingest.drop_findings where submission_id = %s",
                                (entry["id"],)).fetchall()
    assert {f[0] for f in findings} >= {kind}
    if kind in ("required", "type", "min_value", "code_list", "id_number_check", "date_outside_period"):
        assert any(f[2] is not None and f[3] for f in findings if f[0] == kind), "a row rule names its row and field"
    # The drop sits byte for byte in quarantine beside its report.
    quarantined = Path(entry["quarantine"]) / "drop" / Path(drop["path"]).name
    original = mixed["root"] / drop["path"]
    if original.is_dir():
        assert not filecmp.dircmp(original, quarantined).diff_files and quarantined.is_dir()
    else:
        assert quarantined.read_bytes() == original.read_bytes()
    report = json.loads((Path(entry["quarantine"]) / "report.json").read_text(encoding="utf-8"))
    assert report["status"] == "rejected" and any(f["rule"] == kind for f in report["findings"])
    html = (Path(entry["quarantine"]) / "report.html").read_text(encoding="utf-8")
    assert "退回" in html and "Rejected" in html


def test_dirty_but_valid_drops_load_to_the_fen(mixed):
    truth = mixed["truth"]
    with psycopg.connect(mixed["dsn"]) as conn:
        rows = conn.execute(
            """select s.prefecture_code, s.period, f.program_code, f.flow_type, sum(f.amount_yuan), count(*)
               from raw.funds f join ingest.submissions s using (submission_id)
               where s.status = 'accepted' and s.drop_path = any(%s)
               group by 1, 2, 3, 4""", (truth["newest_drops"],)).fetchall()
        persons = conn.execute(
            """select count(distinct upper(b.id_number)) from raw.beneficiaries b join ingest.submissions s using (submission_id)
               where s.status = 'accepted' and s.drop_path = any(%s)""", (truth["newest_drops"],)).fetchone()[0]
    loaded = {(r[0], r[1], r[2], r[3]): (r[4], r[5]) for r in rows}
    expected = {(t["prefecture_code"], t["period"], t["program_code"], t["flow_type"]): (Decimal(t["amount_yuan"]), t["rows"])
                for t in truth["totals"]["funds"]}
    assert loaded == expected
    assert persons == truth["distinct_persons"]


def test_warnings_are_raised_but_the_drop_is_accepted(mixed):
    for drop in mixed["truth"]["drops"]:
        entry = mixed["log"][drop["path"]]
        if drop["expected_status"] in ("accepted", "superseded"):
            assert _rules(entry, "warning") - {"unknown_column"} == set(drop["expected_warnings"]), drop["path"]
            assert entry["late"] == ("late_drop" in drop["expected_warnings"])
    assert any("duplicate_cash_benefit" in d["expected_warnings"] for d in mixed["truth"]["drops"])
    assert any("late_drop" in d["expected_warnings"] for d in mixed["truth"]["drops"])


def test_duplicate_points_at_the_original_and_a_rerun_processes_nothing(mixed):
    with psycopg.connect(mixed["dsn"]) as conn:
        dup = conn.execute(
            """select d.drop_path, o.drop_path from ingest.submissions d join ingest.submissions o on o.submission_id = d.duplicate_of
               where d.status = 'duplicate' and d.drop_path = any(%s)""", (list(mixed["log"]),)).fetchall()
    assert len(dup) == 1 and dup[0][0].replace("_copy", "") == dup[0][1]
    again = ingest_all(mixed["dsn"], mixed["root"], mixed["quarantine"])
    assert again["work"] == [] and again["skipped"]["already_processed"] == len(mixed["truth"]["drops"])


def test_resubmission_supersedes_and_replaces_the_period(mixed, tmp_path):
    """A newer drop for a period replaces the older one, whichever run sees it."""
    root = mixed["root"]
    newest = next(p for p in mixed["truth"]["newest_drops"] if p.endswith(".json"))
    prefecture, period, name = newest.split("/")
    target = root / prefecture / period / ("zz_resent_" + name)
    # Different bytes (else it would be a duplicate), the same report.
    target.write_bytes((root / newest).read_bytes() + b"\n")
    later = AS_OF.replace(day=22)
    early = ingest_all(mixed["dsn"], root, mixed["quarantine"], as_of=later)  # it arrived today: not yet
    assert early["skipped"]["arrived_after_interval"] == 1 and early["work"] == []
    os.utime(target, (later.timestamp() - 3600,) * 2)
    ingest_all(mixed["dsn"], root, mixed["quarantine"], as_of=later)
    with psycopg.connect(mixed["dsn"]) as conn:
        statuses = dict(conn.execute("select drop_path, status from ingest.submissions where drop_path in (%s, %s)",
                                     (newest, str(target.relative_to(root)))).fetchall())
    assert statuses == {newest: "superseded", str(target.relative_to(root)): "accepted"}


def test_replay_after_a_reference_fix_accepts_the_drop(mixed, tmp_path, monkeypatch):
    from halfsky.contract.reference import code_lists
    from halfsky.ingest.replay import replay

    drop = next(d for d in mixed["truth"]["drops"] if d["expected_rule"] == "code_list")
    entry = mixed["log"][drop["path"]]
    # The fix: the code list gains the program the prefecture used.
    fixed = tmp_path / "seeds"
    shutil.copytree(code_lists.seed_dir(), fixed)
    with (fixed / "programs.csv").open("a", encoding="utf-8") as fh:
        fh.write("MOTHER_PARCELS,母亲邮包（旧编码）,Mother Parcel (old code),welfare,goods\n")
    monkeypatch.setenv("HALFSKY_REFERENCE_DIR", str(fixed))
    code_lists.reference_data.cache_clear()
    try:
        status = replay(mixed["dsn"], entry["id"], as_of=AS_OF)
    finally:
        monkeypatch.delenv("HALFSKY_REFERENCE_DIR")
        code_lists.reference_data.cache_clear()
    assert status in ("accepted", "superseded")
    with psycopg.connect(mixed["dsn"]) as conn:
        replays, rows = conn.execute(
            "select replays, (select count(*) from raw.funds where submission_id = %(id)s) from ingest.submissions "
            "where submission_id = %(id)s", {"id": entry["id"]}).fetchone()
    assert replays == 1 and rows > 0


def test_oversize_drop_is_rejected(warehouse, tmp_path, monkeypatch):
    # A period of its own, so it cannot collide with another test's drops in the shared warehouse.
    root, truth = make_tree(tmp_path, "--prefectures", "1", "--months", "1", "--rows", "30", "--first-period", "2025-03")
    monkeypatch.setenv("HALFSKY_MAX_DROP_BYTES", "2000")
    ingest_all(warehouse, root, tmp_path / "q")
    with psycopg.connect(warehouse) as conn:
        status, reasons = conn.execute("select status, reasons from ingest.submissions where drop_path = %s",
                                       (truth["drops"][0]["path"],)).fetchone()
    assert status == "rejected" and reasons[0]["rule"] == "too_large"


def test_validate_cli_gives_the_pipeline_verdict(mixed, tmp_path, capsys):
    from halfsky.validate import main as validate

    codes = set()
    for drop in mixed["truth"]["drops"][:8]:
        if drop["expected_status"] == "duplicate":
            continue
        code = validate([str(mixed["root"] / drop["path"]), "--as-of", AS_OF.isoformat(), "--report-dir", str(tmp_path / "r")])
        pipeline_rejected = mixed["log"][drop["path"]]["status"] == "rejected"
        assert code == (1 if pipeline_rejected else 0), drop["path"]
        assert (tmp_path / "r" / "report.html").exists()
        codes.add(code)
    assert codes == {0, 1}, "the sample covers both verdicts"
    out = capsys.readouterr().out
    assert "REJECTED 退回" in out and "ACCEPTED 接收" in out


def test_replay_without_a_fix_stays_rejected_and_keeps_its_quarantine(mixed):
    from halfsky.ingest.replay import replay

    drop = next(d for d in mixed["truth"]["drops"] if d["expected_rule"] == "duplicate_voucher")
    entry = mixed["log"][drop["path"]]
    before = sorted(p.relative_to(entry["quarantine"]) for p in Path(entry["quarantine"]).rglob("*"))
    assert replay(mixed["dsn"], entry["id"], as_of=AS_OF) == "rejected"
    with psycopg.connect(mixed["dsn"]) as conn:
        status, replays, qpath = conn.execute(
            "select status, replays, quarantine_path from ingest.submissions where submission_id = %s", (entry["id"],)).fetchone()
    assert (status, replays, qpath) == ("rejected", 1, entry["quarantine"])
    assert sorted(p.relative_to(qpath) for p in Path(qpath).rglob("*")) == before
    original = mixed["root"] / drop["path"]
    assert not filecmp.dircmp(original, Path(qpath) / "drop" / original.name).diff_files


def test_a_checker_report_sent_beside_its_drop_is_not_a_drop(warehouse, tmp_path):
    """Staff check a file with halfsky.validate (its report lands in <drop>.report/) and may send the folder
    whole: the report is skipped, the drop judged; a folder that merely ends in .report is still a drop."""
    import hostile_drops as hd
    from halfsky.validate import main as validate

    unit, period = "150200", "2023-03"
    root = tmp_path / "landing"
    drop = hd.write_json(root, unit, period, "a.json", hd.valid_doc(unit, period))
    assert validate([str(drop), "--as-of", AS_OF.isoformat()]) == 0
    assert (drop.parent / "a.json.report" / "report.html").exists()
    hd.write_csv_folder(root, unit, period, "b.report", {"activity.csv": hd.valid_doc(unit, period)["forms"]["activity"]})
    ingest_all(warehouse, root, tmp_path / "quarantine")
    with psycopg.connect(warehouse) as conn:
        statuses = dict(conn.execute("select drop_path, status from ingest.submissions where prefecture_code = %s "
                                     "and period = %s", (unit, period)).fetchall())
    assert statuses.keys() == {f"{unit}/{period}/a.json", f"{unit}/{period}/b.report"}
    assert statuses[f"{unit}/{period}/a.json"] in ("accepted", "superseded")


def test_a_late_drop_shows_when_it_came_in_the_deadline_s_zone(tmp_path):
    """A file's time comes in UTC; the report shows it in Asia/Shanghai, like the deadline beside it."""
    from datetime import datetime, timezone

    import hostile_drops as hd
    from halfsky.ingest.judging.judge import judge_drop

    drop = hd.write_json(tmp_path, "150100", "2026-07", "late.json", hd.valid_doc("150100", "2026-07"))
    verdict = judge_drop(drop, "150100", "2026-07", received_at=datetime(2026, 8, 15, 4, 44, tzinfo=timezone.utc),
                         as_of=AS_OF)
    late = next(f for f in verdict.findings if f.rule == "late_drop")
    assert (late.value, late.detail) == ("2026-08-15T12:44:00+08:00", "due 2026-08-10 23:59 Asia/Shanghai")


def _listing_as(uid: int, root: Path) -> str:
    """What listing ``root`` says when run as another account (the tests run as root, whom no mode stops)."""
    import subprocess
    import sys

    code = ("from halfsky.ingest.reading.landing import Landing\n"
            "try:\n    print(len(list(Landing(%r).list_drops())))\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)\n") % str(root)
    prefix = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_a_landing_root_that_cannot_be_listed_fails_naming_its_path_and_an_empty_one_is_a_quiet_night(tmp_path):
    """A missing root, a file in its place or one the account may not read is a setup fault, never 0 drops
    (every unit would read as missing and the night stay green). An empty folder is a fresh install."""
    from halfsky.ingest.reading.landing import Landing, LandingRootError

    missing = tmp_path / "no" / "landing"
    with pytest.raises(LandingRootError, match=f"{missing} does not exist.*landing_url"):
        list(Landing(str(missing)).list_drops())
    a_file = tmp_path / "landing.txt"
    a_file.write_text("not a folder")
    with pytest.raises(LandingRootError, match=f"{a_file} is not a folder"):
        list(Landing(str(a_file)).list_drops())
    empty = tmp_path / "empty"
    empty.mkdir()
    assert list(Landing(str(empty)).list_drops()) == []
    linked = tmp_path / "linked"
    linked.symlink_to(empty, target_is_directory=True)  # a root may itself be a link (a mounted volume)
    assert list(Landing(str(linked)).list_drops()) == []

    import tempfile

    nobody = 65534
    shared = Path(tempfile.mkdtemp(prefix="halfsky-landing-"))  # pytest's own tmp is its owner's only
    try:
        shared.chmod(0o755)
        (shared / "empty").mkdir()
        closed = shared / "closed"
        closed.mkdir()
        closed.chmod(0o300)  # may be entered, not listed
        assert f"LandingRootError the landing zone {closed} cannot be listed: permission denied" in _listing_as(nobody, closed)
        hidden = shared / "private" / "landing"
        hidden.mkdir(parents=True)
        (shared / "private").chmod(0o700)  # the folder above it is the owner's only
        assert f"LandingRootError the landing zone {hidden} cannot be reached: permission denied" in _listing_as(nobody, hidden)
        assert _listing_as(nobody, shared / "empty").strip() == "0"
    finally:
        shutil.rmtree(shared)
