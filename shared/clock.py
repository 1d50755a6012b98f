"""Time: UTC for instants, Asia/Shanghai for legal dates.

A contract registered at 00:30 on 1 January Beijing time belongs to the new year although it is still
31 December in UTC, so "today" is always taken in China Standard Time.

``IsoDate`` is the type of every date a client sends (query or body): an ISO 8601 calendar date ``YYYY-MM-DD``
and nothing else. Pydantic alone would also take ``0``, ``"0"`` or ``false`` as 1970-01-01 (seconds since the
epoch) and ``"20240101"`` as a date, so ``to=0`` silently meant the first day of 1970. ``IsoInstant`` is the same
rule for an instant a client sends: ISO 8601 date and time with its UTC offset (``Z`` or ``+08:00``), never a number
of seconds (pydantic would read ``updated_since=0.5`` as half a second after the epoch).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BeforeValidator
from pydantic_core import PydanticCustomError

__all__ = ["CHINA_TZ", "IsoDate", "IsoInstant", "china_date", "today_in_china", "utcnow"]

CHINA_TZ = ZoneInfo("Asia/Shanghai")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: Any) -> Any:
    # A date object passes (services call the models too); a datetime is not a legal date.
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value  # pydantic still checks that the day exists
    raise PydanticCustomError("date_format", "must be a date written YYYY-MM-DD")


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]

_ISO_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})"
)


def _iso_instant(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_INSTANT.fullmatch(value):
        return value  # pydantic still checks that the instant exists
    raise PydanticCustomError(
        "datetime_format", "must be an instant written YYYY-MM-DDTHH:MM:SS with its offset (Z, +08:00)"
    )


IsoInstant = Annotated[AwareDatetime, BeforeValidator(_iso_instant)]


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
