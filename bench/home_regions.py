"""How precisely id numbers' home regions resolve: the share at county, prefecture and province level.

One synthetic id number per issuing code of a mix (e.g. every code of the 1985
revision in Inner Mongolia), resolved as int_persons does. Prints figures;
asserts nothing:  python bench/home_regions.py
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable

from halfsky.contract.id_numbers import check_digit
from halfsky.contract.reference.code_history import home_regions
from halfsky.contract.reference.divisions import all_divisions
from halfsky.contract.reference.gb2260_revisions import revisions

LEVELS = ("county", "prefecture", "province", "unknown")


def home_region_level(id_number: str) -> str:
    """As int_persons resolves it: the issuing code's home region, else the province of the
    first two digits, else unknown."""
    resolved = home_regions().get(id_number[:6])
    if resolved:
        return resolved.level
    return "province" if id_number[:2] + "0000" in all_divisions() else "unknown"


def resolution_shares(ids: Iterable[str]) -> dict[str, float]:
    levels = Counter(home_region_level(i) for i in ids)
    total = sum(levels.values()) or 1
    return {level: levels[level] / total for level in LEVELS}


def counties(codes: Iterable[str]) -> list[str]:
    return [c for c in codes if not c.endswith("00")]


def synthetic_id(code: str) -> str:
    first17 = f"{code}19850701002"
    return first17 + check_digit(first17)


def main() -> int:
    started = time.perf_counter()
    home_regions()
    print(f"home_regions built in {time.perf_counter() - started:.2f} s: {len(home_regions())} issuing codes")
    in_1985 = dict(revisions())["198512"]
    ever = {code for _, schema in revisions() for code in schema}
    mixes = {
        "1985, Inner Mongolia, all codes": [c for c in in_1985 if c.startswith("15")],
        "1985, Inner Mongolia, county codes": counties(c for c in in_1985 if c.startswith("15")),
        "1985, Xinjiang, all codes": [c for c in in_1985 if c.startswith("65")],
        "1985, Xinjiang, county codes": counties(c for c in in_1985 if c.startswith("65")),
        "1985, Ili prefecture 6541xx counties": counties(c for c in in_1985 if c.startswith("6541")),
        "1985, all China, county codes": counties(in_1985),
        "ever listed 1980-2019, county codes": counties(sorted(ever)),
        "never listed (xx9999, xx0099)": [f"{p:02d}{tail}" for p in range(10, 100) for tail in ("9999", "0099")],
    }
    print(f"{'mix':40} {'codes':>6} " + " ".join(f"{level:>10}" for level in LEVELS) + "   retired")
    for name, codes in mixes.items():
        shares = resolution_shares(synthetic_id(c) for c in codes)
        retired = sum(c not in all_divisions() for c in codes) / len(codes)
        print(f"{name:40} {len(codes):6d} " + " ".join(f"{shares[level]:10.1%}" for level in LEVELS) + f"{retired:10.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
