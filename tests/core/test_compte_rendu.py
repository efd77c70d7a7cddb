"""The compte rendu: exact CSV columns with BOM, XML valid against its XSD, masked NIR, formula guard."""

from __future__ import annotations

import csv
import io
from datetime import date

from lxml import etree

from exchange.core.compte_rendu.forms import CR_COLUMNS, SPEC_COLUMNS, cr_csv, cr_schema, cr_xml
from exchange.core.judge import judge
from schemas.anomalies import mask_nir
from tests.core.test_check_codes import MARTIN, RG_HEADER, RG_NAME, rg

AS_OF = date(2025, 12, 15)


def judged(content: str, name: str = RG_NAME):
    return judge(content.encode("utf-8"), name, AS_OF, max_file_bytes=10_000_000, max_records=1000)


def csv_rows(data: bytes) -> list[dict]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def test_accepted_file_has_one_summary_line():
    j = judged(rg())
    data = cr_csv(j, AS_OF)
    # the spec's twelve columns first, in its order; the project's four only after them
    assert data.decode("utf-8-sig").splitlines()[0] == (
        "fichier;date_traitement;statut;enregistrements_recus;enregistrements_acceptes;enregistrements_rejetes;"
        "ligne;nir_masque;code;gravite;champ;message;nom;prenoms;synthese;que_faire"
    )
    assert CR_COLUMNS[:12] == SPEC_COLUMNS
    rows = csv_rows(data)
    assert len(rows) == 1
    assert rows[0] == {
        "fichier": RG_NAME,
        "date_traitement": "2025-12-15",
        "statut": "ACCEPTE",
        "enregistrements_recus": "2",
        "enregistrements_acceptes": "2",
        "enregistrements_rejetes": "0",
        "ligne": "",
        "nir_masque": "",
        "code": "",
        "gravite": "",
        "champ": "",
        "message": "",
        "nom": "",
        "prenoms": "",
        "synthese": "Aucune anomalie.",
        "que_faire": "Rien à faire : toutes les lignes sont acceptées.",
    }
    root = etree.fromstring(cr_xml(j, AS_OF))
    assert cr_schema().validate(root), cr_schema().error_log
    assert root.get("statut") == "ACCEPTE" and [c.tag for c in root] == ["{urn:esat:compte-rendu:v1}synthese"]
    assert root.findtext("{urn:esat:compte-rendu:v1}synthese/{urn:esat:compte-rendu:v1}queFaire") == (
        "Rien à faire : toutes les lignes sont acceptées."
    )


def test_one_line_per_anomaly_with_summary_repeated_and_nir_masked():
    bad = {**MARTIN, "nom": "", "code_caf": "99"}
    j = judged("\n".join([RG_HEADER, ";".join(bad.values()), ";".join(bad.values())]) + "\n")
    rows = csv_rows(cr_csv(j, AS_OF))
    assert [(r["ligne"], r["code"]) for r in rows] == [
        ("2", "R01"),
        ("2", "R08"),
        ("2", "R09"),
        ("3", "R01"),
        ("3", "R08"),
        ("3", "R09"),
    ]
    assert {(r["statut"], r["enregistrements_recus"], r["enregistrements_rejetes"]) for r in rows} == {
        ("REJETE", "2", "2")
    }
    assert {r["nir_masque"] for r in rows} == {"18505********91"}
    raw = cr_csv(j, AS_OF) + cr_xml(j, AS_OF)
    assert b"185057800608491" not in raw
    root = etree.fromstring(cr_xml(j, AS_OF))
    assert cr_schema().validate(root), cr_schema().error_log
    anomalies = root.findall("{urn:esat:compte-rendu:v1}anomalie")
    assert [(a.get("ligne"), a.get("code"), a.get("nirMasque")) for a in anomalies] == [
        (r["ligne"], r["code"], r["nir_masque"]) for r in rows
    ]
    assert anomalies[0].text == "Le champ nom (colonne nom) est obligatoire et il est vide : renseignez-le."
    assert [(a.get("nom"), a.get("prenoms")) for a in anomalies] == [(None, "Jérôme")] * 6
    assert {(r["nom"], r["prenoms"]) for r in rows} == {("", "Jérôme")}
    # the summary: counts per severity and code, and what to do
    assert {r["synthese"] for r in rows} == {"6 anomalies bloquantes (R01 : 2, R08 : 2, R09 : 2)."}
    assert {r["que_faire"] for r in rows} == {
        "Toutes les lignes ont été rejetées : corrigez-les comme indiqué ci-dessous et renvoyez le fichier en entier."
    }
    synthese = root.find("{urn:esat:compte-rendu:v1}synthese")
    assert (synthese.get("anomaliesBloquantes"), synthese.get("anomaliesNonBloquantes")) == ("6", "0")
    assert [
        (c.get("code"), c.get("gravite"), c.get("nombre")) for c in synthese.findall("{urn:esat:compte-rendu:v1}code")
    ] == [("R01", "BLOQUANTE", "2"), ("R08", "BLOQUANTE", "2"), ("R09", "BLOQUANTE", "2")]


def test_formula_guard_on_text_cells():
    # a NIR and a file name built to be run by a spreadsheet
    evil = {**MARTIN, "nir": "=HYPERLINK(1)xx"}
    j = judged("\n".join([RG_HEADER, ";".join(evil.values())]) + "\n", name="=cmd|calc.csv")
    rows = csv_rows(cr_csv(j, AS_OF))
    assert rows[0]["fichier"] == "'=cmd|calc.csv" and rows[0]["code"] == "F02"
    j = judged("\n".join([RG_HEADER, ";".join(evil.values())]) + "\n")
    rows = csv_rows(cr_csv(j, AS_OF))
    assert rows[0]["nir_masque"] == "*****"  # not a NIR's characters: nothing of it shown (nirMasque's form)
    for r in rows:
        for col in ("fichier", "nir_masque", "champ", "message"):
            assert not r[col].startswith(("=", "+", "-", "@", "\t", "\r"))
    assert rows[0]["enregistrements_recus"] == "1"  # numbers are written as such


def test_mask_nir():
    assert mask_nir("178022A01234583") == "17802********83"
    assert mask_nir(None) == "" and mask_nir("") == ""
    assert "*" in mask_nir("123")
