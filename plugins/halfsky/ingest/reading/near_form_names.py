"""Names that are almost a form's name: ``资金收支表``, ``资金收支明细``, ``fund.csv``, ``activities``.

A sheet or file named so is meant to be the form. Ignored with a warning, its rows would go unread,
and in a correction the period's money would leave the warehouse with them; so it is an error that
names the form it resembles (the sender renames it, or removes it).

Names are compared after NFKC (full-width to half-width), case folding, and without spaces,
punctuation and separators (``Funds_2026 ``, ``（资金收支）``). A name is close to a form's English
or Chinese name when it

- contains it: ``资金收支表``, ``2026年9月资金收支``, ``funds2026``;
- is part of it, at least 2 hanzi or 4 letters long: ``资金``, ``fund``, ``benefic``;
- or is alike by difflib's ratio (matching characters over both lengths) of at least 0.75:
  ``activities`` (0.78), ``beneficiary`` (0.83), ``fudns`` (0.8), ``资金收入`` (0.75), while
  ``notes`` is 0.6 from ``sites`` and ``Sheet1`` 0.55.
"""

from __future__ import annotations

import difflib
import unicodedata

from halfsky.contract.forms import FORMS, Form

MIN_RATIO = 0.75


def _key(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in text if ch.isalnum())


def _long_enough(part: str) -> bool:
    return len(part) >= (4 if part.isascii() else 2)


def _close(key: str, form_key: str) -> bool:
    if form_key in key or (key in form_key and _long_enough(key)):
        return True
    return difflib.SequenceMatcher(None, key, form_key, autojunk=False).ratio() >= MIN_RATIO


def form_resembled_by(name: str) -> Form | None:
    """The form whose name this (not a form's) name resembles most closely, if it resembles one."""
    key = _key(name)
    if not key:
        return None
    best, best_ratio = None, 0.0
    for form in FORMS.values():
        for form_key in (_key(form.name), _key(form.zh)):
            if _close(key, form_key):
                ratio = difflib.SequenceMatcher(None, key, form_key, autojunk=False).ratio()
                if ratio > best_ratio:
                    best, best_ratio = form, ratio
    return best
