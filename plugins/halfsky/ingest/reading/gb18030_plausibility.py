"""Is text that decoded as GB18030 really GB18030, or another two-byte encoding read wrongly?

GB18030 gives a character to almost every pair of bytes, so Big5 (or Shift-JIS, EUC-KR) decodes
without an error, into nonsense: Big5's 王秀英 reads as ``╭璣``. What such nonsense is made of is
what tells it apart. Chinese text is nearly all *common* characters; a wrong two-byte encoding
turns about two thirds of its characters into others:

- common: GB2312's 6,763 hanzi (levels 1 and 2) and its rows of punctuation, numerals and
  full-width forms, CJK and general punctuation, and Latin letters with accents (pinyin, Uyghur and
  Mongolian names written in Latin letters);
- rare: the other hanzi (GBK's extensions): rarer surname and given-name characters (喆, 堃, 玥),
  common enough in real names, never a sign on their own;
- odd: every other character GB18030 writes in two bytes: kana, Greek, Cyrillic, bopomofo, box
  drawing, squared and circled signs, private use. Real text holds almost none.

Only characters GB18030 writes in two bytes are counted: a two-byte encoding read wrongly never
produces the four-byte ones (Arabic-script Uyghur, Mongolian script, the rarest hanzi, emoji), so
those are never held against a file. UTF-8 is not judged here: bytes that are not UTF-8 almost
never decode as UTF-8.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass

# Text is implausible when this share of its counted characters is not common, at least MIN_ODD of
# them odd. Big5 read as GB18030 gives about 0.67 (0.35 at the least for a file of ten names); real
# Chinese text a few hundredths, a file of names each with one rare character 0.5 but no odd one.
UNCOMMON_SHARE = 0.3
MIN_ODD = 2
_GB2312_HANZI_LEADS = range(0xB0, 0xF8)
_GB2312_PUNCTUATION_LEADS = (0xA1, 0xA2, 0xA3)  # punctuation, numerals (①, Ⅱ), full-width ASCII
_COMMON_RANGES = (
    (0x00A0, 0x024F),  # Latin-1 and Latin Extended-A/B: · (the 间隔号 of 阿依古丽·吐尔逊), ü, é, €
    (0x2000, 0x206F),  # general punctuation
    (0x3000, 0x303F),  # CJK symbols and punctuation: 〇 of 二〇二六, 《》, 【】
    (0xFF00, 0xFFEF),  # half-width and full-width forms
)
_HANZI_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))


@dataclass(frozen=True)
class Tally:
    counted: int
    rare: int
    odd: int
    examples: str  # a few of the odd characters, most frequent first: what the sender would see in the cells

    @property
    def implausible(self) -> bool:
        return self.odd >= MIN_ODD and (self.rare + self.odd) > UNCOMMON_SHARE * self.counted


def character_class(ch: str) -> str | None:
    """'common', 'rare' or 'odd'; None for a character not counted (ASCII, or four bytes in GB18030)."""
    if ch.isascii():
        return None
    encoded = ch.encode("gb18030")
    if len(encoded) != 2:
        return None
    try:
        lead = ch.encode("gb2312")[0]
    except UnicodeEncodeError:
        lead = None
    code = ord(ch)
    if lead in _GB2312_HANZI_LEADS or lead in _GB2312_PUNCTUATION_LEADS or any(a <= code <= b for a, b in _COMMON_RANGES):
        return "common"
    if any(a <= code <= b for a, b in _HANZI_RANGES):
        return "rare"
    return "odd"


def tally(text: str) -> Tally:
    counted = rare = odd = 0
    examples = []
    for ch, n in Counter(text).most_common():  # each distinct character classified once: a 200 MB file stays quick
        kind = character_class(ch)
        if kind is None:
            continue
        counted += n
        if kind == "rare":
            rare += n
        elif kind == "odd":
            odd += n
            # a private-use character shows as nothing: named by its code point
            examples.append(f"U+{ord(ch):04X}" if unicodedata.category(ch) == "Co" else ch)
    return Tally(counted, rare, odd, " ".join(sorted(examples[:6], key=lambda e: e.startswith("U+"))))
