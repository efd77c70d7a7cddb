"""Reading raw string values (dates, decimals, years, O/N) into typed polars values, strictly."""

from __future__ import annotations

import calendar
from datetime import date

import polars as pl

DATE_COLUMNS: tuple[str, ...] = ("date_naissance", "date_entree_esat", "date_debut_mo", "date_effet")
AMOUNT_COLUMNS: tuple[str, ...] = (
    "remuneration_garantie_nette",
    "part_financee_esat_nette",
    "aide_au_poste_nette",
    "salaire_net_mo",
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
        pl.when(e.str.contains(_DMY))
        .then(e.str.to_date("%d/%m/%Y", strict=False))
        .when(e.str.contains(_YMD))
        .then(e.str.to_date("%Y-%m-%d", strict=False))
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


# --- why a value does not read: the specific cause a clerk can act on --------------------------------
MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
_SHORT_YEAR = r"^([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{2})$"
_SERIAL = r"^[0-9]{4,6}(?:[.,][0-9]+)?$"
_SCIENTIFIC = r"^[0-9]+(?:[.,][0-9]+)?[Ee][+]?[0-9]+$"
_CURRENCY = r"(?i)€|\bEUR\b|\beuros?\b|\$"
_NBSP = "[\u00a0\u202f\u2009]"  # no-break, narrow no-break and thin spaces
_THOUSANDS = (
    r"^-?[0-9]{1,3}(?:[ '’\u00a0\u202f\u2009][0-9]{3})+(?:[.,][0-9]+)?$"
    r"|^-?[0-9]{1,3}(?:\.[0-9]{3})+,[0-9]+$"
    r"|^-?[0-9]{1,3}(?:,[0-9]{3})+\.[0-9]+$"
)  # 1,250.00: an English-locale export
_ENGLISH_THOUSANDS = r"^-?[0-9]{1,3}(?:,[0-9]{3})+\.[0-9]+$"
_SPACES = r"[\s\u00a0\u202f\u2009]"
_POINT_THOUSANDS = r"^[1-9]\.[0-9]{3}$"  # 1.250: 1 250 € with a point between thousands (1,25 € is no monthly pay)
TOTAL_PATTERN = r"(?i)^(?:sous[- ]?)?tota(?:l|ux)(?:[^a-z]|$)"  # a spreadsheet's TOTAL / Sous-total row


def date_cause(e: pl.Expr, as_of: date) -> tuple[pl.Expr, pl.Expr]:
    """(variant of R04 for an unreadable date, the figure its message shows) — meaningful where unreadable."""
    short = e.str.extract_groups(_SHORT_YEAR)
    yy = short.struct.field("3").cast(pl.Int32, strict=False)
    century = pl.when(yy > as_of.year % 100).then(pl.lit("19")).otherwise(pl.lit("20"))
    example = pl.concat_str(
        [
            short.struct.field("1").str.zfill(2),
            pl.lit("/"),
            short.struct.field("2").str.zfill(2),
            pl.lit("/"),
            century,
            short.struct.field("3"),
        ]
    )
    dmy, ymd = e.str.contains(_DMY), e.str.contains(_YMD)
    day = pl.when(dmy).then(e.str.slice(0, 2)).otherwise(e.str.slice(8, 2)).cast(pl.Int32, strict=False)
    month = pl.when(dmy).then(e.str.slice(3, 2)).otherwise(e.str.slice(5, 2)).cast(pl.Int32, strict=False)
    year = pl.when(dmy).then(e.str.slice(6, 4)).otherwise(e.str.slice(0, 4)).cast(pl.Int32, strict=False)
    month_ok = month.is_between(1, 12)
    last_day = pl.date(year, pl.when(month_ok).then(month).otherwise(1), 1).dt.month_end().dt.day()
    month_name = (
        pl.when(month_ok)
        .then(month)
        .otherwise(1)
        .replace_strict(dict(enumerate(MONTHS_FR, start=1)), return_dtype=pl.String)
    )
    impossible = (
        pl.when(~month_ok)
        .then(pl.concat_str([pl.lit("il n'y a pas de mois "), month.cast(pl.String)]))
        .when(day < 1)
        .then(pl.lit("il n'y a pas de jour 0"))
        .otherwise(
            pl.concat_str(
                [
                    month_name,
                    pl.lit(" "),
                    year.cast(pl.String),
                    pl.lit(" n'a que "),
                    last_day.cast(pl.String),
                    pl.lit(" jours"),
                ]
            )
        )
    )
    variant = (
        pl.when(dmy | ymd)
        .then(pl.lit("jour_impossible"))
        .when(e.str.contains(_SHORT_YEAR))
        .then(pl.lit("annee_2_chiffres"))
        .when(e.str.contains(_SERIAL))
        .then(pl.lit("numero_de_serie"))
        .otherwise(pl.lit("format"))
    )
    detail = pl.when(dmy | ymd).then(impossible).when(e.str.contains(_SHORT_YEAR)).then(example).otherwise(pl.lit(""))
    return variant, detail


def amount_cause(e: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(variant of R06 for a bad amount, an example of the right form) — meaningful where the amount is bad."""
    digits_only = e.str.replace_all(_CURRENCY, "").str.replace_all(_SPACES, "").str.strip_chars()
    unthousanded = (
        pl.when(e.str.contains(_ENGLISH_THOUSANDS))
        .then(e.str.replace_all(",", "", literal=True))
        .when(e.str.contains(r","))
        .then(e.str.replace_all(_SPACES, "").str.replace_all(".", "", literal=True))
        .otherwise(e.str.replace_all(_SPACES, "").str.replace_all("'", "", literal=True))
    )
    variant = (
        pl.when(e.str.contains(_CURRENCY))
        .then(pl.lit("symbole_monetaire"))
        .when(e.str.contains(_NBSP))
        .then(pl.lit("espace_insecable"))
        .when(e.str.contains(_THOUSANDS))
        .then(pl.lit("separateur_milliers"))
        .when(e.str.contains(_POINT_THOUSANDS))
        .then(pl.lit("point_milliers"))
        .when(is_number(e) & (decimals(e) > 2))
        .then(pl.lit("decimales"))
        .when(is_number(e) & e.str.starts_with("-"))
        .then(pl.lit("negatif"))
        .otherwise(pl.lit("montant"))
    )
    detail = (
        pl.when(e.str.contains(_CURRENCY))
        .then(digits_only)
        .when(e.str.contains(_POINT_THOUSANDS))
        .then(e.str.replace_all(".", "", literal=True))
        .otherwise(unthousanded.str.replace_all(r"[’]", ""))
    )
    return variant, detail


def siret_cause(e: pl.Expr) -> pl.Expr:
    """Variant of R03 for a SIRET not of 14 digits: scientific notation, spaces, or the plain form."""
    return (
        pl.when(e.str.contains(_SCIENTIFIC))
        .then(pl.lit("notation_scientifique"))
        .when(e.str.contains(_SPACES) & (e.str.replace_all(_SPACES, "").str.contains(r"^[0-9]{14}$")))
        .then(pl.lit("espaces"))
        .otherwise(pl.lit("forme"))
    )


def nir_cause(e: pl.Expr) -> pl.Expr:
    """Variant of R02 for a NIR not of the NIR form: scientific notation, spaces, or the plain form."""
    return (
        pl.when(e.str.contains(_SCIENTIFIC))
        .then(pl.lit("notation_scientifique"))
        .when(e.str.contains(_SPACES))
        .then(pl.lit("espaces"))
        .when(e.str.contains(r"^[1-8][0-9]{4}(?:[0-9]{2}|2[AB])[0-9]{6}$"))
        .then(pl.lit("sans_cle"))
        .otherwise(pl.lit("forme"))
    )


def is_total(e: pl.Expr) -> pl.Expr:
    """The value opens a spreadsheet's total row (« TOTAL », « Sous-total »)."""
    return e.str.strip_chars().str.contains(TOTAL_PATTERN).fill_null(False)


def is_scientific(e: pl.Expr) -> pl.Expr:
    """A number a spreadsheet wrote in scientific notation (8,12346E+13)."""
    return e.str.contains(_SCIENTIFIC).fill_null(False)


def has_spaces(e: pl.Expr) -> pl.Expr:
    """The value holds a space (ordinary or non-breaking) inside it."""
    return e.str.contains(_SPACES).fill_null(False)
