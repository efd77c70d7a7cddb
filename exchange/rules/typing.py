"""Reading raw string values (dates, decimals, years, O/N) into typed polars values, strictly."""
from __future__ import annotations

import calendar
from datetime import date

import polars as pl

DATE_COLUMNS: tuple[str, ...] = ("date_naissance", "date_entree_esat", "date_debut_mo", "date_effet")
AMOUNT_COLUMNS: tuple[str, ...] = (
    "remuneration_garantie_nette", "part_financee_esat_nette", "aide_au_poste_nette", "salaire_net_mo",
)
RATE_COLUMNS: tuple[str, ...] = ("taux_activite_esat", "taux_activite_avant", "taux_activite_apres")
HOURS_COLUMN = "heures_hebdo_mo"
AMOUNT_TYPE = pl.Decimal(10, 2)
RATE_TYPE = pl.Decimal(5, 2)

_DMY = r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$"
_YMD = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# A plain number: optional minus, digits, optional `,` or `.` then digits; no thousands separator.
_NUMBER = r"^-?[0-9]+(?:[.,][0-9]+)?$"


def parse_date(e: pl.Expr) -> pl.Expr:
    """JJ/MM/AAAA or AAAA-MM-JJ, exactly; anything else (or an impossible date) → null."""
    return (
        pl.when(e.str.contains(_DMY)).then(e.str.to_date("%d/%m/%Y", strict=False))
        .when(e.str.contains(_YMD)).then(e.str.to_date("%Y-%m-%d", strict=False))
        .otherwise(None)
    )


def is_number(e: pl.Expr) -> pl.Expr:
    """True for a plain decimal number (any sign, any number of decimals)."""
    return e.str.contains(_NUMBER).fill_null(False)


def decimals(e: pl.Expr) -> pl.Expr:
    """Number of digits after the decimal mark (0 when none); meaningful only where is_number."""
    return e.str.extract(r"[.,]([0-9]+)$", 1).str.len_chars().fill_null(0)


def hundredths(e: pl.Expr) -> pl.Expr:
    """A number with at most 2 decimals as an exact integer count of hundredths (Int64); else null."""
    ok = is_number(e) & (decimals(e) <= 2) & (e.str.len_chars() <= 16)
    norm = e.str.replace(",", ".", literal=True)
    negative = norm.str.starts_with("-")
    body = norm.str.strip_prefix("-")
    whole = body.str.extract(r"^([0-9]+)", 1).cast(pl.Int64, strict=False)
    frac = body.str.extract(r"\.([0-9]+)$", 1).str.pad_end(2, "0").cast(pl.Int64, strict=False).fill_null(0)
    value = whole * 100 + frac
    return pl.when(ok).then(pl.when(negative).then(-value).otherwise(value)).otherwise(None)


def to_decimal(e: pl.Expr, dtype: pl.Decimal) -> pl.Expr:
    """A number with at most 2 decimals as an exact Decimal (never through a float); else null."""
    ok = is_number(e) & (decimals(e) <= 2)
    return pl.when(ok).then(e.str.replace(",", ".", literal=True).cast(dtype, strict=False)).otherwise(None)


def parse_year(e: pl.Expr) -> pl.Expr:
    """A 4-digit year as Int32, else null."""
    return pl.when(e.str.contains(r"^[0-9]{4}$")).then(e.cast(pl.Int32, strict=False)).otherwise(None)


def parse_yes_no(e: pl.Expr) -> pl.Expr:
    """O/o → true, N/n → false, anything else → null."""
    up = e.str.to_uppercase()
    return pl.when(up == "O").then(True).when(up == "N").then(False).otherwise(None)


def add_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier), clamped to the end of a shorter month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def month_day(e: pl.Expr) -> pl.Expr:
    """A date's month × 100 + day, to compare anniversaries."""
    return e.dt.month().cast(pl.Int32) * 100 + e.dt.day().cast(pl.Int32)


def whole_years_between(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """Age-style difference in whole years from start to end (dates)."""
    years = end.dt.year().cast(pl.Int32) - start.dt.year().cast(pl.Int32)
    return years - (month_day(end) < month_day(start)).cast(pl.Int32)
