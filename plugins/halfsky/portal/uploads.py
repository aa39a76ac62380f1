"""One upload: judged by the night's own code, placed in the landing zone when the check accepts it, recorded.

The sender's file name is shown, never used: the drop is written as ``upload-<time>-<sha>.<format>`` under the
account's unit and the period chosen from the page's list, so nothing a form field holds reaches a path. A zip
is a csv-folder drop, written out step by checked step (``_unzip_folder``); a placed folder is written under a
temporary name the landing listing skips and renamed, so the night never lists half of it.

The check is ``halfsky.ingest.judging.judge.judge_drop`` on the bytes as they will land, plus the warehouse's
``period_closed``, as ``python -m halfsky.validate --warehouse`` gives it; the night still decides (history
warnings, duplicates, a newer drop).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from halfsky.contract.periods import is_period
from halfsky.contract.rules import Finding
from halfsky.contract.untrusted_text import mask_id_numbers_in, printable_name
from halfsky.ingest.drop_report import render_html
from halfsky.ingest.judging.judge import Verdict, judge_drop
from halfsky.ingest.reading.drop import max_drop_bytes
from halfsky.warehouse.period_reviews import closure

log = logging.getLogger(__name__)

FILE_SUFFIXES = (".xlsx", ".json")  # a zip is a csv folder; anything else is judged as sent (unknown_format)
MAX_ZIP_MEMBERS = 64
PARTIAL_PREFIX = "~$"  # the landing listing skips it as an office program's temporary file (os_litter)


class UploadRefused(ValueError):
    """The request itself is wrong (no period, a period not offered): no verdict, a message."""


@dataclass(frozen=True)
class Checked:
    verdict: Verdict
    drop_name: str            # as it lands: upload-<time>-<sha8>.<format>
    shown_name: str           # the sender's name, printable, id numbers masked
    is_folder: bool           # a zip, landing as a csv folder
    sha256: str
    size: int
    report_html: str


def drop_name_for(original_name: str, sha256: str, at: datetime) -> tuple[str, str]:
    """The name the drop lands under, and its format: never the sender's name, only its suffix if a known one."""
    suffix = Path(original_name).suffix.lower()
    stem = f"upload-{at:%Y%m%dT%H%M%S}-{sha256[:8]}"
    if suffix == ".zip":
        return stem, "folder"
    if suffix in FILE_SUFFIXES:
        return stem + suffix, suffix[1:]
    safe = suffix if re.fullmatch(r"\.[a-z0-9]{1,10}", suffix) else ".bin"
    return stem + safe, "other"


def _unzip_folder(data: bytes, folder: Path) -> list[Finding]:
    """A zip of a csv folder, written out as the folder the night would read; refusals as findings.

    Each member's name is split into its steps, and each step must be a name the night takes for a file in a
    folder drop (``is_safe_name``: printable, no backslash) and not ``.`` or ``..``: the same ``unsafe_name`` the
    night gives. Links are ``not_a_regular_file``; one folder wrapping everything (a zipped folder) is unwrapped.
    Members are read with a cap, so a zip bomb stops at the drop size limit (``expands_too_large``)."""
    import io
    import stat

    from halfsky.contract.untrusted_text import is_safe_name

    folder.mkdir()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return [Finding("unreadable", detail=f"not a zip archive: {type(exc).__name__}")]
    if len(members) > MAX_ZIP_MEMBERS:
        return [Finding("unknown_format", detail=f"{len(members):,} files in the zip: a csv folder holds a few forms")]
    steps_of = {m.filename: m.filename.split("/") for m in members}
    tops = {steps[0] for steps in steps_of.values()}
    unwrap = len(tops) == 1 and all(len(steps) > 1 for steps in steps_of.values())
    budget = max_drop_bytes()
    for m in members:
        steps = steps_of[m.filename][1:] if unwrap else steps_of[m.filename]
        shown = mask_id_numbers_in(printable_name(m.filename))[:120]
        if any(step in ("", ".", "..") or not is_safe_name(step) for step in steps):
            return [Finding("unsafe_name", value=shown, detail="rename it with plain UTF-8 characters")]
        if stat.S_ISLNK(m.external_attr >> 16):
            return [Finding("not_a_regular_file", value=shown, detail="a link")]
        target = folder.joinpath(*steps)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(m) as src, target.open("wb") as out:
                while chunk := src.read(1 << 20):
                    budget -= len(chunk)
                    if budget < 0:
                        return [Finding("expands_too_large", detail=f"the zip expands past {max_drop_bytes():,} bytes")]
                    out.write(chunk)
        except (OSError, zipfile.BadZipFile, RuntimeError) as exc:  # a name twice, as a file and a folder; a bad CRC
            return [Finding("unreadable", value=shown, detail=f"{type(exc).__name__}: the zip cannot be unpacked")]
    return []


def check_upload(conn: psycopg.Connection, data: bytes, original_name: str, unit_code: str, period: str,
                 at: datetime) -> Checked:
    """The verdict the night would give the upload (the file's own checks and the period's closure)."""
    if not is_period(period):
        raise UploadRefused("choose a period from the list / 请从列表中选择报送期")
    sha = hashlib.sha256(data).hexdigest()
    name, kind = drop_name_for(original_name, sha, at)
    shown = mask_id_numbers_in(printable_name(original_name or "upload"))[:200]
    closed = closure(conn, unit_code, period)
    scratch = Path(tempfile.mkdtemp(prefix="halfsky-upload-"))
    try:
        where = scratch / unit_code / period
        where.mkdir(parents=True)
        path = where / name
        refusals = _unzip_folder(data, path) if kind == "folder" else []
        if kind != "folder":
            path.write_bytes(data)
        if closed:
            verdict = Verdict.rejected(unit_code, period, closed.closed_finding())
        elif refusals:
            verdict = Verdict(unit_code, period, "csv", refusals)
        else:
            verdict = judge_drop(path, unit_code, period, received_at=at, as_of=at)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Checked(verdict, name, shown, kind == "folder", sha, len(data), render_html(verdict, shown))


def place(landing_url: str, checked: Checked, data: bytes) -> str:
    """The accepted upload written into the landing zone, whole or not at all; its path relative to the root."""
    from halfsky.config.object_store import explained_errors, filesystem

    unit, period = checked.verdict.prefecture_code, checked.verdict.period
    rel = f"{unit}/{period}/{checked.drop_name}"
    fs, root = filesystem(landing_url)
    folder = f"{root.rstrip('/')}/{unit}/{period}"
    with explained_errors(landing_url):
        fs.makedirs(folder, exist_ok=True)
        final, partial = f"{folder}/{checked.drop_name}", f"{folder}/{PARTIAL_PREFIX}{checked.drop_name}"
        if checked.is_folder:
            scratch = Path(tempfile.mkdtemp(prefix="halfsky-place-"))
            try:
                _unzip_folder(data, scratch / "drop")
                fs.put(str(scratch / "drop"), partial, recursive=True)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        else:
            fs.pipe_file(partial, data)
        fs.mv(partial, final, recursive=True)
    log.info("placed %s (%s bytes) for the night", rel, f"{checked.size:,}")
    return rel


def record(conn: psycopg.Connection, username: str, checked: Checked, landed_path: str | None, at: datetime,
           client: str | None) -> int:
    v = checked.verdict
    return conn.execute(
        """insert into portal.uploads (username, unit_code, period, file_name, format, size_bytes, sha256, received_at,
                                       verdict, reasons, row_counts, landed_path, report_html, client_address)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning upload_id""",
        (username, v.prefecture_code, v.period, checked.shown_name, v.format, checked.size, checked.sha256, at,
         v.status, json.dumps(v.reasons(), ensure_ascii=False), json.dumps(v.row_counts()), landed_path,
         checked.report_html, client)).fetchone()[0]


def earlier_copy(conn: psycopg.Connection, unit_code: str, sha256: str, received_at: datetime,
                 landed_path: str | None) -> tuple | None:
    """A drop of the unit with the same bytes that reached the night before this upload (so the night records the
    upload as its duplicate); never the upload's own landed copy, once the night has read it."""
    return conn.execute("select drop_name, period, received_at from ingest.submissions "
                        "where prefecture_code = %s and sha256 = %s and received_at < %s "
                        "and drop_path is distinct from %s order by submission_id limit 1",
                        (unit_code, sha256, received_at, landed_path)).fetchone()
