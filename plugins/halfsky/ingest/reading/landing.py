"""The landing zone, through fsspec: a local folder or ``s3://bucket/prefix``.

Layout ``<root>/<prefecture>/<YYYY-MM>/<drop>``; a drop is a file or a folder.
Listing never reads contents; hashing and fetching stream one drop at a time
and never past the size limit. Links, devices and pipes are never followed or
opened: nothing outside the root is read.

On an object store (see halfsky.config.object_store) folders are only key prefixes:
the empty ``name/`` keys that consoles and sync tools leave as folder markers
are skipped, and a drop's time is its objects' upload time.

A drop's ``path`` is printable text (bytes that are not UTF-8 escaped, as
``0_\\xff.json``), so it can be logged, stored and handed between Airflow tasks;
the store's own name is looked up again when the bytes are needed. A
name that is a path step (``..``, which an object store's key may hold) is
escaped too (``\\x2e\\x2e``) and rejected, never followed: nothing above a drop's
own folder is reached, in the landing zone or in quarantine.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import shutil
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import fsspec

from halfsky.ingest.reading.drop import max_drop_bytes
from halfsky.config.object_store import explained_errors, filesystem, is_missing_bucket
from halfsky.ingest.reading.os_litter import is_os_litter
from halfsky.contract.untrusted_text import fitting_file_name, is_safe_name, printable_name

log = logging.getLogger(__name__)
CHUNK = 1 << 20
# What ``python -m halfsky.validate`` writes beside a checked drop (``<drop>.report/``): never a drop itself.
CHECKER_REPORT_SUFFIX = ".report"
REPORT_FILES = frozenset({"report.html", "report.json", "report.csv"})


@dataclass(frozen=True)
class Drop:
    path: str  # relative to the landing root, printable: prefecture/period/name (the submission log's key)
    is_dir: bool
    size: int
    received_at: datetime  # the store's modification time (newest file of a folder)
    problem: str | None = None  # a rule that judges the drop by its entry alone: it is never read
    detail: str | None = None
    store_path: str | None = None  # the store's own relative path, when it differs from ``path``

    @property
    def prefecture_code(self) -> str:
        return self.path.split("/")[0]

    @property
    def period(self) -> str:
        return self.path.split("/")[1]

    @property
    def name(self) -> str:
        return self.path.split("/")[2]

    @property
    def readable(self) -> bool:
        """Its bytes may be read: a regular file or a folder of them, within the size limit."""
        return self.problem is None or (self.problem == "unsafe_name" and not self.has_path_step)

    @property
    def has_path_step(self) -> bool:
        """A name in its path is ``.`` or ``..`` (escaped): its bytes are never fetched, only its path is judged."""
        return any(part in (printable_name("."), printable_name("..")) for part in self.path.split("/"))

    @property
    def quarantinable(self) -> bool:
        """Its own regular files may be copied to quarantine: also a folder rejected for a link inside it."""
        return self.readable or (self.is_dir and self.problem == "not_a_regular_file")


class LandingRootError(RuntimeError):
    """The landing root is missing, not a folder, or cannot be listed: a setup problem, never a night with no drops."""


def _is_folder_marker(info: dict) -> bool:
    """An object store's empty ``folder/`` key: it stands for the folder it names, not for a file in it."""
    return info["name"].endswith("/")


def _is_plain(info: dict) -> bool:
    """A regular file or a folder, not reached through a link."""
    return not info.get("islink") and info["type"] in ("file", "directory")


class Landing:
    def __init__(self, url: str):
        self.url = url
        self.fs, self.root = filesystem(url)
        self.root = self.root.rstrip("/")
        self._listings: dict[str, dict[str, dict]] = {}

    def _abs(self, rel: str) -> str:
        return posixpath.join(self.root, rel)

    def _relative(self, name: str) -> str:
        """A store path relative to the root, as stored: never normalised, so ``a/../b`` stays three names."""
        prefix = self.root + "/"
        return name[len(prefix):] if name.startswith(prefix) else posixpath.relpath(name, self.root)

    def _children(self, path: str) -> list[dict]:
        with explained_errors(self.url):  # every walk and look-up lists first: a wrong key fails here, clearly
            try:
                return [e for e in self.fs.ls(path, detail=True) if not _is_folder_marker(e)]
            except FileNotFoundError as exc:
                if is_missing_bucket(exc):  # a misspelt bucket must not pass for an empty landing zone
                    raise
                return []

    def _tree(self, folder: str, withdirs: bool = False) -> list[dict]:
        """Everything under a folder drop, at any depth, but an object store's folder markers."""
        return [i for i in self.fs.find(folder, detail=True, withdirs=withdirs).values() if not _is_folder_marker(i)]

    def check_root(self) -> None:
        """Fail, naming the path, unless the root is a folder this account may list.

        A root that is not there must not read as a night in which nobody sent anything (every unit then
        looks missing, and the night stays green). An empty folder is fine: a fresh install. On an object
        store folders do not exist: a missing bucket fails in ``_children``, an unused prefix is empty.
        """
        if not is_local(self.fs):
            return
        fix = "check the Airflow variable landing_url (AIRFLOW_VAR_LANDING_URL) and the storage it is on"
        try:
            mode = os.stat(self.root).st_mode  # follows a link: a root that links to a folder is a folder
        except FileNotFoundError:
            raise LandingRootError(f"the landing zone {self.root} does not exist; {fix}") from None
        except PermissionError:
            raise LandingRootError(f"the landing zone {self.root} cannot be reached: permission denied to "
                                   f"{_account()} on a folder above it; {fix}") from None
        except OSError as exc:  # a dead mount, a loop of links
            raise LandingRootError(f"the landing zone {self.root} cannot be read ({exc.strerror}); {fix}") from None
        if not stat.S_ISDIR(mode):
            raise LandingRootError(f"the landing zone {self.root} is not a folder; {fix}")
        try:
            with os.scandir(self.root) as entries:
                next(entries, None)
        except PermissionError:
            raise LandingRootError(f"the landing zone {self.root} cannot be listed: permission denied to "
                                   f"{_account()}; {fix}") from None
        except OSError as exc:
            raise LandingRootError(f"the landing zone {self.root} cannot be read ({exc.strerror}); {fix}") from None

    def list_drops(self, known: frozenset[str] = frozenset()) -> Iterator[Drop | str]:
        """Every drop at depth three, in path order; anything else is logged and left alone.

        A path in ``known`` is yielded as its bare path, without walking a folder's
        files for size and time: the nightly listing skips years of decided drops cheaply.
        A root that cannot be listed raises LandingRootError (``check_root``).
        """
        self.check_root()
        for unit in sorted(self._children(self.root), key=lambda e: e["name"]):
            if not (_is_plain(unit) and unit["type"] == "directory"):
                log.warning("ignoring %s: not a prefecture folder (links are not followed)", printable_name(unit["name"]))
                continue
            for period in sorted(self._children(unit["name"]), key=lambda e: e["name"]):
                if not (_is_plain(period) and period["type"] == "directory"):
                    log.warning("ignoring %s: drops go in <prefecture>/<YYYY-MM>/ (links are not followed)",
                                printable_name(period["name"]))
                    continue
                entries = sorted(self._children(period["name"]), key=lambda e: e["name"])
                litter = [e for e in entries if is_os_litter(posixpath.basename(e["name"]))]
                if litter:  # unseen by their senders: neither drops to judge nor red lines in the digest
                    log.info("ignoring in %s what the operating system or office software left, not drops: %s",
                             printable_path(self._relative(period["name"])),
                             ", ".join(printable_name(posixpath.basename(e["name"])) for e in litter))
                for entry in (e for e in entries if e not in litter):
                    rel = printable_path(self._relative(entry["name"]))
                    if rel in known:
                        yield rel
                    elif self._is_checker_report(entry):
                        log.info("ignoring %s: the report halfsky.validate wrote beside a drop, not a drop", rel)
                    else:
                        yield self._drop(entry)

    def _is_checker_report(self, entry: dict) -> bool:
        """A ``<drop>.report/`` folder of report.html/.json/.csv only: staff who check a file before sending it
        may send its folder whole; judged as a drop it would bounce as ``unknown_form``."""
        if not (entry["name"].endswith(CHECKER_REPORT_SUFFIX) and _is_plain(entry) and entry["type"] == "directory"):
            return False
        inside = self._children(entry["name"])
        return bool(inside) and all(_is_plain(i) and i["type"] == "file" and posixpath.basename(i["name"]) in REPORT_FILES
                                    for i in inside)

    def _drop(self, entry: dict) -> Drop:
        store_rel = self._relative(entry["name"])
        rel = printable_path(store_rel)
        made = dict(store_path=store_rel if store_rel != rel else None)
        if not _is_plain(entry):
            what = f"a link to {printable_name(entry['destination'])}" if entry.get("destination") else "a device, pipe or socket"
            return Drop(rel, False, 0, _modified(entry), "not_a_regular_file", f"{printable_name(posixpath.basename(store_rel))} is {what}", **made)
        is_dir, size, received = entry["type"] == "directory", entry["size"], _modified(entry)
        if is_dir and posixpath.basename(store_rel) in (".", ".."):
            return Drop(rel, True, 0, received, "unsafe_name", f"{rel}: a path step, not a name", **made)
        if is_dir:
            inside = self._tree(entry["name"], withdirs=True)
            odd = [i for i in inside if not _is_plain(i)]
            if odd:
                name = printable_name(posixpath.relpath(odd[0]["name"], entry["name"]))
                return Drop(rel, True, 0, received, "not_a_regular_file", f"{name} inside the folder is a link, device or pipe", **made)
            files = [i for i in inside if i["type"] == "file"]
            size = sum(i["size"] for i in files)
            received = max((_modified(i) for i in files), default=received)
        if size > max_drop_bytes():
            return Drop(rel, is_dir, size, received, "too_large", f"{size:,} bytes is over the limit of {max_drop_bytes():,}", **made)
        if made["store_path"] or not is_safe_name(posixpath.basename(store_rel)):
            # escaping changed a name (bytes that are not UTF-8, control characters, ..), or it holds a backslash
            return Drop(rel, is_dir, size, received, "unsafe_name", f"{rel}: rename it with plain UTF-8 characters", **made)
        return Drop(rel, is_dir, size, received, **made)

    def get(self, rel: str) -> Drop:
        """The drop at a printable path, looked up in its folder's listing (never by following a link)."""
        parent, name = posixpath.split(rel)
        if parent not in self._listings:
            store_parent = self._store_path(parent)
            self._listings[parent] = {printable_name(posixpath.basename(e["name"])): e for e in self._children(self._abs(store_parent))}
        entry = self._listings[parent].get(name)
        if entry is None:
            raise FileNotFoundError(f"{rel} is no longer in the landing zone")
        return self._drop(entry)

    def _store_path(self, rel: str) -> str:
        """The store's name for a printable folder path: the same unless a name had bytes that are not UTF-8."""
        if "\\" not in rel:  # every backslash in a printable name starts an escape
            return rel
        store = ""
        for part in rel.split("/"):
            match = next((posixpath.basename(e["name"]) for e in self._children(self._abs(store))
                          if printable_name(posixpath.basename(e["name"])) == part), part)
            store = posixpath.join(store, match) if store else match
        return store

    def sha256(self, drop: Drop) -> str | None:
        """Of the bytes; a folder hashes its files' names and hashes, so a renamed copy still matches.
        None for a drop that must not be read (a link, a device, over the size limit)."""
        if not drop.readable:
            return None
        base = self._abs(drop.store_path or drop.path)
        if not drop.is_dir:
            return self._file_sha(base)
        outer = hashlib.sha256()
        for path in sorted(i["name"] for i in self._tree(base)):
            outer.update(posixpath.relpath(path, base).encode("utf-8", "surrogateescape") + b"\0" + self._file_sha(path).encode() + b"\n")
        return outer.hexdigest()

    def _file_sha(self, path: str) -> str:
        digest, left = hashlib.sha256(), max_drop_bytes() + 1  # a file still growing is hashed no further than the limit
        with explained_errors(self.url), self.fs.open(path, "rb") as fh:
            while left > 0 and (chunk := fh.read(min(CHUNK, left))):
                digest.update(chunk)
                left -= len(chunk)
        return digest.hexdigest()

    def local_copy(self, drop: Drop, scratch: Path) -> Path:
        """A local path to read the drop from: the file itself when the store is local.

        A remote drop is downloaded into ``scratch/landed``, emptied first: it holds one drop at a time
        (the copy lasts until the next call), so a folder drop never lands inside an earlier drop's
        folder of the same name.
        """
        source = self._abs(drop.store_path or drop.path)
        if is_local(self.fs):
            return Path(source)
        landed = scratch / "landed"
        shutil.rmtree(landed, ignore_errors=True)
        landed.mkdir(parents=True)
        target = landed / fitting_file_name(drop.name)  # an object store's name may be longer than a file's
        with explained_errors(self.url):
            self.fs.get(source, str(target), recursive=drop.is_dir)
        return target


def printable_path(store_rel: str) -> str:
    """``prefecture/period/name`` with each name printable (see printable_name)."""
    return "/".join(printable_name(part) for part in store_rel.split("/"))


def _account() -> str:
    """The account the listing runs as, for an error an admin fixes with chown or chmod."""
    try:
        import pwd

        return f"the account {pwd.getpwuid(os.geteuid()).pw_name} (uid {os.geteuid()})"
    except (ImportError, KeyError):
        return "this account"


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol
    return "file" in protocols


def _modified(info: dict) -> datetime:
    value = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or info.get("created")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(float(value or 0), tz=timezone.utc)
