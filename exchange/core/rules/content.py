"""File-level content checks: F06 (name vs content SIRET), F05 (RG window, single year), W09 (late RG)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import polars as pl

from exchange.core.rules.values import TOTAL_PATTERN, is_scientific
from schemas.anomalies import Anomaly
from schemas.declaration import Kind

TOTAL_LABEL = re.compile(TOTAL_PATTERN)
DEADLINE_DAY = (1, 15)  # W09: an RG of year N is expected by 15 January N+1


def rg_window(year: int) -> tuple[date, date]:
    """1 December N … last day of February N+1."""
    return date(year, 12, 1), date(year + 1, 3, 1) - timedelta(days=1)


def _years(raw: pl.DataFrame) -> list[int]:
    """Distinct readable annee_reference values (an unreadable one is its record's R04)."""
    if "annee_reference" not in raw.columns:
        return []
    distinct = set(raw.get_column("annee_reference").to_list())
    return sorted({int(v) for v in distinct if v is not None and len(v) == 4 and v.isascii() and v.isdigit()})


def check_content(raw: pl.DataFrame, kind: Kind, file_siret: str, as_of: date) -> list[Anomaly]:
    """F06, then (RG) F05 annees_multiples / hors_periode: the first blocking one ends it; then W09.

    The columns are read as Python lists: for the few hundred records of a file that costs less than
    polars calls.
    """
    if "siret_esat" in raw.columns:
        differing = [
            s
            for s in raw.get_column("siret_esat").to_list()
            if s is not None and s != file_siret and not TOTAL_LABEL.match(s)
        ]  # a TOTAL row is R01
        if differing:
            found = pl.Series("siret_esat", differing, dtype=pl.String())
            scientific = found.filter(found.to_frame().select(is_scientific(pl.col("siret_esat"))).to_series())
            if scientific.len():
                return [
                    Anomaly.of(
                        "F06",
                        "notation_scientifique",
                        valeur=scientific[0],
                        detail=f"ceux du nom du fichier sont {file_siret}",
                    )
                ]
            spaced = [s for s in differing if "".join(s.split()) == file_siret]
            if spaced and len(spaced) == len(differing):  # the right SIRET, typed in groups
                return [Anomaly.of("F06", "espaces", valeur=spaced[0])]
            return [Anomaly.of("F06", "contenu", detail=file_siret, valeur=differing[0])]
    if kind != "RG":
        return []
    years = _years(raw)
    if len(years) > 1:
        return [Anomaly.of("F05", "annees_multiples", detail=", ".join(str(y) for y in years))]
    if not years:
        return []
    year = years[0]
    opens, closes = rg_window(year)
    if as_of > closes:  # the year is right; only the Caf can take these amounts now
        return [Anomaly.of("F05", "close", detail=str(year), valeur=str(year + 1))]
    if as_of < opens and year == as_of.year:
        return [Anomaly.of("F05", "trop_tot", detail=str(year))]
    if as_of < opens:
        return [Anomaly.of("F05", "hors_periode", detail=str(year))]
    if as_of > date(year + 1, *DEADLINE_DAY):
        return [Anomaly.of("W09")]
    return []
