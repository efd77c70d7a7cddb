"""Record rules: every code and variant, with a failing and a passing case, on RG and CA raw frames."""

from __future__ import annotations

import csv
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.core.rules import RecordCheck, validate_records
from schemas.anomalies import ANOMALY_SCHEMA
from schemas.catalogue import rule
from schemas.declaration import CA_REQUIRED, RG_REQUIRED, columns
from schemas.fields import field_label
from schemas.models import model_for
from schemas.reference import load_reference
from tests.paths import EXAMPLES

AS_OF = date(2025, 12, 15)
DROP = EXAMPLES / "drop"

RG_BASE = {  # the example's Martin: valid
    "siret_esat": "81234567600017",
    "finess_esat": "750012345",
    "annee_reference": "2025",
    "nir": "185057800608491",
    "nom": "Martin",
    "prenoms": "Jérôme",
    "date_naissance": "12/05/1985",
    "numero_allocataire": "1234567",
    "code_caf": "78",
    "date_entree_esat": "01/09/2010",
    "taux_activite_esat": "100",
    "remuneration_garantie_nette": "862,35",
    "part_financee_esat_nette": "150,12",
    "aide_au_poste_nette": "712,23",
    "cumul_milieu_ordinaire": "N",
}
RG_CUMUL = {  # the example's N'Diaye: valid, with ordinary employment
    **RG_BASE,
    "nir": "190111305512391",
    "nom": "N'Diaye",
    "prenoms": "Moussa",
    "date_naissance": "1990-11-23",
    "numero_allocataire": "0456789",
    "code_caf": "75",
    "date_entree_esat": "2016-01-04",
    "taux_activite_esat": "60",
    "remuneration_garantie_nette": "517,41",
    "part_financee_esat_nette": "90,07",
    "aide_au_poste_nette": "427,34",
    "cumul_milieu_ordinaire": "O",
    "siret_employeur_mo": "30012345200157",
    "type_contrat_mo": "CDI",
    "date_debut_mo": "2024-02-01",
    "heures_hebdo_mo": "14",
    "salaire_net_mo": "612,50",
}
CA_BASE = {
    "siret_esat": "81234567600017",
    "nir": "292027512345620",
    "nom": "Lefèvre",
    "prenoms": "Anne Marie",
    "date_naissance": "03/02/1992",
    "code_caf": "75",
}
CA_HAUSSE = {
    **CA_BASE,
    "type_changement": "HAUSSE_TAUX",
    "date_effet": "01/01/2026",
    "taux_activite_avant": "50",
    "taux_activite_apres": "80",
}
CA_BAISSE = {
    **CA_BASE,
    "type_changement": "BAISSE_TAUX",
    "date_effet": "2025-12-01",
    "taux_activite_avant": "50",
    "taux_activite_apres": "40",
}
CA_DEPART = {
    **CA_BASE,
    "type_changement": "DEPART",
    "date_effet": "2025-11-30",
    "motif_depart": "ORIENTATION_MILIEU_ORDINAIRE",
}
CA_DEBUT = {
    **CA_BASE,
    "type_changement": "DEBUT_CUMUL_MO",
    "date_effet": "2026-01-05",
    "siret_employeur_mo": "39876543800054",
    "type_contrat_mo": "CDI",
    "date_debut_mo": "2026-01-05",
    "heures_hebdo_mo": "7",
}
CA_FIN = {**CA_BASE, "type_changement": "FIN_CUMUL_MO", "date_effet": "2025-12-01"}


def raw(kind: str, rows: list[dict], lignes: list[int] | None = None) -> pl.DataFrame:
    """A raw frame as the reader gives it: ligne + every column as String, empty → null."""
    lignes = lignes or list(range(2, 2 + len(rows)))
    data = {"ligne": lignes}
    for c in columns(kind):
        data[c] = [(r.get(c) or None) for r in rows]
    return pl.DataFrame(data, schema={"ligne": pl.Int64, **dict.fromkeys(columns(kind), pl.String)})


def check(kind: str, *rows: dict, as_of: date = AS_OF, lignes: list[int] | None = None) -> RecordCheck:
    return validate_records(raw(kind, list(rows), lignes), kind, as_of, load_reference())


def rg(**changes) -> dict:
    return {**RG_BASE, **changes}


def found(result: RecordCheck) -> list[tuple]:
    return [(a["ligne"], a["code"], a["champ"], a["message"]) for a in result.anomalies.iter_rows(named=True)]


class Message:
    """A catalogue template with the field's label filled: equal to a message rendered from it, whatever the
    value found (and the detail, unless one is given)."""

    def __init__(self, code: str, variant: str, champ: str, detail: str) -> None:
        r = rule(code, variant)
        label = field_label(champ or r.field) if (champ or r.field) else ""
        parts = {
            "champ": re.escape(label),
            "valeur": ".*",
            "detail": re.escape(detail) if detail else ".*",
            "ligne": "[0-9]+",
        }
        self.pattern = re.compile("".join(parts[n] if n else re.escape(t) for n, t in r.pieces()), re.S)
        self.code, self.variant = code, variant

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.pattern.fullmatch(other) is not None

    def __repr__(self) -> str:
        return f"<message {self.code} {self.variant}: {self.pattern.pattern}>"


def expected(code: str, variant: str = "", champ: str = "", detail: str = "", ligne: int = 2) -> tuple:
    r = rule(code, variant)
    return (ligne, code, champ or r.field, Message(code, variant, champ, detail))


def assert_only(result: RecordCheck, *items: tuple) -> None:
    assert found(result) == list(items)


# --- the spec's examples ------------------------------------------------------------------------


def read_csv_example(path: Path, kind: str) -> pl.DataFrame:
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = [{k.strip(): (v or "").strip() for k, v in r.items()} for r in csv.DictReader(f, delimiter=";")]
    return raw(kind, rows)


XML_RG_ROWS = [  # ESAT_44306184100021_RG_20251211_001.xml, lines of <salarie>
    {
        "siret_esat": "44306184100021",
        "annee_reference": "2025",
        "nir": "178022A01234583",
        "nom": "Santoni",
        "prenoms": "Paul",
        "date_naissance": "1978-02-14",
        "code_caf": "2A",
        "date_entree_esat": "2005-06-01",
        "taux_activite_esat": "80",
        "remuneration_garantie_nette": "689.88",
        "part_financee_esat_nette": "120.10",
        "aide_au_poste_nette": "569.78",
        "cumul_milieu_ordinaire": "N",
    },
    {
        "siret_esat": "44306184100021",
        "annee_reference": "2025",
        "nir": "288076912345670",
        "nom": "Dubois",
        "prenoms": "Claire",
        "date_naissance": "1988-07-30",
        "numero_allocataire": "7654321",
        "code_caf": "69",
        "date_entree_esat": "2012-09-17",
        "taux_activite_esat": "50",
        "remuneration_garantie_nette": "431.18",
        "part_financee_esat_nette": "75.06",
        "aide_au_poste_nette": "356.12",
        "cumul_milieu_ordinaire": "O",
        "siret_employeur_mo": "52345678800109",
        "type_contrat_mo": "CDD",
        "date_debut_mo": "2025-09-01",
        "heures_hebdo_mo": "10.5",
        "salaire_net_mo": "402.00",
    },
]
XML_CA_ROWS = [
    {
        "siret_esat": "44306184100021",
        "nir": "288076912345670",
        "nom": "Dubois",
        "prenoms": "Claire",
        "date_naissance": "1988-07-30",
        "numero_allocataire": "7654321",
        "code_caf": "69",
        "type_changement": "BAISSE_TAUX",
        "date_effet": "2025-12-01",
        "taux_activite_avant": "50",
        "taux_activite_apres": "40",
    },
]


@pytest.mark.parametrize(
    "kind,frame",
    [
        ("RG", lambda: read_csv_example(DROP / "esat-seine/depot/ESAT_81234567600017_RG_20251210_001.csv", "RG")),
        ("CA", lambda: read_csv_example(DROP / "esat-seine/depot/ESAT_81234567600017_CA_20251212_001.csv", "CA")),
        ("RG", lambda: raw("RG", XML_RG_ROWS, [5, 19])),
        ("CA", lambda: raw("CA", XML_CA_ROWS, [4])),
    ],
)
def test_spec_examples_give_no_anomaly(kind, frame):
    data = frame()
    result = validate_records(data, kind, AS_OF, load_reference())
    assert result.anomalies.height == 0
    assert result.typed["rejete"].to_list() == [False] * data.height
    assert result.typed["ligne"].to_list() == data["ligne"].to_list()
    model_for(kind).validate(result.typed)


def test_typed_values_are_exact():
    result = check("RG", RG_BASE, {**RG_CUMUL, "cumul_milieu_ordinaire": "o", "heures_hebdo_mo": "10,5"})
    t = result.typed
    assert t.schema["remuneration_garantie_nette"] == pl.Decimal(10, 2)
    assert t.schema["taux_activite_esat"] == pl.Decimal(5, 2)
    assert t.schema["annee_reference"] == pl.Int32
    assert t["remuneration_garantie_nette"].to_list() == [Decimal("862.35"), Decimal("517.41")]
    assert t["date_naissance"].to_list() == [date(1985, 5, 12), date(1990, 11, 23)]
    assert t["cumul_milieu_ordinaire"].to_list() == [False, True]
    assert t["heures_hebdo_mo"].to_list() == [None, Decimal("10.50")]
    assert t["annee_reference"].to_list() == [2025, 2025]
    assert t["nom"].to_list() == ["Martin", "N'Diaye"]
    model_for("RG").validate(t)


def test_unreadable_values_are_null_in_typed_and_reject_the_record():
    result = check("RG", rg(date_naissance="31/02/1985", taux_activite_esat="abc"), RG_CUMUL)
    t = result.typed
    assert t["date_naissance"].to_list() == [None, date(1990, 11, 23)]
    assert t["taux_activite_esat"].to_list() == [None, Decimal("60.00")]
    assert t["rejete"].to_list() == [True, False]
    model_for("RG").validate(t)


def test_three_faults_give_three_anomalies_sorted_by_ligne_then_code():
    result = check("RG", RG_BASE, rg(nom=None, code_caf="99", nir="185057800608492"), lignes=[3, 7])
    assert_only(
        result,
        expected("R01", "obligatoire", "nom", ligne=7),
        expected("R02", "cle", ligne=7),
        expected("R09", "code_caf", detail="99", ligne=7),
    )
    assert result.anomalies["nir"].to_list() == ["185057800608492"] * 3
    assert result.anomalies["gravite"].to_list() == ["BLOQUANTE"] * 3
    assert result.typed["rejete"].to_list() == [False, True]
    assert result.anomalies.schema == pl.Schema(ANOMALY_SCHEMA)


# --- R01 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", sorted(RG_REQUIRED))
def test_rg_required_field_missing_is_r01(field):
    result = check("RG", rg(**{field: None}))
    assert expected("R01", "obligatoire", field) in found(result)
    assert result.typed["rejete"].to_list() == [True]


@pytest.mark.parametrize("field", sorted(CA_REQUIRED))
def test_ca_required_field_missing_is_r01(field):
    result = check("CA", {**CA_FIN, field: None})
    assert expected("R01", "obligatoire", field) in found(result)


def test_missing_cumul_is_r01_not_r07():
    assert_only(check("RG", rg(cumul_milieu_ordinaire=None)), expected("R01", "obligatoire", "cumul_milieu_ordinaire"))


@pytest.mark.parametrize("field", ["nom", "prenoms"])
def test_names_longer_than_80_characters(field):
    assert_only(check("RG", rg(**{field: "É" * 81})), expected("R01", "trop_long", field))
    assert_only(check("RG", rg(**{field: "É" * 80})))


@pytest.mark.parametrize(
    "base,field",
    [
        (CA_HAUSSE, "taux_activite_avant"),
        (CA_HAUSSE, "taux_activite_apres"),
        (CA_BAISSE, "taux_activite_apres"),
        (CA_DEPART, "motif_depart"),
        (CA_DEBUT, "siret_employeur_mo"),
        (CA_DEBUT, "type_contrat_mo"),
        (CA_DEBUT, "date_debut_mo"),
        (CA_DEBUT, "heures_hebdo_mo"),
    ],
)
def test_ca_field_required_by_its_type(base, field):
    assert_only(check("CA", {**base, field: None}), expected("R01", "obligatoire", field))


@pytest.mark.parametrize(
    "base,field,value",
    [
        (CA_HAUSSE, "motif_depart", "DECES"),
        (CA_DEPART, "taux_activite_avant", "50"),
        (CA_FIN, "heures_hebdo_mo", "10"),
        (CA_BAISSE, "siret_employeur_mo", "39876543800054"),
        (CA_DEBUT, "taux_activite_apres", "40"),
    ],
)
def test_ca_field_its_type_does_not_use(base, field, value):
    assert_only(check("CA", {**base, field: value}), expected("R01", "interdit", field))


@pytest.mark.parametrize("base", [CA_HAUSSE, CA_BAISSE, CA_DEPART, CA_DEBUT, CA_FIN])
def test_every_ca_type_passes_as_given(base):
    result = check("CA", base)
    assert_only(result)
    model_for("CA").validate(result.typed)


def test_invalid_change_type_is_r09_and_conditional_fields_are_not_judged():
    result = check("CA", {**CA_HAUSSE, "type_changement": "HAUSSE", "motif_depart": "DECES"})
    assert_only(
        result,
        expected("R09", "liste", "type_changement", "HAUSSE_TAUX, BAISSE_TAUX, DEPART, DEBUT_CUMUL_MO, FIN_CUMUL_MO"),
    )


# --- R02, R03, R11, W10 ----------------------------------------------------------------------------


def test_nir_form_and_key():
    assert_only(check("RG", rg(nir="585057800608491")), expected("R02", "forme"))
    assert_only(check("RG", rg(nir="18505780060849")), expected("R02", "forme"))
    assert_only(check("RG", rg(nir="185057800608492")), expected("R02", "cle"))
    assert check("RG", rg(nir="585057800608491")).anomalies["message"][0] == (
        "Le NIR n'a pas la forme attendue, 15 caractères (sexe 1, 2, 3, 4, 7 ou 8, année, mois, département, 6 chiffres, "
        "clé) : vérifiez le NIR."
    )
    assert_only(check("RG", rg(nir="1 85 05 78 006 084 91")), expected("R02", "espaces"))


@pytest.mark.parametrize("sex", ["3", "4", "7", "8"])
def test_temporary_nir_is_w10_and_accepted(sex):
    """NIAs (3/4, v1.2) and provisional numbers (7/8): accepted, the Caf matches the worker by hand."""
    nir = sex + "850578006084"
    nir += f"{97 - int(nir) % 97:02d}"
    result = check("RG", rg(nir=nir))
    assert_only(result, expected("W10"))
    assert result.anomalies["gravite"].to_list() == ["NON_BLOQUANTE"]
    assert result.typed["rejete"].to_list() == [False]


@pytest.mark.parametrize("field,base", [("siret_esat", RG_BASE), ("siret_employeur_mo", RG_CUMUL)])
def test_siret_form_and_check_digit(field, base):
    assert_only(check("RG", {**base, field: "8123456760001"}), expected("R03", "forme", field))
    assert_only(check("RG", {**base, field: "8123456760001X"}), expected("R03", "forme", field))
    assert_only(check("RG", {**base, field: "81234567600018"}), expected("R03", "cle", field))
    assert check("RG", {**base, field: "81234567600018"}).anomalies["message"][0] == (
        f"Le champ {field_label(field)} vaut « 81234567600018 » : ce SIRET est invalide (chiffre de contrôle faux), "
        "vérifiez-le."
    )
    assert_only(check("RG", {**base, field: "8,12346E+13"}), expected("R03", "notation_scientifique", field))
    assert_only(check("RG", {**base, field: "812 345 676 00017"}), expected("R03", "espaces", field))
    assert_only(check("RG", {**base, field: "35600000000001"}))  # La Poste branch


def test_optional_identifiers_r11():
    assert_only(check("RG", rg(finess_esat="75001234")), expected("R11", "finess"))
    assert_only(check("RG", rg(finess_esat="2A0012345")))
    assert_only(check("RG", rg(finess_esat=None, numero_allocataire=None)))
    assert_only(check("RG", rg(numero_allocataire="12345678")), expected("R11", "allocataire"))
    assert_only(check("CA", {**CA_FIN, "numero_allocataire": "12a"}), expected("R11", "allocataire"))


# --- R04 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,variant,detail",
    [
        ("31/02/1985", "jour_impossible", "février 1985 n'a que 28 jours"),
        ("1985-13-12", "jour_impossible", "il n'y a pas de mois 13"),
        ("1985-5-12", "format", ""),
        ("12/05/85", "annee_2_chiffres", "12/05/1985"),
        ("12.05.1985", "format", ""),
        ("1985-05-12T00:00", "format", ""),
        ("31179", "numero_de_serie", ""),
    ],
)
def test_unreadable_birth_date(value, variant, detail):
    assert_only(check("RG", rg(date_naissance=value)), expected("R04", variant, "date_naissance", detail))


@pytest.mark.parametrize("value", ["12/05/1985", "1985-05-12"])
def test_both_date_forms_are_accepted(value):
    assert_only(check("RG", rg(date_naissance=value)))


@pytest.mark.parametrize(
    "kind,base,field",
    [
        ("RG", RG_BASE, "date_entree_esat"),
        ("RG", RG_CUMUL, "date_debut_mo"),
        ("CA", CA_HAUSSE, "date_effet"),
        ("CA", CA_DEBUT, "date_debut_mo"),
    ],
)
def test_unreadable_other_dates(kind, base, field):
    assert_only(check(kind, {**base, field: "2025-02-30"}), expected("R04", "jour_impossible", field))
    assert_only(check(kind, {**base, field: "le 2 mars"}), expected("R04", "format", field))


def test_annee_reference_must_be_4_digits():
    assert_only(check("RG", rg(annee_reference="25")), expected("R04", "annee_reference"))
    assert check("RG", rg(annee_reference="25")).typed["annee_reference"].to_list() == [None]


def test_birth_in_the_future():
    result = found(check("RG", rg(date_naissance="16/12/2025")))
    assert expected("R04", "naissance_future") in result
    assert expected("R04", "age") not in result


@pytest.mark.parametrize(
    "birth,bad",
    [
        ("16/12/2009", True),  # 15 years old on 2025-12-15
        ("15/12/2009", False),  # 16 that day
        ("16/12/1924", False),  # 100
        ("15/12/1924", True),  # 101 that day
    ],
)
def test_age_between_16_and_100(birth, bad):
    result = found(check("RG", rg(date_naissance=birth)))
    assert (expected("R04", "age") in result) is bad


def test_birth_year_and_month_against_nir():
    assert_only(check("RG", rg(date_naissance="12/05/1986")), expected("R04", "nir_annee"))
    assert_only(check("RG", rg(date_naissance="12/06/1985")), expected("R04", "nir_mois"))
    unknown_month = "1852078006084"
    unknown_month += f"{97 - int(unknown_month) % 97:02d}"
    assert_only(check("RG", rg(nir=unknown_month, date_naissance="12/06/1985")))
    # a malformed NIR is R02 only, nothing derived from it
    assert_only(check("RG", rg(nir="3860578006084XX", date_naissance="12/06/1985")), expected("R02", "forme"))


@pytest.mark.parametrize(
    "kind,base,field",
    [
        ("RG", RG_BASE, "date_entree_esat"),
        ("RG", RG_CUMUL, "date_debut_mo"),
        ("CA", CA_DEBUT, "date_debut_mo"),
    ],
)
def test_dates_before_16th_birthday(kind, base, field):
    birth = base["date_naissance"]
    day, month, year = birth.split("/") if "/" in birth else list(reversed(birth.split("-")))
    sixteen = date(int(year) + 16, int(month), int(day))
    before = (
        sixteen.replace(day=sixteen.day - 1) if sixteen.day > 1 else sixteen.replace(month=sixteen.month - 1, day=28)
    )
    assert_only(check(kind, {**base, field: before.isoformat()}), expected("R04", "avant_16_ans", field))
    assert expected("R04", "avant_16_ans", field) not in found(check(kind, {**base, field: sixteen.isoformat()}))


@pytest.mark.parametrize(
    "kind,base,field",
    [
        ("RG", RG_BASE, "date_entree_esat"),
        ("RG", RG_CUMUL, "date_debut_mo"),
        ("CA", CA_DEBUT, "date_debut_mo"),
    ],
)
def test_dates_more_than_3_months_ahead(kind, base, field):
    assert expected("R04", "trop_lointaine", field) in found(check(kind, {**base, field: "16/03/2026"}))
    assert expected("R04", "trop_lointaine", field) not in found(check(kind, {**base, field: "15/03/2026"}))


# --- R05, R06, R10 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,bad",
    [
        ("0", True),
        ("-10", True),
        ("100,01", True),
        ("50,125", True),
        ("abc", True),
        ("1 00", True),
        ("100", False),
        ("0,01", False),
        ("99.99", False),
    ],
)
def test_rg_activity_rate(value, bad):
    result = found(check("RG", rg(taux_activite_esat=value)))
    assert (expected("R05", "taux", "taux_activite_esat") in result) is bad
    if bad:
        assert [a[1] for a in result] == ["R05"]  # no W01/W02 on an unreadable rate


@pytest.mark.parametrize("field", ["taux_activite_avant", "taux_activite_apres"])
def test_ca_rates(field):
    assert_only(check("CA", {**CA_HAUSSE, field: "120"}), expected("R05", "taux", field))


@pytest.mark.parametrize("kind,base", [("RG", RG_CUMUL), ("CA", CA_DEBUT)])
@pytest.mark.parametrize("value,bad", [("35", True), ("0", True), ("10,555", True), ("34,99", False), ("0.5", False)])
def test_weekly_hours(kind, base, value, bad):
    result = found(check(kind, {**base, "heures_hebdo_mo": value}))
    assert (expected("R05", "heures") in result) is bad


@pytest.mark.parametrize("field", ["remuneration_garantie_nette", "part_financee_esat_nette", "aide_au_poste_nette"])
@pytest.mark.parametrize(
    "value,variant,detail",
    [
        ("-1", "negatif", ""),
        ("862.345", "decimales", ""),
        ("1 000,00", "separateur_milliers", "1000,00"),
        ("1.000,00", "separateur_milliers", "1000,00"),
        ("1\u00a0000,00", "espace_insecable", "1000,00"),
        ("75,06 €", "symbole_monetaire", "75,06"),
        ("75,06 EUR", "symbole_monetaire", "75,06"),
        ("8e2", "montant", ""),
        ("12,", "montant", ""),
    ],
)
def test_bad_amount_is_r06_montant_without_sum_check(field, value, variant, detail):
    assert_only(check("RG", rg(**{field: value})), expected("R06", variant, field, detail))


def test_bad_ordinary_pay():
    assert_only(check("RG", {**RG_CUMUL, "salaire_net_mo": "-5"}), expected("R06", "negatif", "salaire_net_mo"))


def test_sum_must_be_exact_to_the_cent():
    result = check(
        "RG",
        rg(
            remuneration_garantie_nette="431,19",
            part_financee_esat_nette="75,06",
            aide_au_poste_nette="356,12",
            taux_activite_esat="80",
        ),
    )
    assert_only(result, expected("R06", "somme", detail="75,06 + 356,12 = 431,18 ≠ 431,19"))
    assert result.anomalies["message"][0] == (
        "La part financée par l'Esat plus l'aide au poste (75,06 + 356,12 = 431,18 ≠ 431,19) ne sont pas égales "
        "à la rémunération garantie nette : corrigez les montants au centime près."
    )
    assert_only(
        check(
            "RG",
            rg(
                remuneration_garantie_nette="431.18",
                part_financee_esat_nette="75,06",
                aide_au_poste_nette="356.12",
                taux_activite_esat="50",
            ),
        )
    )
    # amounts that a binary float would get wrong: 0.1 + 0.2 = 0.3 exactly
    assert_only(
        check(
            "RG",
            rg(
                remuneration_garantie_nette="0,3",
                part_financee_esat_nette="0,1",
                aide_au_poste_nette="0,2",
                taux_activite_esat="0,05",
            ),
        )
    )


def test_sum_detail_groups_thousands():
    result = check(
        "RG", rg(remuneration_garantie_nette="1234,56", part_financee_esat_nette="1000", aide_au_poste_nette="234,57")
    )
    assert expected("R06", "somme", detail="1 000,00 + 234,57 = 1 234,57 ≠ 1 234,56") in found(result)


@pytest.mark.parametrize("before,after,variant", [("80", "80", "hausse"), ("80", "50", "hausse")])
def test_hausse_must_go_up(before, after, variant):
    assert_only(
        check("CA", {**CA_HAUSSE, "taux_activite_avant": before, "taux_activite_apres": after}),
        expected("R10", variant),
    )


@pytest.mark.parametrize("before,after", [("40", "40"), ("40", "50")])
def test_baisse_must_go_down(before, after):
    assert_only(
        check("CA", {**CA_BAISSE, "taux_activite_avant": before, "taux_activite_apres": after}),
        expected("R10", "baisse"),
    )


def test_no_r10_on_an_invalid_rate():
    assert_only(
        check("CA", {**CA_HAUSSE, "taux_activite_apres": "abc"}), expected("R05", "taux", "taux_activite_apres")
    )


# --- R07, R08, R09 ---------------------------------------------------------------------------------


def test_cumul_value():
    assert_only(check("RG", rg(cumul_milieu_ordinaire="X")), expected("R07", "valeur"))
    assert_only(check("RG", {**RG_CUMUL, "cumul_milieu_ordinaire": "Oui"}), expected("R07", "valeur"))
    assert_only(check("RG", rg(cumul_milieu_ordinaire="n")))


@pytest.mark.parametrize(
    "field", ["siret_employeur_mo", "type_contrat_mo", "date_debut_mo", "heures_hebdo_mo", "salaire_net_mo"]
)
def test_cumul_o_needs_every_mo_field_and_n_forbids_them(field):
    assert_only(check("RG", {**RG_CUMUL, field: None}), expected("R07", "incomplet", field))
    assert_only(check("RG", rg(**{field: RG_CUMUL[field]})), expected("R07", "interdit", field))


def test_repeated_nir_rejects_every_occurrence():
    other = {**RG_CUMUL}
    result = check("RG", RG_BASE, other, RG_BASE, lignes=[2, 3, 9])
    assert_only(result, expected("R08", ligne=2), expected("R08", ligne=9))
    assert result.typed["rejete"].to_list() == [True, False, True]
    assert_only(check("CA", CA_HAUSSE, CA_HAUSSE))  # CA files may repeat a NIR


@pytest.mark.parametrize(
    "value,variant", [("99", "code_caf"), ("20", "code_caf"), ("1", "code_caf_zero"), ("976", "mayotte")]
)
def test_code_caf(value, variant):
    detail = value if variant.startswith("code_caf") else ""
    assert_only(check("RG", rg(code_caf=value)), expected("R09", variant, detail=detail))


@pytest.mark.parametrize("value", ["01", "2A", "2B", "95", "971", "974"])
def test_code_caf_in_scope(value):
    assert_only(check("RG", rg(code_caf=value)))


def test_mayotte_message():
    assert check("RG", rg(code_caf="976")).anomalies["message"][0].startswith("Mayotte (976) est hors du périmètre")


def test_value_lists():
    assert_only(
        check("RG", {**RG_CUMUL, "type_contrat_mo": "cdi"}),
        expected("R09", "liste", "type_contrat_mo", "CDI, CDD, CTT, AUTRE, INDEPENDANT"),
    )
    assert_only(
        check("CA", {**CA_DEPART, "motif_depart": "VACANCES"}),
        expected(
            "R09",
            "liste",
            "motif_depart",
            "DEMISSION, ORIENTATION_MILIEU_ORDINAIRE, REORIENTATION_CDAPH, RETRAITE, DECES, AUTRE",
        ),
    )
    assert_only(check("CA", {**CA_DEBUT, "type_contrat_mo": "CTT"}))


# --- W01–W04, W08 ----------------------------------------------------------------------------------


def amounts(rg_: str, part: str, aide: str, taux: str = "100", annee: str = "2025") -> dict:
    return rg(
        remuneration_garantie_nette=rg_,
        part_financee_esat_nette=part,
        aide_au_poste_nette=aide,
        taux_activite_esat=taux,
        annee_reference=annee,
    )


def test_w01_above_the_guaranteed_pay_maximum():
    # 1 801,80 × 110,7 % = 1 994,59 at full time; 913,51 is the aide au poste maximum (50,7 %)
    result = check("RG", amounts("1994,60", "1081,09", "913,51"))
    assert_only(result, expected("W01", detail="maximum 1 994,59 €"))
    assert result.anomalies["message"][0].endswith("(maximum 1 994,59 €) : vérifiez le montant.")
    assert result.typed["rejete"].to_list() == [False]
    assert_only(check("RG", amounts("1994,59", "1081,08", "913,51")))


def test_w02_above_the_aide_au_poste_maximum():
    assert_only(check("RG", amounts("1000,00", "86,48", "913,52")), expected("W02", detail="maximum 913,51 €"))


def test_bounds_scale_with_the_rate_and_round_half_up():
    # 1 801,80 × 110,7 % × 50 % = 997,2963 → 997,30; × 50,7 % × 50 % = 456,7563 → 456,76
    assert_only(check("RG", amounts("997,30", "540,54", "456,76", taux="50")))
    assert_only(
        check("RG", amounts("997,31", "540,54", "456,77", taux="50")),
        expected("W01", detail="maximum 997,30 €"),
        expected("W02", detail="maximum 456,76 €"),
    )


def test_bounds_use_the_smic_of_1_november_of_the_year():
    # 2023: 11,52 → 1 747,20 monthly → 1 934,15
    result = found(check("RG", amounts("1934,16", "1100,00", "834,16", annee="2023")))
    assert result == [expected("W01", detail="maximum 1 934,15 €")]
    assert found(check("RG", amounts("1934,15", "1100,00", "834,15", annee="2023"))) == []


def test_no_bound_check_when_the_year_has_no_smic():
    assert_only(check("RG", amounts("5000,00", "4000,00", "1000,00", annee="2019")))


def test_w03_esat_and_ordinary_work_over_35_hours():
    result = check(
        "RG",
        {
            **RG_CUMUL,
            "taux_activite_esat": "80",
            "heures_hebdo_mo": "10",
            "remuneration_garantie_nette": "689,88",
            "part_financee_esat_nette": "120,10",
            "aide_au_poste_nette": "569,78",
        },
    )
    assert_only(result, expected("W03", detail="80 % de 35 h + 10 h = 38,00 h"))
    assert result.typed["rejete"].to_list() == [False]
    assert_only(check("RG", RG_CUMUL))  # 60 % × 35 h + 14 h = 35 h: not over


def test_w04_entry_after_30_november():
    assert_only(check("RG", rg(date_entree_esat="01/12/2025")), expected("W04"))
    assert_only(check("RG", rg(date_entree_esat="30/11/2025")))


@pytest.mark.parametrize(
    "effet,bad",
    [
        ("2026-03-16", True),
        ("2026-03-15", False),
        ("2023-12-14", True),
        ("2023-12-15", False),
    ],
)
def test_w08_date_effet_window(effet, bad):
    result = check("CA", {**CA_FIN, "date_effet": effet})
    assert (found(result) == [expected("W08")]) is bad
    assert result.typed["rejete"].to_list() == [False]


# --- reference data and the frame's bound computation -------------------------------------------------


def test_monthly_smic_matches_the_published_values():
    ref = load_reference()
    assert [str(s.monthly) for s in ref.smic] == ["1709.28", "1747.20", "1766.92", "1801.80", "1823.03"]
    assert [str(ref.smic_monthly_for_year(y)) for y in (2023, 2024, 2025, 2026)] == [
        "1747.20",
        "1801.80",
        "1801.80",
        "1823.03",
    ]
    assert ref.smic_monthly_for_year(2019) is None
    assert "976" not in ref.caf_codes_in_scope() and "2A" in ref.caf_codes_in_scope()
    assert len(ref.caf_codes_in_scope()) == 100


def french(amount: Decimal) -> str:
    euros, cents = f"{amount:.2f}".split(".")
    return f"{int(euros):,}".replace(",", " ") + "," + cents


def with_nir_key(body13: str) -> str:
    return body13 + f"{97 - int(body13) % 97:02d}"


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(1, 10_000), min_size=1, max_size=20, unique=True), st.sampled_from(["2023", "2025", "2026"])
)
def test_frame_bound_equals_the_decimal_bound(taux_hundredths, annee):
    """W01 fires exactly one cent above Reference.bound_amount, for any rate."""
    ref = load_reference()
    rows, bounds = [], []
    for i, t in enumerate(taux_hundredths):
        taux = Decimal(t) / 100
        bound = ref.bound_amount("remuneration_garantie_max", int(annee), taux)
        bounds.append(bound)
        for sex, amount in (("1", bound), ("2", bound + Decimal("0.01"))):
            text = f"{amount:.2f}"
            rows.append(
                rg(
                    nir=with_nir_key(sex + f"8505780{i:05d}"),
                    taux_activite_esat=str(taux),
                    annee_reference=annee,
                    remuneration_garantie_nette=text,
                    part_financee_esat_nette="0",
                    aide_au_poste_nette=text,
                )
            )
    result = validate_records(raw("RG", rows), "RG", AS_OF, ref)
    w01 = result.anomalies.filter(pl.col("code") == "W01")
    assert w01["ligne"].to_list() == list(range(3, 2 + len(rows), 2))  # only the cent-above rows
    # below 1 %, the rate is likely a fraction (0,8 for 80 %): the message says so (W01 taux_fraction)
    assert w01["message"].to_list() == [
        rule("W01", "taux_fraction" if t < 100 else "").render(
            detail=f"maximum {french(b)} €", valeur=str(Decimal(t) / 100)
        )
        for t, b in zip(taux_hundredths, bounds)
    ]


def test_an_independent_activity_may_leave_hours_and_pay_empty():
    """v1.2: INDEPENDANT (self-employed, loi 3DS) relaxes R07 for heures_hebdo_mo and salaire_net_mo (RG) and the
    CA's DEBUT_CUMUL_MO hours; any other contract still needs them."""
    own = {"type_contrat_mo": "INDEPENDANT", "heures_hebdo_mo": None, "salaire_net_mo": None}
    assert_only(check("RG", {**RG_CUMUL, **own}))
    assert_only(
        check("RG", {**RG_CUMUL, **own, "type_contrat_mo": "CDI"}),
        expected("R07", "incomplet", "heures_hebdo_mo"),
        expected("R07", "incomplet", "salaire_net_mo"),
    )
    assert_only(check("CA", {**CA_DEBUT, "type_contrat_mo": "INDEPENDANT", "heures_hebdo_mo": None}))
    assert_only(check("CA", {**CA_DEBUT, "heures_hebdo_mo": None}), expected("R01", "obligatoire", "heures_hebdo_mo"))


def test_w11_below_half_the_legal_floor():
    """55.7 % × SMIC(1 November 2025: 1 801,80 €) × taux × 0.5, rounded half-up, strictly below."""
    at_floor = check(
        "RG",
        {
            **RG_CUMUL,
            "remuneration_garantie_nette": "301,08",
            "part_financee_esat_nette": "100,00",
            "aide_au_poste_nette": "201,08",
        },
    )  # 60 %: 1801.80 × 0.557 × 0.6 × 0.5 = 301.08
    assert "W11" not in at_floor.anomalies["code"].to_list()
    below = check(
        "RG",
        {
            **RG_CUMUL,
            "remuneration_garantie_nette": "301,07",
            "part_financee_esat_nette": "100,00",
            "aide_au_poste_nette": "201,07",
        },
    )
    assert below.anomalies.filter(pl.col("code") == "W11")["message"].to_list() == [
        "La rémunération garantie nette vaut « 301,07 » pour un taux d'activité de 60 % (la moitié du minimum légal "
        "est 301,08 €) : c'est moins que la moitié du minimum légal, sans doute un montant horaire ou journalier ou un "
        "taux faux. Vérifiez que le montant est celui du mois de novembre entier et que le taux est juste."
    ]
    assert below.typed["rejete"].to_list() == [False]
