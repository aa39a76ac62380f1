"""A due drop as Airflow carries it from discover_drops to its ingest task, without the id number in its name.

XComs and rendered task fields live in the Airflow metadata database and show in the UI: a drop named
"王秀英_150102198503150025.json" must not be there whole. A path that holds no id number travels as it is; one
that does travels as a handle, its masked path (what the grid and the logs show) and a digest of the real path
keyed with the person key after ``#id:``: ``150100/2026-09/王秀英_**************0025.json#id:3f09…``. Keyed, so
the hidden digits cannot be found again by trying every region and birth date. The ingest task finds the drop
again by listing only the landing folders whose names mask to the handle's, and taking the path with that digest.
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath

from halfsky.ingest.reading.landing import Landing
from halfsky.contract.untrusted_text import mask_id_numbers_in, printable_name

MARK = "#id:"


def _digest(path: str) -> str:
    from halfsky.config.settings import person_hmac_key

    return hmac.new(person_hmac_key(), path.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()[:24]


def handle(path: str) -> str:
    """The path itself when it holds no id number (and no MARK), else its masked form and the real path's digest."""
    shown = mask_id_numbers_in(path)
    if shown == path and MARK not in path:
        return path
    return f"{shown}{MARK}{_digest(path)}"


def resolve(landing_url: str, handles: list[str]) -> list[str]:
    """The real (printable) paths, in the handles' order. A drop gone from the landing zone since it was
    listed keeps its handle: processing it then says it is no longer there, as for any vanished drop."""
    wanted = {h: h.rsplit(MARK, 1) for h in handles if MARK in h}
    found: dict[str, str] = {}
    if wanted:
        landing = Landing(landing_url)
        by_shown: dict[str, list[str]] = {}
        for shown, digest in wanted.values():
            by_shown.setdefault(shown, []).append(digest)
        for path in _paths_masking_to(landing, set(by_shown)):
            digest = _digest(path)
            if digest in by_shown.get(mask_id_numbers_in(path), []):
                found[digest] = path
    return [found.get(wanted[h][1], h) if h in wanted else h for h in handles]


def _paths_masking_to(landing: Landing, shown_paths: set[str]) -> list[str]:
    """Printable paths prefecture/period/name in the landing zone whose masked form is one of ``shown_paths``:
    only the folders on the way to them are listed."""
    level = [("", "")]  # (store path, printable path) of the folders reached so far
    for depth in range(3):
        wanted = {"/".join(s.split("/")[:depth + 1]) for s in shown_paths}
        reached = []
        for store, printable in level:
            folder = posixpath.join(landing.root, store) if store else landing.root
            try:
                entries = landing.fs.ls(folder, detail=True)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if entry["name"].endswith("/"):  # an object store's folder marker
                    continue
                name = posixpath.basename(entry["name"].rstrip("/"))
                rel = posixpath.join(printable, printable_name(name)) if printable else printable_name(name)
                if mask_id_numbers_in(rel) in wanted:
                    reached.append((posixpath.join(store, name) if store else name, rel))
        level = reached
    return [printable for _, printable in level]
