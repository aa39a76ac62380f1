"""Decoding a text drop (a csv file, a JSON document): UTF-8 or GB18030, as prefecture offices save them.

A file that is neither is refused, and so is one that decodes as GB18030 only by being something else: a file
mixing UTF-8 and GB18030 lines, or Big5 and other two-byte encodings read as GB18030 into implausible Chinese.
Nothing is ever loaded garbled.
"""

from __future__ import annotations

import re

from halfsky.ingest.reading.drop import DropRejected
from halfsky.ingest.reading.gb18030_plausibility import tally


def decode_text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise DropRejected("undecodable", f"{name} is neither UTF-8 nor GB18030") from None
    _refuse_mixed_encodings(data, name)
    _refuse_implausible_gb18030(text, name)
    return text


def _refuse_implausible_gb18030(text: str, name: str) -> None:
    """Bytes of another two-byte encoding (Big5…) decode as GB18030 too, into nonsense: never loaded garbled."""
    found = tally(text)
    if found.implausible:
        raise DropRejected("undecodable", (
            f"{name} 按 GB18030 读出的文字不像中文（{found.odd + found.rare:,}/{found.counted:,} 个非常用字符，如 {found.examples}），"
            f"可能是繁体 Big5 等其他编码：请另存为 UTF-8 或 GB18030 / {name} read as GB18030 is not plausible Chinese "
            f"({found.odd + found.rare:,} of {found.counted:,} characters uncommon, e.g. {found.examples}): it seems saved in "
            "another encoding (Big5?); save it as UTF-8 or GB18030"))


# Chinese text as UTF-8: three bytes per character. GB18030 can decode many such runs too, into other
# characters, so a file mixing the two would load garbled names without an error.
_UTF8_CJK = re.compile(rb"[\xe3-\xe9][\x80-\xbf]{2}")
# A line that reads as UTF-8 Chinese: ASCII, CJK punctuation, ideographs and full-width forms only (GB18030
# bytes that happen to be valid UTF-8 read as Latin, Cyrillic, symbols… almost always).
_CHINESE_LINE = re.compile(r"[\x00-\x7f\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]*")


def _refuse_mixed_encodings(data: bytes, name: str) -> None:
    """A file that is not UTF-8 as a whole but has lines of Chinese that are mixes encodings."""
    if not _UTF8_CJK.search(data):
        return
    first_utf8 = first_other = None
    for number, line in enumerate(data.splitlines(), start=1):
        if line.isascii():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            first_other = first_other or number
        else:
            if _CHINESE_LINE.fullmatch(text) and _UTF8_CJK.search(line):
                first_utf8 = first_utf8 or number
        if first_utf8 and first_other:
            raise DropRejected("undecodable", f"{name} mixes encodings: line {first_utf8} is UTF-8, line {first_other} is not; "
                                              "save the whole file as UTF-8 (or as GB18030)")
