"""Time, once: Paris (the zone every date shown to people is in), today's Paris day, and UTC (what is stored)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import overload
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def today_in_paris() -> date:
    """The calendar day in Europe/Paris (the default processing date)."""
    return datetime.now(PARIS).date()


def utcnow() -> datetime:
    """Now, in UTC: every stored datetime is UTC."""
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
@overload
def as_utc(value: datetime | None) -> datetime | None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """Datetimes read back from SQLite are naive; every stored datetime is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def paris_day_start(day: date) -> datetime:
    """Midnight of a Paris calendar day, in UTC (what stored datetimes are compared with)."""
    return datetime.combine(day, time(0), tzinfo=PARIS).astimezone(UTC)


def french_moment(moment: datetime) -> str:
    """A reception time as an Esat reads it: Paris time, « 10/12/2025 à 14:32 » (naive = UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M")
