"""Files that operating systems and office suites leave beside the files people make, unseen by them.

macOS writes ``._name`` (AppleDouble: resource forks on a FAT or network share) and ``.DS_Store``;
Windows ``Thumbs.db`` and ``desktop.ini``; Excel and WPS ``~$name`` while a workbook is open,
LibreOffice ``.~lock.name#``. A sender cannot see them, so they can neither remove them nor be told
that they are forms: a folder drop ignores them with a warning, and the landing listing skips them.
"""

from __future__ import annotations

_PREFIXES = ("._", "~$", ".~lock")
_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})


def is_os_litter(name: str) -> bool:
    return name.startswith(_PREFIXES) or name.lower() in _NAMES
