"""Reporting periods and their deadlines: calendar months (YYYY-MM) and, since contract v2, years (YYYY)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_YEAR = re.compile(r"^(19|20)\d{2}$")


def is_month(text: str) -> bool:
    return bool(_PERIOD.match(text))


def is_year(text: str) -> bool:
    return bool(_YEAR.match(text))


def is_period(text: str) -> bool:
    """A month (monthly forms) or a year (annual forms)."""
    return is_month(text) or is_year(text)


def period_kind(period: str) -> str:
    return "year" if is_year(period) else "month"


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def next_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def period_bounds(period: str) -> tuple[date, date]:
    """First and last day of a period (a month or a year)."""
    if is_year(period):
        return date(int(period), 1, 1), date(int(period), 12, 31)
    first = date(int(period[:4]), int(period[5:7]), 1)
    nxt = next_period(period)
    return first, date(int(nxt[:4]), int(nxt[5:7]), 1) - timedelta(days=1)


# The annual forms due at the start of the next year (the count at the year's end); the others are the year's plan.
YEAR_END_FORMS = frozenset({"sites", "grassroots"})


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), SHANGHAI)


def deadline(period: str, forms: frozenset[str] | set[str] = frozenset()) -> datetime:
    """Monthly reports are due by the 10th of the next month, 23:59 Asia/Shanghai. An annual drop's plan
    (targets, population) is due by 31 January of its year; a drop holding the year-end count (sites, grassroots) by
    31 January of the next year, so resending the plan with the year-end count is on time."""
    if is_year(period):
        year = int(period) + (1 if YEAR_END_FORMS & set(forms) else 0)
        return _end_of_day(date(year, 1, 31))
    nxt = next_period(period)
    return _end_of_day(date(int(nxt[:4]), int(nxt[5:7]), 10))


def is_late(period: str, received_at: datetime, forms: frozenset[str] | set[str] = frozenset()) -> bool:
    return received_at > deadline(period, forms)


def is_future(period: str, as_of: datetime) -> bool:
    """A period that has not started by the run's date (in Shanghai) is in the future."""
    today = as_of.astimezone(SHANGHAI).date()
    return period > (str(today.year) if is_year(period) else period_of(today))
