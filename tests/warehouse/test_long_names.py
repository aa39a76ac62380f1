"""Names near the file system's limit (issue 22, item 8): the checker and the quarantine cut them safely.

`python -m halfsky.validate` writes ``<drop>.report/`` beside the drop: for a name over 248 bytes that is more than
a file name may be (255 bytes), and the checker died with a traceback and exit 1, a rejection's code. The nightly
quarantine copies a rejected drop to ``drop/<printable name>``, where each byte that is not UTF-8 is four
characters (``\\xff``): a 75-byte name became 300, and the drop stayed pending night after night.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

import hostile_drops as hd
from ingest_helpers import ingest_all

AS_OF = datetime.fromisoformat("2026-10-21T00:00:00+08:00")
# 251 bytes of UTF-8 (3 a character) with ".json": 呼和浩特 is 3 bytes a character
LONG_NAME = "呼和浩特市妇联二〇二六年九月母亲邮包发放情况" * 3 + "呼和浩特市" * 2 + "汇总报告表格.json"


def test_the_long_name_is_over_the_limit_with_its_report_suffix():
    assert 248 < len(LONG_NAME.encode()) <= 255


def test_the_checker_accepts_a_valid_drop_with_a_long_name_and_writes_its_report_beside_it(tmp_path, capsys):
    from halfsky.ingest.reading.landing import Landing
    from halfsky.validate import main as validate

    drop = hd.write_json(tmp_path / "landing", "150100", "2026-09", LONG_NAME, hd.valid_doc("150100", "2026-09"))
    assert validate([str(drop), "--as-of", AS_OF.isoformat()]) == 0
    (report_dir,) = [p for p in drop.parent.iterdir() if p != drop]
    name = report_dir.name
    assert name.endswith(".report") and len(name.encode()) <= 255
    assert name.startswith(LONG_NAME[:20]) and ".json" in name  # a person still sees which drop it belongs to
    assert json.loads((report_dir / "report.json").read_text(encoding="utf-8"))["status"] == "accepted"
    assert f"report: {report_dir}/report.html" in capsys.readouterr().out
    # Checked twice: the same folder (the name is cut the same way), and the nightly listing still skips it.
    assert validate([str(drop), "--as-of", AS_OF.isoformat()]) == 0
    assert sorted(drop.parent.iterdir()) == sorted([drop, report_dir])
    assert [d.path for d in Landing(str(tmp_path / "landing")).list_drops()] == [f"150100/2026-09/{LONG_NAME}"]


def test_two_long_names_that_share_their_start_get_two_report_folders(tmp_path):
    from halfsky.validate import main as validate

    first = hd.write_json(tmp_path / "landing", "150100", "2026-09", LONG_NAME, hd.valid_doc("150100", "2026-09"))
    second = hd.write_json(tmp_path / "landing", "150100", "2026-09", LONG_NAME.replace("汇总", "统计"),
                           hd.valid_doc("150100", "2026-09"))
    for drop in (first, second):
        assert validate([str(drop), "--as-of", AS_OF.isoformat()]) == 0
    assert len([p for p in first.parent.iterdir() if p.name.endswith(".report")]) == 2


def test_a_failure_of_the_checker_itself_exits_2_with_one_line_and_says_where_the_detail_is(tmp_path, capsys):
    from halfsky.validate import main as validate

    drop = hd.write_json(tmp_path / "landing", "150100", "2026-09", "王秀英_150102198503150025.json",
                         hd.valid_doc("150100", "2026-09"))
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code = validate([str(drop), "--as-of", AS_OF.isoformat(), "--report-dir", str(blocker / "report")])
    assert code == 2  # not 1: nothing was rejected
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "no verdict" in err and "未对文件作出判断" in err
    detail = Path(err.rsplit("details: ", 1)[1].rstrip(")"))
    assert "Traceback" in detail.read_text(encoding="utf-8") and oct(detail.stat().st_mode & 0o777) == "0o600"
    assert "150102198503150025" not in err + detail.read_text(encoding="utf-8")
    detail.unlink()


def test_a_rejected_drop_whose_printable_name_is_too_long_for_a_file_is_quarantined_and_replayed(warehouse, tmp_path):
    from halfsky.ingest.replay import replay
    from halfsky.warehouse.schema import connect

    root, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    name = b"\xff" * 70 + b".json"  # 75 bytes on disk, 285 characters printed
    path = hd.write_raw(root, b"150200", b"2026-06", name, json.dumps(hd.valid_doc("150200", "2026-06")).encode())
    assert len(path.split("/")[2].encode()) > 255
    ingest_all(warehouse, root, quarantine, as_of=AS_OF)  # raised DropsLeftPending: the copy failed, every night
    with connect(warehouse) as conn:
        sid, status, qpath = conn.execute("select submission_id, status, quarantine_path from ingest.submissions "
                                          "where drop_path = %s", (path,)).fetchone()
    assert status == "rejected"  # unsafe_name
    (copy,) = (Path(qpath) / "drop").iterdir()
    assert copy.name.endswith(".json") and len(os.fsencode(copy.name)) <= 255
    assert copy.read_bytes() == (root / "150200" / "2026-06").joinpath(os.fsdecode(name)).read_bytes()
    assert replay(warehouse, sid, as_of=AS_OF) in ("accepted", "rejected", "superseded")  # it finds the bytes
