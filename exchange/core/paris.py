"""Paris time: the calendar day in Europe/Paris (the default processing date), without the run's imports."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def today_in_paris() -> date:
    return datetime.now(PARIS).date()
