"""Time: UTC for instants, Asia/Shanghai for legal dates.

A contract registered at 00:30 on 1 January Beijing time belongs to the new year although it is still
31 December in UTC, so "today" is always taken in China Standard Time.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

__all__ = ["CHINA_TZ", "china_date", "today_in_china", "utcnow"]

CHINA_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> dt.datetime:
    """The current instant, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def china_date(instant: dt.datetime) -> dt.date:
    """The calendar date in Beijing of an aware instant."""
    if instant.tzinfo is None:
        raise ValueError("china_date needs an aware datetime")
    return instant.astimezone(CHINA_TZ).date()


def today_in_china() -> dt.date:
    """Today's date in Beijing (UTC+8)."""
    return china_date(utcnow())
