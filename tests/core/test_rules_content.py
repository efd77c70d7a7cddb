"""File-level content checks: F06 name vs content, F05 window and single year, W09 late RG."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from exchange.core.rules import check_content
from schemas.anomalies import Anomaly
from schemas.declaration import columns

SIRET = "81234567600017"


def raw(kind: str, **values: list[str | None]) -> pl.DataFrame:
    n = len(next(iter(values.values())))
    data = {"ligne": list(range(2, 2 + n))}
    for c in columns(kind):
        data[c] = values.get(c, [None] * n)
    return pl.DataFrame(data, schema={"ligne": pl.Int64, **dict.fromkeys(columns(kind), pl.String)})


def rg(years: list[str | None], sirets: list[str | None] | None = None) -> pl.DataFrame:
    return raw("RG", annee_reference=years, siret_esat=sirets or [SIRET] * len(years))


def test_all_well_gives_nothing():
    assert check_content(rg(["2025", "2025"]), "RG", SIRET, date(2025, 12, 15)) == []
    assert check_content(raw("CA", siret_esat=[SIRET, SIRET]), "CA", SIRET, date(2025, 7, 1)) == []


@pytest.mark.parametrize("kind", ["RG", "CA"])
def test_f06_a_siret_differs_from_the_file_name(kind):
    frame = raw(
        kind, siret_esat=[SIRET, "44306184100021"], **({"annee_reference": ["2025", "2025"]} if kind == "RG" else {})
    )
    got = check_content(frame, kind, SIRET, date(2025, 12, 15))
    assert got == [Anomaly.of("F06", "contenu", detail=SIRET, valeur="44306184100021")]
    assert got[0].ligne is None
    assert got[0].champ == "siret_esat"
    assert got[0].gravite == "BLOQUANTE"
    assert got[0].message == (
        "Le SIRET du nom du fichier (81234567600017) diffère du SIRET de l'Esat déclaré dans le fichier (colonne "
        "siret_esat : « 44306184100021 ») : corrigez le nom du fichier ou le SIRET déclaré."
    )


def test_f06_siret_in_scientific_notation_says_so():
    frame = rg(["2025", "2025"], [SIRET, "8,12346E+13"])
    got = check_content(frame, "RG", SIRET, date(2025, 12, 15))
    assert [a.message for a in got] == [
        "Le SIRET de l'Esat (colonne siret_esat) s'affiche « 8,12346E+13 » : le tableur l'a converti en nombre en "
        "notation scientifique et a perdu des chiffres. Mettez la colonne au format Texte, saisissez à nouveau les "
        "14 chiffres (ceux du nom du fichier sont 81234567600017) et renvoyez le fichier."
    ]


def test_empty_siret_is_the_records_r01_not_f06():
    assert check_content(rg(["2025", "2025"], [SIRET, None]), "RG", SIRET, date(2025, 12, 15)) == []


def test_f06_comes_before_f05():
    got = check_content(rg(["2024", "2025"], [SIRET, "44306184100021"]), "RG", SIRET, date(2025, 12, 15))
    assert got == [Anomaly.of("F06", "contenu", detail=SIRET, valeur="44306184100021")]


def test_f05_several_years():
    got = check_content(rg(["2025", "2024", "2025", None]), "RG", SIRET, date(2025, 12, 15))
    assert got == [Anomaly.of("F05", "annees_multiples", detail="2024, 2025")]
    assert "(2024, 2025)" in got[0].message
    assert got[0].champ == "annee_reference"


def test_unreadable_year_is_the_records_r04_not_f05():
    assert check_content(rg(["2025", "25", None]), "RG", SIRET, date(2025, 12, 15)) == []


@pytest.mark.parametrize(
    "as_of,variant,sentence",
    [
        (
            date(2025, 11, 30),
            "trop_tot",
            "La déclaration RG de l'année 2025 ne peut être reçue qu'à partir du 1er "
            "décembre 2025 : renvoyez le fichier à partir de cette date.",
        ),
        (date(2025, 12, 1), None, None),
        (date(2026, 2, 28), None, None),
        (
            date(2026, 3, 1),
            "close",
            "La période de déclaration RG de l'année 2025 est close (fin février 2026) : le "
            "fichier ne peut plus être traité ici. Contactez votre Caf pour lui transmettre ces rémunérations.",
        ),
        (
            date(2024, 12, 15),
            "hors_periode",
            "La déclaration RG de l'année 2025 est hors période : elle est reçue du "
            "1er décembre 2025 au dernier jour de février suivant. Vérifiez l'année de référence.",
        ),
    ],
)
def test_f05_window(as_of, variant, sentence):
    """Outside the window, the message says the one thing to do: wait (too early), ask the Caf (closed: the
    year is right, « vérifiez l'année » would mislead), or check a year that lies in the future."""
    got = check_content(rg(["2025"]), "RG", SIRET, as_of)
    assert [(a.code, a.message) for a in got if a.code == "F05"] == ([("F05", sentence)] if variant else [])


def test_f05_window_ends_on_29_february_in_a_leap_year():
    assert check_content(rg(["2027"]), "RG", SIRET, date(2028, 2, 29)) == [Anomaly.of("W09")]
    assert check_content(rg(["2027"]), "RG", SIRET, date(2028, 3, 1)) == [
        Anomaly.of("F05", "close", detail="2027", valeur="2028")
    ]


@pytest.mark.parametrize(
    "as_of,late", [(date(2026, 1, 15), False), (date(2026, 1, 16), True), (date(2026, 2, 28), True)]
)
def test_w09_after_15_january(as_of, late):
    got = check_content(rg(["2025"]), "RG", SIRET, as_of)
    assert got == ([Anomaly.of("W09")] if late else [])
    if late:
        assert got[0].ligne is None and got[0].gravite == "NON_BLOQUANTE"


def test_ca_has_no_window():
    assert check_content(raw("CA", siret_esat=[SIRET]), "CA", SIRET, date(2026, 6, 1)) == []
