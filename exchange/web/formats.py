"""How the console writes values for people: Paris time, French dates, durations, numbers, badges, job names,
plurals."""

from __future__ import annotations

from datetime import date, datetime

from exchange.core.clock import PARIS
from exchange.core.vocabulary import JOB_LABELS

BADGES = {
    "OK": "success",
    "ACCEPTE": "success",
    "ACQUITTE": "success",
    "PARTIEL": "warning",
    "EN_COURS": "info",
    "IGNORE": "info",
    "DOUBLON": "info",
    "ECHEC": "error",
    "REJETE": "error",
    "QUARANTAINE": "error",
    "REFUSE": "error",
}


def job(value: str | None) -> str:
    """A job's name in French (« traitement de nuit » for nightly)."""
    return JOB_LABELS.get(value or "", value or "")


def paris(value: datetime | date | None, seconds: bool = False) -> str:
    """25/11/2026 02:00 (Paris time) for a datetime, 25/11/2026 for a date, '' for None."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S" if seconds else "%d/%m/%Y %H:%M")
    return value.strftime("%d/%m/%Y")


def hour(value: datetime | None) -> str:
    """« 08:12 » (Paris) when `value` is today, else « le 06/12/2026 à 23:40 » (exchange.core.health.since_hour)."""
    from exchange.core.clock import utcnow
    from exchange.core.health import since_hour

    return "" if value is None else since_hour(value, utcnow())


def duration(seconds: float | None) -> str:
    """« 2 min 05 s », « 1 h 03 min », « 0,4 s »; '' while unknown."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".", ",")
    s = round(seconds)
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def number(value: int | None) -> str:
    """12 345 with a narrow no-break space, as French writes it."""
    return "" if value is None else f"{value:,}".replace(",", "\u202f")


def badge(value: str | None) -> str:
    """The DSFR badge modifier for a statut or state."""
    return BADGES.get(value or "", "info")


def plural_of(n: int | None, singular: str, plural_form: str) -> str:
    """« 1 doublon », « 2 doublons », the number written as `number` does (0 and 1 take the singular)."""
    n = n or 0
    return f"{number(n)} {singular if abs(n) < 2 else plural_form}"
