"""Open a drop (xlsx, json, or a folder of csv) and hand back each form's header and cells: ``read_drop``.

Which format the drop is, whether it may be opened at all (a link, device or unsafe name; over the size limit),
then that format's reader: ``csv_folder``, ``xlsx``, ``json_drop``. What they hand back, ``ParsedDrop``, and
what they share are in ``drop``.

File-level problems (unreadable, undecodable or mixed encodings, unknown
format or a workbook with macros, too large, zip bomb or a sheet spread over too
many cells, hostile XML, a link or device instead of a file, an odd name inside a
folder, too many columns, a JSON key given twice, missing required column, a
form given twice or not a form at all, prefecture/period inside the file
differing from the path) raise DropRejected with the rule id; nothing is half read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from halfsky.contract.untrusted_text import is_safe_name, printable_name
from halfsky.ingest.reading.csv_folder import read_csv_folder
from halfsky.ingest.reading.drop import DropRejected, ParsedDrop, max_drop_bytes
from halfsky.ingest.reading.json_drop import read_json
from halfsky.ingest.reading.xlsx import read_xlsx


def drop_format(path: Path) -> str | None:
    if path.is_dir():
        return "csv"
    return {".xlsx": "xlsx", ".json": "json"}.get(path.suffix.lower())


def entry_problem(path: Path) -> DropRejected | None:
    """Why a drop must not be read at all: a link, device or pipe (in a folder drop too), or a name
    that is not text. Looked at with lstat only, so a link to /dev/zero or /etc is never opened."""
    try:
        mode = path.lstat().st_mode
    except OSError as exc:
        return DropRejected("unreadable", f"{printable_name(path.name)}: {exc.strerror}")
    if stat.S_ISLNK(mode):
        return DropRejected("not_a_regular_file", f"{printable_name(path.name)} is a link to {printable_name(os.readlink(path))}")
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return DropRejected("not_a_regular_file", f"{printable_name(path.name)} is a device, pipe or socket")
    if not is_safe_name(path.name):
        return DropRejected("unsafe_name", f"{printable_name(path.name)}: rename it with plain UTF-8 characters")
    if stat.S_ISDIR(mode):  # the whole folder, as the landing listing sees it (os.walk never follows a link)
        for folder, dirs, files in os.walk(path):
            for name in sorted(dirs + files):
                entry = Path(folder, name)
                entry_mode = entry.lstat().st_mode
                if stat.S_ISLNK(entry_mode) or not (stat.S_ISREG(entry_mode) or stat.S_ISDIR(entry_mode)):
                    return entry_problem(entry)
                if not is_safe_name(name):  # a file's name is shown in reports and used to store it
                    return DropRejected("unsafe_name", f"{printable_name(path.name)}/{printable_name(os.path.relpath(entry, path))}: "
                                                       "rename it with plain UTF-8 characters")
    return None


def drop_size(path: Path) -> int:
    """Bytes of the drop's regular files, in every subfolder (links are never followed)."""
    if path.is_dir():
        return sum(Path(folder, name).lstat().st_size for folder, _, files in os.walk(path) for name in files)
    return path.lstat().st_size


def read_drop(path: Path, prefecture_code: str | None = None, period: str | None = None) -> ParsedDrop:
    problem = entry_problem(path)
    if problem:
        raise problem
    fmt = drop_format(path)
    if fmt is None:
        raise DropRejected("unknown_format", f"{path.name}: expected .xlsx, .json or a folder of .csv files")
    size, limit = drop_size(path), max_drop_bytes()
    if size > limit:
        raise DropRejected("too_large", f"{size:,} bytes is over the limit of {limit:,}")
    reader = {"csv": read_csv_folder, "xlsx": read_xlsx, "json": read_json}[fmt]
    parsed = reader(path, prefecture_code, period) if fmt == "json" else reader(path)
    if not parsed.forms:
        raise DropRejected("no_forms", "no form was found: monthly activity/项目活动, funds/资金收支, beneficiaries/受益人明细; "
                                       "annual targets/年度任务, population/人口基数, sites/阵地组织, grassroots/基层组织覆盖")
    return parsed
