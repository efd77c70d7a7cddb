"""Paris calendar days as SQL bounds on a UTC datetime column (every read's « du » and « au » filters)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy.sql.elements import ColumnElement

from exchange.core.clock import paris_day_start


def within_days(column: ColumnElement[Any], du: date | None, au: date | None) -> list[Any]:
    """`column` (a UTC datetime) within the Paris calendar days du..au, each bound optional."""
    where = []
    if du:
        where.append(column >= paris_day_start(du))
    if au:
        where.append(column < paris_day_start(au + timedelta(days=1)))
    return where
