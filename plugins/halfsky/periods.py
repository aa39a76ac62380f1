"""Reporting periods (calendar months, YYYY-MM) and their deadlines."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def is_period(text: str) -> bool:
    return bool(_PERIOD.match(text))


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def next_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def period_bounds(period: str) -> tuple[date, date]:
    """First and last day of a period."""
    first = date(int(period[:4]), int(period[5:7]), 1)
    nxt = next_period(period)
    return first, date(int(nxt[:4]), int(nxt[5:7]), 1) - timedelta(days=1)


def deadline(period: str) -> datetime:
    """Reports are due by the 10th of the next month, 23:59 Asia/Shanghai."""
    nxt = next_period(period)
    return datetime.combine(date(int(nxt[:4]), int(nxt[5:7]), 10), time(23, 59, 59), SHANGHAI)


def is_late(period: str, received_at: datetime) -> bool:
    return received_at > deadline(period)


def is_future(period: str, as_of: datetime) -> bool:
    """A period that has not started by the run's date (in Shanghai) is in the future."""
    return period > period_of(as_of.astimezone(SHANGHAI).date())
