"""Quarantine: a rejected drop's bytes, byte for byte, beside its report.

``<quarantine_url>/<prefecture>/<period>/<submission_id>/drop/<name>`` and
``report.{json,csv,html}``. Quarantined drops hold id numbers and names, so on a
local disk every folder made here is 0700 and every file 0600 (the pipeline's
account only); object stores take their access rules from the bucket's policy.
Only regular files are copied: a link inside a folder drop is never followed.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
import stat
import tempfile
from pathlib import Path

from halfsky.ingest.reading.landing import is_local
from halfsky.config.object_store import explained_errors, filesystem, is_s3_url
from halfsky.config.private_files import open_private
from halfsky.contract.untrusted_text import fitting_file_name, mask_id_numbers_in

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700


def quarantine_dir(quarantine_url: str, prefecture_code: str, period: str, submission_id: int) -> str:
    """The submission's folder. Its path is logged, sent in the digest and kept in XComs, and the folders come
    from the landing zone's (one that is no unit may be named anything, an id number too): masked, the
    submission id keeps it unique."""
    unit, period = mask_id_numbers_in(prefecture_code), mask_id_numbers_in(period)
    return f"{quarantine_url.rstrip('/')}/{unit}/{period}/{submission_id}"


def quarantined_drop(target: str, drop_name: str) -> str:
    """Where a rejected drop's bytes go in its quarantine folder ``target``: ``drop/<name>``. A printable name can
    be longer than a file name may be (``\\xff`` for each byte that is not UTF-8, an object store's 1,024-byte
    key): it is cut with a hash, keeping its extension (halfsky.contract.untrusted_text.fitting_file_name)."""
    return f"{target.rstrip('/')}/drop/{fitting_file_name(drop_name)}"


def _private_makedirs(path: Path) -> None:
    """Make the missing folders of ``path`` 0700; folders that exist already are left as their owner set them."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:  # another worker made it a moment ago
            continue
        folder.chmod(PRIVATE_DIR)  # mkdir's mode is masked by the umask; this is not


def _private_copy_file(source: Path, target: Path) -> None:
    # 0600 from the first byte; an existing file (a retried run) is narrowed first; a link there is not followed.
    with open(source, "rb") as src, os.fdopen(open_private(target), "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def _regular_files(source: Path) -> list[Path]:
    """The drop's regular files, relative to it; links, devices and pipes are left out, unread."""
    if not source.is_dir():
        return [Path()] if stat.S_ISREG(source.lstat().st_mode) else []
    found = []
    for folder, dirs, files in os.walk(source):  # os.walk does not descend into linked folders
        for name in files:
            path = Path(folder, name)
            if stat.S_ISREG(path.lstat().st_mode):
                found.append(path.relative_to(source))
    return sorted(found)


def store(source: Path, dest_url: str) -> int:
    """Copy a local file, or a folder's regular files, to ``dest_url``; returns how many files were copied.

    A folder's contents land in ``dest_url`` itself even when it already exists (a retried run).
    """
    files = _regular_files(source)
    fs, dest = filesystem(dest_url)
    dest = dest.rstrip("/")
    local = is_local(fs)
    with explained_errors(dest_url):
        for rel in files:
            target = posixpath.join(dest, rel.as_posix()) if rel.parts else dest
            if local:
                _private_makedirs(Path(target).parent)
                _private_copy_file(source / rel, Path(target))
            else:
                if not is_s3_url(dest_url):  # S3 has no folders; its makedirs would only create a missing bucket
                    fs.makedirs(posixpath.dirname(target), exist_ok=True)
                fs.put_file(str(source / rel), target)
    return len(files)


def store_report(write, dest_url: str) -> None:
    """``write(folder)`` writes report.json/csv/html into a scratch folder; they are stored under ``dest_url``."""
    with tempfile.TemporaryDirectory(prefix="halfsky-report-") as scratch:
        write(Path(scratch))
        for name in sorted(os.listdir(scratch)):
            store(Path(scratch) / name, f"{dest_url.rstrip('/')}/{name}")
