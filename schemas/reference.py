"""Reference data (Caf codes, SMIC, legal bounds) loaded from schemas/reference/*.csv."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources

CENT = Decimal("0.01")
MAYOTTE = "976"


def round_cents(value: Decimal) -> Decimal:
    """Round half-up to the cent."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Caf:
    code: str
    name: str
    in_scope: bool


@dataclass(frozen=True)
class Smic:
    effective: date
    hourly: Decimal

    @property
    def monthly(self) -> Decimal:
        """Full-time monthly value: hourly × 35 × 52 / 12, rounded half-up to the cent."""
        return round_cents(self.hourly * 35 * 52 / 12)


@dataclass(frozen=True)
class Bound:
    name: str  # remuneration_garantie_max, aide_au_poste_max, ...
    percent: Decimal  # of the full-time monthly SMIC
    effective: date
    source: str


@dataclass(frozen=True)
class Reference:
    """The shipped reference tables; every lookup is by date so a new value is one CSV line."""

    cafs: tuple[Caf, ...]
    smic: tuple[Smic, ...]  # sorted by effective date
    bounds: tuple[Bound, ...]  # sorted by effective date

    def caf_codes_in_scope(self) -> frozenset[str]:
        return frozenset(c.code for c in self.cafs if c.in_scope)

    def caf_name(self, code: str) -> str | None:
        return next((c.name for c in self.cafs if c.code == code), None)

    def smic_on(self, day: date) -> Smic | None:
        """The SMIC in force on that day (None before the first known value)."""
        found = None
        for s in self.smic:
            if s.effective <= day:
                found = s
        return found

    def smic_monthly_on(self, day: date) -> Decimal | None:
        s = self.smic_on(day)
        return s.monthly if s else None

    def smic_monthly_for_year(self, year: int) -> Decimal | None:
        """For an RG of year N: the monthly SMIC in force on 1 November N."""
        return self.smic_monthly_on(date(year, 11, 1))

    def bound_percent(self, name: str, day: date) -> Decimal | None:
        """The percentage of a named bound in force on that day."""
        found = None
        for b in self.bounds:
            if b.name == name and b.effective <= day:
                found = b.percent
        return found

    def bound_amount(self, name: str, year: int, taux: Decimal) -> Decimal | None:
        """Monthly SMIC (1 November N) × percent/100 × taux/100, rounded half-up to the cent."""
        monthly = self.smic_monthly_for_year(year)
        pct = self.bound_percent(name, date(year, 11, 1))
        if monthly is None or pct is None:
            return None
        return round_cents(monthly * pct / 100 * taux / 100)


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("schemas").joinpath("reference", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines(), delimiter=";"))


@cache
def load_reference() -> Reference:
    """Read the three reference CSVs once."""
    cafs = tuple(Caf(r["code_caf"], r["nom"], r["dans_perimetre"] == "O") for r in _rows("caf.csv"))
    smic = tuple(
        sorted(
            (Smic(date.fromisoformat(r["date_effet"]), Decimal(r["horaire_brut"])) for r in _rows("smic.csv")),
            key=lambda s: s.effective,
        )
    )
    bounds = tuple(
        sorted(
            (
                Bound(r["borne"], Decimal(r["pourcentage_smic"]), date.fromisoformat(r["date_effet"]), r["source"])
                for r in _rows("remuneration_garantie.csv")
            ),
            key=lambda b: b.effective,
        )
    )
    return Reference(cafs=cafs, smic=smic, bounds=bounds)
