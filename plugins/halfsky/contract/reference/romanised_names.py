"""English names of divisions, romanised from the Chinese by pypinyin: ``伊犁哈萨克自治州`` → ``Yili Hasake
Autonomous Prefecture``, ``呼和浩特市`` → ``Huhehaote City``.

The place is Hanyu Pinyin written as one word (with an apostrophe where a syllable would run into the one
before it: ``Xi'an``), the kind of division is translated, and the ethnic groups of an autonomous area
are their own words. Nothing is typed by hand per place, so a new or renamed division gets its name with
the code list. pypinyin reads most place names right but not every polyphone a place name uses
(单县 comes out ``Danxian``, not ``Shanxian``); analysts who need the conventional English name of a
place (Hohhot, Urumqi) join their own list on ``region_code``.
"""

from __future__ import annotations

from functools import lru_cache

from pypinyin import Style, lazy_pinyin

# The kind of division, longest first: 自治州 before 州, 地区 before 区.
_KINDS = (
    ("特别行政区", "Special Administrative Region"), ("自治区", "Autonomous Region"),
    ("自治州", "Autonomous Prefecture"), ("自治县", "Autonomous County"), ("自治旗", "Autonomous Banner"),
    ("地区", "Prefecture"), ("林区", "Forestry District"), ("特区", "Special District"),
    ("省", "Province"), ("市", "City"), ("盟", "League"), ("县", "County"), ("区", "District"), ("旗", "Banner"),
)
# The 55 minority nationalities, as autonomous areas' names spell them (with or without 族), longest first.
_NATIONALITIES = sorted((
    "蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "布依", "朝鲜", "满", "侗", "瑶", "白", "土家", "哈尼", "哈萨克",
    "傣", "黎", "傈僳", "佤", "畲", "高山", "拉祜", "水", "东乡", "纳西", "景颇", "柯尔克孜", "土", "达斡尔", "仫佬",
    "羌", "布朗", "撒拉", "毛南", "仡佬", "锡伯", "阿昌", "普米", "塔吉克", "怒", "乌孜别克", "俄罗斯", "鄂温克",
    "德昂", "保安", "裕固", "京", "塔塔尔", "独龙", "鄂伦春", "赫哲", "门巴", "珞巴", "基诺", "各",
), key=len, reverse=True)


def _word(chinese: str) -> str:
    """Pinyin as one capitalised word, with an apostrophe before a syllable starting with a, o or e."""
    syllables = lazy_pinyin(chinese, style=Style.NORMAL, errors="default")
    text = "".join(("'" + s if i and s[:1] in ("a", "o", "e") else s) for i, s in enumerate(syllables))
    return text[:1].upper() + text[1:]


def _split_nationalities(base: str) -> tuple[str, list[str]]:
    """``伊犁哈萨克`` → (``伊犁``, [``哈萨克``]); the place keeps at least two characters."""
    groups: list[str] = []
    while True:
        for name in _NATIONALITIES:
            for spelt in (name + "族", name):
                if base.endswith(spelt) and len(base) - len(spelt) >= 2:
                    groups.insert(0, spelt)
                    base = base[: -len(spelt)]
                    break
            else:
                continue
            break
        else:
            return base, groups


@lru_cache(maxsize=None)
def english_name(name_zh: str) -> str:
    """The division's name in pinyin with its kind in English; a name of no known kind is pinyin only."""
    for suffix, kind in _KINDS:
        if name_zh.endswith(suffix) and len(name_zh) > len(suffix):
            base = name_zh[: -len(suffix)]
            place, groups = _split_nationalities(base) if suffix.startswith("自治") else (base, [])
            return " ".join([_word(place), *(_word(g) for g in groups), kind])
    return _word(name_zh)
