"""The landing zone, through fsspec: a local folder today, ``s3://bucket/prefix`` tomorrow.

Layout ``<root>/<prefecture>/<YYYY-MM>/<drop>``; a drop is a file or a folder.
Listing never reads contents; hashing and fetching stream one drop at a time.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import fsspec

log = logging.getLogger(__name__)
CHUNK = 1 << 20


@dataclass(frozen=True)
class Drop:
    path: str  # relative to the landing root: prefecture/period/name
    is_dir: bool
    size: int
    received_at: datetime  # the store's modification time (newest file of a folder)

    @property
    def prefecture_code(self) -> str:
        return self.path.split("/")[0]

    @property
    def period(self) -> str:
        return self.path.split("/")[1]

    @property
    def name(self) -> str:
        return self.path.split("/")[2]


class Landing:
    def __init__(self, url: str):
        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url)
        self.root = self.root.rstrip("/")

    def _abs(self, rel: str) -> str:
        return posixpath.join(self.root, rel)

    def _children(self, path: str) -> list[dict]:
        try:
            return self.fs.ls(path, detail=True)
        except FileNotFoundError:
            return []

    def list_drops(self, known: frozenset[str] = frozenset()) -> Iterator[Drop | str]:
        """Every drop at depth three, in path order; anything else is logged and left alone.

        A path in ``known`` is yielded as its bare path, without walking a folder's
        files for size and time: the nightly listing skips years of decided drops cheaply.
        """
        for unit in sorted(self._children(self.root), key=lambda e: e["name"]):
            if unit["type"] != "directory":
                log.debug("ignoring %s: not a prefecture folder", unit["name"])
                continue
            for period in sorted(self._children(unit["name"]), key=lambda e: e["name"]):
                if period["type"] != "directory":
                    log.warning("ignoring %s: drops go in <prefecture>/<YYYY-MM>/", period["name"])
                    continue
                for entry in sorted(self._children(period["name"]), key=lambda e: e["name"]):
                    rel = posixpath.relpath(entry["name"], self.root)
                    yield rel if rel in known else self._drop(entry)

    def _drop(self, entry: dict) -> Drop:
        rel = posixpath.relpath(entry["name"], self.root)
        if entry["type"] == "directory":
            files = [i for i in self.fs.find(entry["name"], detail=True).values() if i["type"] == "file"]
            size = sum(i["size"] for i in files)
            received = max((_modified(i) for i in files), default=_modified(entry))
            return Drop(rel, True, size, received)
        return Drop(rel, False, entry["size"], _modified(entry))

    def get(self, rel: str) -> Drop:
        return self._drop(self.fs.info(self._abs(rel)))

    def sha256(self, drop: Drop) -> str:
        """Of the bytes; a folder hashes its files' names and hashes, so a renamed copy still matches."""
        if not drop.is_dir:
            return self._file_sha(self._abs(drop.path))
        outer = hashlib.sha256()
        base = self._abs(drop.path)
        for path in sorted(self.fs.find(base)):
            outer.update(posixpath.relpath(path, base).encode() + b"\0" + self._file_sha(path).encode() + b"\n")
        return outer.hexdigest()

    def _file_sha(self, path: str) -> str:
        digest = hashlib.sha256()
        with self.fs.open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def local_copy(self, drop: Drop, scratch: Path) -> Path:
        """A local path to read the drop from: the file itself when the store is local."""
        if is_local(self.fs):
            return Path(self._abs(drop.path))
        target = scratch / drop.name
        self.fs.get(self._abs(drop.path), str(target), recursive=drop.is_dir)
        return target


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol
    return "file" in protocols


def copy_tree(source: Path, dest_url: str) -> str:
    """Copy a local file or folder byte for byte to ``dest_url`` (any fsspec store).

    A folder's contents land in ``dest_url`` itself even when it already exists
    (a retried run): fsspec nests a second copy unless both sides end in '/'.
    """
    fs, dest = fsspec.core.url_to_fs(dest_url)
    dest = dest.rstrip("/")
    if source.is_dir():
        fs.makedirs(dest, exist_ok=True)
        fs.put(str(source) + "/", dest + "/", recursive=True)
    else:
        fs.makedirs(posixpath.dirname(dest), exist_ok=True)
        fs.put(str(source), dest)
    return dest_url


def _modified(info: dict) -> datetime:
    value = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or info.get("created")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(float(value or 0), tz=timezone.utc)
