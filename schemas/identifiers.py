"""Identifier checks (NIR, SIRET, SIREN, FINESS, numéro allocataire) as polars expressions, with Python twins."""

from __future__ import annotations

import re

import polars as pl

# NIR: sex 1/2/3/4/7/8 (3/4: NIA, v1.2), year, month, département (2 digits, 2A or 2B), 6 digits, 2-digit key.
# [0-9], not \d: \d would also accept non-ASCII digits.
NIR_FORM = r"^[123478][0-9]{4}(?:[0-9]{2}|2A|2B)[0-9]{8}$"
SIRET_FORM = r"^[0-9]{14}$"
SIREN_FORM = r"^[0-9]{9}$"
FINESS_FORM = r"^(?:[0-9]{9}|2[AB][0-9]{7})$"
ALLOCATAIRE_FORM = r"^[0-9]{1,7}$"
LA_POSTE_SIREN = "356000000"
LA_POSTE_HEAD_OFFICE = "35600000000048"

_NIR_RE = re.compile(NIR_FORM)
_SIRET_RE = re.compile(SIRET_FORM)


def nir_form_ok(e: pl.Expr) -> pl.Expr:
    """True when the value has the NIR form of rules.md R02 (false for null)."""
    return e.str.contains(NIR_FORM).fill_null(False)


def _nir_number(e: pl.Expr) -> pl.Expr:
    """The 13-character body as an integer, Corsica's 2A/2B read as 19/18 (null when not numeric)."""
    dept = e.str.slice(5, 2)
    body = (
        pl.when(dept == "2A")
        .then(e.str.slice(0, 5) + pl.lit("19") + e.str.slice(7, 6))
        .when(dept == "2B")
        .then(e.str.slice(0, 5) + pl.lit("18") + e.str.slice(7, 6))
        .otherwise(e.str.slice(0, 13))
    )
    return body.cast(pl.Int64, strict=False)


def nir_key_ok(e: pl.Expr) -> pl.Expr:
    """True when the NIR has its form and its key is 97 − (13-digit number mod 97)."""
    key = e.str.slice(13, 2).cast(pl.Int64, strict=False)
    return (nir_form_ok(e) & ((pl.lit(97) - _nir_number(e) % 97) == key)).fill_null(False)


def _digits_from_right(e: pl.Expr, length: int) -> list[pl.Expr]:
    """The `length` digits of an all-digit string, units first, by integer arithmetic (null when not numeric).

    One cast then divisions: about three times cheaper than slicing and casting each character, which
    matters because the record rules evaluate these expressions once per received file.
    """
    n = e.cast(pl.Int64, strict=False)
    return [(n // (10**k)) % 10 for k in range(length)]


def _luhn_ok(e: pl.Expr, length: int) -> pl.Expr:
    """Luhn checksum over a string of exactly `length` digits (form checked by the caller)."""
    total = pl.lit(0, dtype=pl.Int64)
    for k, d in enumerate(_digits_from_right(e, length)):
        if k % 2 == 1:  # every second digit from the right is doubled (2d, minus 9 when above 9)
            d = d * 2 - pl.when(d >= 5).then(9).otherwise(0)
        total = total + d
    return total % 10 == 0


def _digit_sum(e: pl.Expr, length: int) -> pl.Expr:
    total = pl.lit(0, dtype=pl.Int64)
    for d in _digits_from_right(e, length):
        total = total + d
    return total


def siret_form_ok(e: pl.Expr) -> pl.Expr:
    """True when the value is 14 digits."""
    return e.str.contains(SIRET_FORM).fill_null(False)


def siret_ok(e: pl.Expr) -> pl.Expr:
    """14 digits and Luhn; La Poste (SIREN 356000000, not its head office): digit sum multiple of 5."""
    la_poste = e.str.starts_with(LA_POSTE_SIREN) & (e != LA_POSTE_HEAD_OFFICE)
    check = pl.when(la_poste).then(_digit_sum(e, 14) % 5 == 0).otherwise(_luhn_ok(e, 14))
    return (siret_form_ok(e) & check).fill_null(False)


def siren_ok(e: pl.Expr) -> pl.Expr:
    """9 digits and Luhn."""
    return (e.str.contains(SIREN_FORM) & _luhn_ok(e, 9)).fill_null(False)


def finess_form_ok(e: pl.Expr) -> pl.Expr:
    """9 characters: digits, or 2A / 2B followed by 7 digits (no check key: it is not public)."""
    return e.str.contains(FINESS_FORM).fill_null(False)


def allocataire_ok(e: pl.Expr) -> pl.Expr:
    """1 to 7 digits."""
    return e.str.contains(ALLOCATAIRE_FORM).fill_null(False)


def nir_form_valid(s: str | None) -> bool:
    """Python twin of nir_form_ok for one value."""
    return s is not None and _NIR_RE.match(s) is not None


def nir_valid(s: str | None) -> bool:
    """Python twin of nir_key_ok: the NIR form and its key."""
    if not nir_form_valid(s):
        return False
    assert s is not None
    body = s[:5] + {"2A": "19", "2B": "18"}.get(s[5:7], s[5:7]) + s[7:13]
    return 97 - int(body) % 97 == int(s[13:])


def _luhn_valid(s: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(s)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


def siret_valid(s: str | None) -> bool:
    """Python twin of siret_ok for one value."""
    if s is None or _SIRET_RE.match(s) is None:
        return False
    if s.startswith(LA_POSTE_SIREN) and s != LA_POSTE_HEAD_OFFICE:
        return sum(int(c) for c in s) % 5 == 0
    return _luhn_valid(s)
