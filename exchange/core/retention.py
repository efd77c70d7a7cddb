"""Retention rules, pure: durations, the declaration year of a file, and what is due for purge on a date."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from exchange.errors import TerminalError

# The kinds of personal data the service keeps, in the order a purge report lists them: key → French label.
KINDS = {
    "copies": "Copies reçues (stockage local et archive/ de la zone de dépôt)",
    "comptes_rendus": "Comptes rendus (retour/ de la zone de dépôt)",
    "identity": "Identité des travailleurs (enregistrements et anomalies)",
    "outputs": "Fichiers pour les Caf (dossier de sortie)",
    "audit": "Journal d'audit",
    "runs": "Exécutions (historique des tâches)",
}

# Where a zero duration is refused (config key → why, in French).
NO_ZERO = {
    "comptes_rendus": "l'Esat doit pouvoir lire le compte rendu de son dépôt",
    "identity": "la Caf peut demander les déclarations pendant la prescription des indus d'AAH (art. L821-5 CSS)",
    "unfinished": "un fichier en quarantaine doit pouvoir être rejoué une fois le défaut corrigé",
    "audit": "le journal de qui a consulté quoi doit exister (RGPD, art. 5.2)",
}

_DURATION = re.compile(r"^\s*(-?\d+)\s*(ans?|mois|jours?|[ymd])\s*$", re.IGNORECASE)
_UNIT = {
    "an": "years",
    "ans": "years",
    "y": "years",
    "mois": "months",
    "m": "months",
    "jour": "days",
    "jours": "days",
    "d": "days",
}


class DurationError(TerminalError):
    """A retention duration that cannot be used (French message, without the key): the configuration is refused
    (terminal, stops the run)."""


@dataclass(frozen=True)
class Duration:
    """A whole number of years, months or days (calendar arithmetic: 1 an after 29/02 is 28/02)."""

    count: int
    unit: str  # years / months / days

    def after(self, day: date) -> date:
        """The day `self` after `day`."""
        if self.unit == "days":
            return date.fromordinal(day.toordinal() + self.count)
        months = self.count * (12 if self.unit == "years" else 1)
        index = day.year * 12 + day.month - 1 + months
        year, month = divmod(index, 12)
        month += 1
        return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))

    def before(self, day: date) -> date:
        """The latest day d with d + self <= day (the cutoff a purge on `day` uses)."""
        if self.unit == "days":
            return date.fromordinal(day.toordinal() - self.count)
        guess = Duration(-self.count, self.unit).after(day)
        while self.after(guess) > day:  # end-of-month clamping: step back until it fits…
            guess = date.fromordinal(guess.toordinal() - 1)
        while self.after(date.fromordinal(guess.toordinal() + 1)) <= day:  # …or forward while the next day does
            guess = date.fromordinal(guess.toordinal() + 1)
        return guess

    def __str__(self) -> str:
        word = {"years": ("an", "ans"), "months": ("mois", "mois"), "days": ("jour", "jours")}[self.unit]
        return f"{self.count} {word[0] if self.count == 1 else word[1]}"


def parse_duration(text: str, zero_forbidden: str | None = None) -> Duration:
    """« 2 ans », « 6 mois », « 30 jours » (or 2y, 6m, 30d); DurationError for anything else, a negative
    duration, or zero when `zero_forbidden` says why it may not be."""
    m = _DURATION.match(text)
    if m is None:
        raise DurationError(
            f"durée illisible {text!r} : un entier suivi de « ans », « mois » ou « jours » est attendu (ex. « 2 ans »)"
        )
    count, unit = int(m.group(1)), _UNIT[m.group(2).lower()]
    if count < 0:
        raise DurationError(f"durée négative {text!r} refusée")
    if count == 0 and zero_forbidden:
        raise DurationError(f"une durée nulle n'est pas permise : {zero_forbidden}")
    return Duration(count, unit)


def declaration_year(day: date) -> int:
    """The declaration year a day belongs to: the campaign of year N runs from 1 March N (changes) through
    its window, 1 December N to the end of February N+1."""
    return day.year if day.month >= 3 else day.year - 1


def window_end(year: int) -> date:
    """The first day after the campaign window of `year` (1 December year to the end of February year+1)."""
    return date(year + 1, 3, 1)


def window_open(year: int, as_of: date) -> bool:
    return as_of < window_end(year)


def file_year(processing_date: date, reference_year: int | None) -> int:
    """A file's declaration year: that of its processing date, or the reference year of its RG records when later."""
    year = declaration_year(processing_date)
    return max(year, reference_year) if reference_year is not None else year


@dataclass(frozen=True)
class FileFacts:
    """What the rules need to know about one received file."""

    file_id: int
    finished: bool  # answered (ACQUITTE) and every accepted record in force emitted
    year: int  # file_year()
    answered_on: date | None  # the day (Europe/Paris) it was last answered


def file_due(facts: FileFacts, duration: Duration, as_of: date, *, from_window: bool) -> bool:
    """Whether one kind of a file's data is due on `as_of`: never before the file is finished or while the
    campaign window of its year is open; then `duration` after the window's end (`from_window`: the worker's
    identity) or after the file was answered (copies, comptes rendus)."""
    if not facts.finished or window_open(facts.year, as_of):
        return False
    start = window_end(facts.year) if from_window else facts.answered_on
    return start is not None and duration.after(start) <= as_of


def unfinished_due(facts: FileFacts, duration: Duration, as_of: date) -> bool:
    """The upper bound for a file never finished (in QUARANTAINE, or answered with records never emitted): all
    its data is due `duration` after the later of its last change and the close of its year's campaign."""
    if facts.finished:
        return False
    start = max(window_end(facts.year), facts.answered_on or window_end(facts.year))
    return duration.after(start) <= as_of


def answer_describes(cr_csv: bytes, reception: dict[str, Any]) -> bool:
    """Whether a compte rendu (its CSV form) answers this reception of the ledger: same file name, processing
    date, statut and record counts. `<name>.CR.*` describes the latest answered reception of that name; after
    a restore from an older backup it may answer one the ledger does not know, which no purge removes."""
    import csv
    import io

    try:
        rows = csv.DictReader(io.StringIO(cr_csv.decode("utf-8-sig")), delimiter=";")
        first = next(rows)
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return False
    expected = {
        "fichier": reception["name"],
        "date_traitement": reception["processing_date"].isoformat(),
        "statut": reception["statut"] or "",
        "enregistrements_recus": str(reception["records_in"] or 0),
        "enregistrements_acceptes": str(reception["records_accepted"] or 0),
        "enregistrements_rejetes": str(reception["records_rejected"] or 0),
    }
    return all((first.get(k) or "") == v for k, v in expected.items())


def output_due(completed_on: date, year: int | None, duration: Duration, as_of: date) -> bool:
    """A Caf output file (an emission, finished on `completed_on`) is due `duration` after it was written,
    never while the campaign window of its year (or of the day it was written) is open."""
    latest = max(declaration_year(completed_on), year if year is not None else declaration_year(completed_on))
    return not window_open(latest, as_of) and duration.after(completed_on) <= as_of
