"""Id numbers outside reports (issue 22, item 7): one masking function for every text halfsky writes out.

halfsky.contract.untrusted_text.mask_id_numbers_in finds 18-character ids with separators inside and 15-digit
first-generation ids (halfsky.contract.id_numbers.id_number_spans); the marts, their dbt test and the retention purge use
reference.mask_id_numbers, built from the same patterns, and must find the very same spans. Then what a night
writes out: every halfsky logger, the ingest tasks' XComs, the digest, and a real `airflow dags test nightly_load`
(its log, every table of its metadata database, its digest) searched for the ids in any spelling.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import unicodedata
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

import hostile_drops as hd
from halfsky.contract.id_numbers import id_number_spans
from halfsky.contract.untrusted_text import mask_id_numbers_in

ID = hd.ID_IN_NAMES
# (text, the ids in it as typed): every spelling a sender uses, and ordinary numbers that must stay.
CASES = [
    (f"王秀英_{ID}.json", [ID]),
    ("王秀英 身份证 150302 19850315 000X", ["150302 19850315 000X"]),
    ("王秀英 身份证 150302 19850315 000x", ["150302 19850315 000x"]),
    ("150102-1985-0315-0025", ["150102-1985-0315-0025"]),
    ("150102 - 19850315 - 0025 收", ["150102 - 19850315 - 0025"]),
    ("150102\u300019850315\u30000025", ["150102\u300019850315\u30000025"]),  # full-width spaces
    ("１５０１０２１９８５０３１５００２５", ["１５０１０２１９８５０３１５００２５"]),  # full-width digits
    ("150102 1985-0315_0025", ["150102 1985-0315_0025"]),  # mixed
    ("150102198503150029 (check digit mistyped)", ["150102198503150029"]),
    ("老身份证 150302850315001 王秀英", ["150302850315001"]),  # 15 digits: region, YYMMDD, 3
    ("150302 850315 001", ["150302 850315 001"]),
    ("two: 150102198503150025, 150302850315001.", ["150102198503150025", "150302850315001"]),
    ("20260915 150102198503150025", ["150102198503150025"]),
    # ordinary numbers: no province code or no real date where an id has one, or inside a longer run of digits
    ("付-2026-09-000001", []),
    ("1501021985031500251", []),
    ("金额 123456789012345.67 元", []),
    ("区划 150102, 日期 2026-09-15, 凭证 V-2026-09-1", []),
    ("990102198503150025", []),  # 99 is no province
    ("150102198513150025", []),  # month 13
    ("150102190002290025", []),  # 1900 was no leap year
    ("150302851332001", []),  # 15 digits, no real date
    ("6222021234567890123", []),  # a bank card
    ("电话 13800138000 / 0471-1234567", []),
    ("", []),
]


@pytest.mark.parametrize("text,ids", CASES)
def test_the_masking_function_finds_every_spelling_and_leaves_ordinary_numbers(text, ids):
    assert [text[a:b] for a, b in id_number_spans(text)] == ids
    masked = mask_id_numbers_in(text)
    for typed in ids:
        assert typed not in masked
        assert typed[-4:] in masked or typed[-3:] in masked  # the last four characters stay, for the prefecture
    if not ids:
        assert masked == text


def test_the_warehouse_finds_the_same_spans_as_python(warehouse):
    """reference.id_number_spans (the marts, their dbt test, the purge) against id_number_spans, case by case."""
    with psycopg.connect(warehouse) as conn:
        for text, _ in CASES:
            for checked in (True, False):
                spans = conn.execute("select span_start, span_end from reference.id_number_spans(%s, %s)",
                                     (text, checked)).fetchall()
                assert [tuple(s) for s in spans] == id_number_spans(text, checked=checked), (text, checked)
            masked = conn.execute("select reference.mask_id_numbers(%s)", (text,)).fetchone()[0]
            assert not any(text[a:b] in masked for a, b in id_number_spans(text)), text


# --- everything halfsky writes out: logs, XComs and rendered fields, the digest ---------------------------------

NIGHT = datetime.fromisoformat("2026-10-21T02:00:00+08:00")
OLD_CARD = hd.OLD_CARD
ACCEPTED_NAME, REJECTED_NAME = hd.ACCEPTED_ID_NAME, hd.REJECTED_ID_NAME
_SEPARATORS = re.compile(r"[\s_\-\u2010-\u2015\u2212\uff0d]|\\u3000|\\u00a0|\\\\u3000")


def leaked(text: str) -> list[str]:
    """The ids of these tests found in ``text`` in any spelling: separators dropped (also JSON's escaped ones),
    full-width forms folded. Independent of the masking function, so a spelling it misses is still found here."""
    bare = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    return [n for n in (ID, OLD_CARD) if n in bare]


def test_the_leak_finder_sees_every_spelling():
    for text in (ID, "150102 19850315 0025", "150102\\u300019850315\\u30000025", "１５０１０２１９８５０３１５００２５",
                 "x 150302-850315-001 y"):
        assert leaked(text), text
    assert not leaked(mask_id_numbers_in(REJECTED_NAME))


def test_every_halfsky_logger_masks_id_numbers_in_its_messages_and_tracebacks(caplog):
    import importlib

    from pathlib import Path

    import halfsky_dev
    from halfsky.config.log_masking import module_names

    names = module_names() + module_names("halfsky_dev", Path(halfsky_dev.__file__).parent)
    assert {"halfsky.ingest.runner", "halfsky.ingest.loader", "halfsky.ingest.reading.landing", "halfsky.warehouse.reference_load", "halfsky_dev.sample.generator"} <= set(names)
    importlib.import_module("halfsky.ingest.runner")
    caplog.set_level(logging.INFO)
    for name in names:
        try:
            raise FileNotFoundError(f"150100/2026-09/{REJECTED_NAME} is no longer in the landing zone")
        except FileNotFoundError:
            logging.getLogger(name).exception("%s: could not be decided", f"150100/2026-09/{ACCEPTED_NAME}")
    assert len(caplog.records) == len(names)
    for record in caplog.records:
        shown = record.getMessage() + (caplog.handler.formatter.formatException(record.exc_info) if record.exc_info else "")
        assert not leaked(shown), shown
        assert "**************0025" in shown and "FileNotFoundError" in shown  # masked, not dropped


def test_the_night_alert_masks_whatever_its_parts_quote():
    from halfsky.orchestration.alert_channels import Alert

    alert = Alert(f"rejected {ACCEPTED_NAME}", REJECTED_NAME, f"<td>{OLD_CARD}</td>",
                  {"rejected": [{"drop_name": ACCEPTED_NAME}], "count": 1})
    assert not leaked(json.dumps([alert.subject, alert.text, alert.html, alert.payload], ensure_ascii=False))
    assert alert.payload["count"] == 1


def test_the_ingest_tasks_xcoms_hold_no_id_and_the_task_still_finds_the_drop(warehouse, tmp_path, monkeypatch):
    from halfsky.orchestration import pipeline
    from halfsky.warehouse.schema import connect

    monkeypatch.setenv("HALFSKY_PERSON_HMAC_KEY", "test-handles-key-" + "h" * 16)
    root, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    expected = hd.id_named_drops(root)
    batches = pipeline.discover_drops(NIGHT, dsn=warehouse, landing=str(root))
    assert not leaked(json.dumps(batches, ensure_ascii=False)), batches
    outcomes = [pipeline.ingest_prefecture(b, NIGHT, run_id="handles-test", dsn=warehouse, landing=str(root),
                                           quarantine=str(quarantine)) for b in batches]
    assert not leaked(json.dumps(outcomes, ensure_ascii=False)), outcomes
    assert not leaked(json.dumps(pipeline.needing_attention(outcomes), ensure_ascii=False))
    with connect(warehouse) as conn:  # the warehouse keeps the real names: it holds raw's ids anyway
        decided = dict(conn.execute("select drop_path, status from ingest.submissions where run_id = 'handles-test'"))
    assert decided == expected


def test_a_handle_of_a_drop_gone_since_it_was_listed_is_left_pending_not_confused(tmp_path, monkeypatch):
    from halfsky.orchestration.drop_handles import handle, resolve

    monkeypatch.setenv("HALFSKY_PERSON_HMAC_KEY", "test-handles-key-" + "h" * 16)
    root = tmp_path / "landing"
    one = hd.write_json(root, "150100", "2026-09", ACCEPTED_NAME, "{}")
    # another drop whose name masks to the same text: the digest tells them apart
    twin = hd.write_json(root, "150100", "2026-09", ACCEPTED_NAME.replace("1501", "1502", 1), "{}")
    paths = [f"150100/2026-09/{one.name}", f"150100/2026-09/{twin.name}", "150100/2026-09/plain.json"]
    handles = [handle(p) for p in paths]
    assert handles[2] == paths[2] and handles[0].split("#id:")[0] == handles[1].split("#id:")[0]
    assert resolve(str(root), handles) == paths
    one.unlink()
    assert resolve(str(root), handles) == [handles[0], *paths[1:]]  # ingest then says it is no longer there


# --- a real night: `airflow dags test nightly_load` ----------------------------------------------------------

@pytest.fixture(scope="session")  # as test_idempotency's and test_secrets' site: one site per worker, kept
def night_run(admin_dsn, tmp_path_factory):
    """tests/dag_site.py's night (and its marts build), whose landing tree holds hd.id_named_drops."""
    from dag_site import shared_site

    with shared_site(admin_dsn, tmp_path_factory) as site:
        yield {"dsn": site["dsn"], "home": site["home"], "log": site["logs"].read_text(errors="replace"),
               "run_id": site["nightly_load_run_id"], "drops": site["id_named_drops"],
               "first_night_db": site["airflow_db_after_nightly_load"]}


def _metadata_text(airflow_db: Path) -> dict[str, str]:
    """Every row of every table of the Airflow metadata database, as text: XComs, rendered task fields, map index
    labels, run and task notes, whatever Airflow keeps."""
    out = {}
    with sqlite3.connect(airflow_db) as db:
        for (table,) in db.execute("select name from sqlite_master where type = 'table'").fetchall():
            rows = db.execute(f'select * from "{table}"').fetchall()
            out[table] = "\n".join(" | ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row)
                                   for row in rows)
    return out


def test_a_real_night_loads_the_drops_named_with_an_id(night_run):
    from halfsky.warehouse.schema import connect

    with connect(night_run["dsn"]) as conn:
        decided = dict(conn.execute("select drop_path, status from ingest.submissions where drop_path = any(%s)",
                                    (list(night_run["drops"]),)))
    assert decided == night_run["drops"], night_run["log"][-3000:]


def test_the_log_of_a_real_night_holds_no_id_in_any_spelling(night_run):
    log = night_run["log"]
    assert "王秀英_**************0025.json" in log and "退回.json" in log  # the drops are named, masked
    assert "REJECTED" in log and "digest" in log  # the verdict lines and the night's digest are in it
    files = [p for p in night_run["home"].rglob("*") if p.is_file() and p.suffix not in (".db", ".db-journal")]
    for text in [log, *(p.read_text(errors="replace") for p in files)]:
        assert not leaked(text), [line for line in text.splitlines() if leaked(line)][:5]


def test_the_xcoms_and_rendered_fields_of_a_real_night_hold_no_id(night_run):
    first_night = _metadata_text(night_run["first_night_db"])  # the XComs that named the drops
    assert "**************0025" in first_night["xcom"]
    assert "**************0025" in first_night["rendered_task_instance_fields"]
    for tables in (first_night, _metadata_text(night_run["home"] / "airflow.db")):  # and after every later run
        assert {t: leaked(text) for t, text in tables.items() if leaked(text)} == {}


def test_the_digest_of_a_real_night_holds_no_id(night_run):
    from halfsky.orchestration.night_digest_queries import night_digest
    from halfsky.orchestration.night_digest_text import digest_payload, format_digest

    digest = night_digest(night_run["dsn"], night_run["run_id"], NIGHT)
    rejected = {(d.unit_code, d.drop_name) for d in digest.rejected}
    assert {("150200", mask_id_numbers_in(REJECTED_NAME)), (mask_id_numbers_in(OLD_CARD), "a.json")} <= rejected
    texts = [*format_digest(digest, "http://airflow.example/run"), json.dumps(digest_payload(digest), ensure_ascii=False)]
    assert "王秀英 ******-********-0025 退回.json" in texts[1]
    assert not leaked("\n".join(texts))
