"""Files only their owner may read, from the first byte: secrets, env files, quarantined drops, reports.

``write_private`` opens the file 0600 whatever the umask, never through a link, and narrows an existing one
to 0600 before the new text goes in, so no byte is ever readable by anyone else, not for a moment.
``made_once`` and ``secret`` keep a value made once per place (a checkout's keys and passwords, never in the
repository): read when present and long enough, otherwise made and written with ``write_private``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

PRIVATE_FILE = 0o600
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def open_private(path: Path | str, *, exclusive: bool = False) -> int:
    """A file descriptor for writing ``path`` from its start, mode 0600 before any byte is written.

    Created 0600 (``exclusive``: FileExistsError if it exists), or an existing one truncated and narrowed to
    0600 first. A link at ``path`` is never followed (OSError, ELOOP).
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC) | _NOFOLLOW
    fd = os.open(path, flags, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)  # the umask cannot widen a new file, but an existing one keeps its mode
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private(path: Path | str, text: str, *, exclusive: bool = False, encoding: str | None = None,
                  newline: str | None = None) -> None:
    """Write ``text`` to a file only its owner can read, from the first byte (``open_private``)."""
    with os.fdopen(open_private(path, exclusive=exclusive), "w", encoding=encoding, newline=newline) as fh:
        fh.write(text)


def _read_private(path: Path) -> str | None:
    """The text of ``path``, stripped, after narrowing it to 0600 (one an older halfsky left wider); None if
    there is no such file. A link is not followed."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except FileNotFoundError:
        return None
    with os.fdopen(fd) as fh:
        os.fchmod(fd, PRIVATE_FILE)
        return fh.read().strip()


def made_once(path: Path, make: Callable[[], str], *, min_length: int = 1) -> str:
    """The text of ``path`` (stripped), made once with ``make()`` and kept 0600.

    A file shorter than ``min_length`` (empty, or a key too short for its use) is made again. When two
    processes make it at once, one writes and both read what it wrote.
    """
    value = _read_private(path)
    if value is not None and len(value) >= min_length:
        return value
    try:
        write_private(path, make(), exclusive=value is None)
    except FileExistsError:
        pass  # another process made it a moment ago
    value = _read_private(path)
    if value is None or len(value) < min_length:
        raise RuntimeError(f"{path}: the secret made there is shorter than {min_length} characters")
    return value


def secret(path: Path, nbytes: int = 32, *, min_length: int | None = None) -> str:
    """A random secret made once at ``path`` (``secrets.token_urlsafe(nbytes)``, 0600) and read from then on.

    One shorter than ``min_length`` characters (default ``nbytes``) is replaced: a key too short for its use
    (JWTs signed with HMAC-SHA512 want 64 bytes) is never used.
    """
    return made_once(path, lambda: secrets.token_urlsafe(nbytes) + "\n",
                     min_length=nbytes if min_length is None else min_length)
