"""Spec v1.3 beside the real programs' files: .ods accepted with every rule of §3.0 and refused with a clear line when
it is not one; a CSV with a title says where its header is; a thin space in an amount; the compte rendu's footer;
the .ods model; records past max_records refused as soon as they are seen."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import pytest

from exchange.cli.main import main
from exchange.core.compte_rendu.html import cr_html
from exchange.core.judge import judge
from exchange.core.template_ods import template_ods
from tests.clerk import MARTIN, RG_CSV
from tests.ods_files import EMPTY_TEXT, ods_workbook
from tests.paths import TESTS


def martin(**changes: str) -> str:
    """Martin's line of the example with some columns changed."""
    values = dict(zip(RG_CSV.splitlines()[0].split(";"), MARTIN.split(";"), strict=True))
    return ";".join({**values, **changes}.values())


AS_OF = date(2025, 12, 15)
FIXTURES = TESTS / "fixtures" / "workbooks"
ODS = "ESAT_81234567600017_RG_20251210_001.ods"
CSV = "ESAT_81234567600017_RG_20251210_001.csv"
HEADER = RG_CSV.splitlines()[0].split(";")


def judged(data: bytes, name: str = ODS, max_records: int = 1000):
    return judge(data, name, AS_OF, max_file_bytes=10_000_000, max_records=max_records)


def first(j) -> tuple[str, str]:
    a = j.anomalies.row(0, named=True)
    return a["code"], a["message"]


def sheet(*records: str) -> dict:
    """The declaration as sheet rows of text cells, the header on row 1."""
    rows = {1: (False, {i: (h, "@", False) for i, h in enumerate(HEADER)})}
    for n, line in enumerate(records, start=2):
        rows[n] = (False, {i: (v, "@", False) for i, v in enumerate(line.split(";")) if v})
    return rows


def package(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in members.items():
            z.writestr(name, body)
    return out.getvalue()


OPENDOCUMENT = b"application/vnd.oasis.opendocument.spreadsheet"


@pytest.mark.parametrize(
    "data,why",
    [
        ((FIXTURES / "calc-rg.xlsx").read_bytes(), "c'est un classeur Excel (.xlsx) renommé en .ods"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 200, "c'est un classeur Excel 97-2003 (.xls) renommé en .ods"),
        (
            package(
                {
                    "mimetype": OPENDOCUMENT,
                    "content.xml": b"<x/>",
                    "META-INF/manifest.xml": b"<m><encryption-data/></m>",
                }
            ),
            "il est protégé par un mot de passe",
        ),
        (
            package({"mimetype": OPENDOCUMENT, "content.xml": b"<x/>", "Basic/Standard/Module1.xml": b"<m/>"}),
            "il contient des macros",
        ),
        (
            package({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<x/>"}),
            "ce n'est pas un classeur .ods",
        ),
        (RG_CSV.encode(), "ce n'est pas un classeur .ods"),
    ],
)
def test_what_is_not_a_plain_ods_is_f01(data, why):
    j = judged(data)
    assert (j.statut, *first(j)) == (
        "REJETE",
        "F01",
        f"Le classeur n'a pas pu être ouvert ({why}) : enregistrez-le au format .xlsx ou .ods (sans macro ni mot de "
        "passe) ou CSV, puis renvoyez-le.",
    )


def test_an_ods_is_read_with_the_rules_of_a_workbook():
    rows = sheet(MARTIN, martin(nom="Lefèvre", nir="292027512345620", date_naissance="03/02/1992"))
    rows[3][1][7] = (456789, "0000000", False)  # numero_allocataire shown 0456789
    rows[3][1][8] = (1, "00", False)  # code_caf shown 01
    rows[3][1][10] = (0.857142857142857, "0%", True)  # =30/35 in 0 %: 86
    rows[3][1][16] = (EMPTY_TEXT, "General", True)  # =SI(…;"";…)
    rows[4] = (False, {17: (EMPTY_TEXT, "General", True)})  # a row of empty texts below: a blank row
    j = judged(ods_workbook([("Salariés", rows, [])]))
    assert (j.statut, j.records_in) == ("ACCEPTE", 2), j.anomalies.to_dicts()
    second = j.records.sort("ligne").row(1, named=True)
    assert (second["numero_allocataire"], second["code_caf"], str(second["taux_activite_esat"])) == (
        "0456789",
        "01",
        "86.00",
    )


def test_a_merged_siret_reads_in_each_row_of_an_ods():
    rows = sheet(MARTIN, martin(nir="292027512345620", nom="Lefèvre", date_naissance="03/02/1992"))
    del rows[3][1][0]
    j = judged(ods_workbook([("Salariés", rows, [(2, 3, 0)])]))
    assert (j.statut, j.records["siret_esat"].to_list()) == ("ACCEPTE", ["81234567600017"] * 2), j.anomalies.to_dicts()


def test_records_past_max_records_are_f07_as_soon_as_seen():
    j = judged(ods_workbook([("Salariés", sheet(MARTIN, MARTIN, MARTIN), [])]), max_records=2)
    assert (j.statut, *first(j)) == (
        "REJETE",
        "F07",
        "Le fichier contient trop d'enregistrements (plus de 2) : découpez-le en plusieurs fichiers.",
    )


def test_a_csv_with_a_title_says_on_which_line_its_header_was_found():
    data = ("Déclaration RG 2025;;;\n;;;\n" + RG_CSV).encode()
    j = judged(data, CSV)
    assert (j.statut, *first(j)) == (
        "REJETE",
        "F03",
        "La ligne d'en-tête du fichier est la ligne 3, et non la première : au-dessus d'elle, le fichier contient "
        "un titre ou d'autres lignes. Supprimez les lignes au-dessus de la ligne 3 et renvoyez le fichier (ou "
        "envoyez directement le classeur .xlsx ou .ods, dont les titres sont acceptés).",
    )
    assert j.anomalies.row(0, named=True)["ligne"] == 3


def test_a_forgotten_header_is_still_entete_absente():
    j = judged("\n".join(RG_CSV.splitlines()[1:]).encode(), CSV)
    assert first(j)[0] == "F03" and first(j)[1].startswith("La ligne d'en-tête est absente")


def test_a_thin_space_in_an_amount_is_the_spreadsheets_space():
    j = judged(
        (RG_CSV.splitlines()[0] + "\n" + martin(remuneration_garantie_nette="1\u2009862,35") + "\n").encode(), CSV
    )
    messages = [a["message"] for a in j.anomalies.iter_rows(named=True) if a["code"] == "R06"]
    assert messages == [
        "Le champ rémunération garantie nette (colonne remuneration_garantie_nette) vaut « 1\u2009862,35 » : le montant "
        "contient une espace insécable ou fine (que le tableur ajoute entre les milliers) ; il s'écrit sans espace "
        "(par exemple 1862,35). Dans le tableur, mettez la colonne au format Nombre sans séparateur de milliers avant "
        "d'enregistrer le CSV (sinon il l'écrit de nouveau ainsi), ou envoyez directement le classeur .xlsx ou .ods."
    ]


def test_the_html_footer_names_the_line_the_header_is_on():
    j = judged((FIXTURES / "calc-rg.ods").read_bytes())
    page = cr_html(j, AS_OF).decode()
    assert "(la ligne d'en-tête est la ligne 3).</footer>" in page
    plain = cr_html(judged(RG_CSV.encode(), CSV), AS_OF).decode()
    assert "(la ligne d'en-tête est la ligne 1).</footer>" in plain


@pytest.mark.parametrize("kind", ["rg", "ca"])
def test_the_ods_model_is_written_by_template_and_accepted(tmp_path, kind, capsys):
    out = tmp_path / "modele.ods"
    assert main(["template", kind, "--format", "ods", "--out", str(out)]) == 0
    assert out.read_bytes() == template_ods(kind.upper())
    name = f"ESAT_81234567600017_{kind.upper()}_20251210_001.ods"
    j = judged(out.read_bytes(), name)
    assert (j.statut, j.records_in) == ("ACCEPTE", 1), j.anomalies.to_dicts()
    content = zipfile.ZipFile(out).read("content.xml").decode()
    assert 'table:default-cell-style-name="pourcent"' in content and "<number:percentage-style" in content
    assert f"Modèle de déclaration {kind.upper()} écrit" in capsys.readouterr().out


def test_the_xlsx_models_rate_columns_are_percentages():
    from openpyxl import load_workbook

    from exchange.core.template import template_xlsx

    rg = load_workbook(io.BytesIO(template_xlsx("RG"))).worksheets[0]
    header = [c.value for c in rg[1]]
    rate = rg.cell(row=2, column=header.index("taux_activite_esat") + 1)
    assert (rate.value, rate.number_format) == (1.0, "0.00%")  # shown 100,00 %; « 80 % » typed is 0.8, read 80


def test_an_entity_declaration_in_an_ods_is_refused_not_expanded():
    lol = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    plain = zipfile.ZipFile(io.BytesIO(ods_workbook([("Salariés", sheet(MARTIN), [])])))
    members = {i.filename: plain.read(i.filename) for i in plain.infolist()}
    members["content.xml"] = members["content.xml"].replace(b"?>", b"?>" + b"<!-- " + b" " * 70_000 + b"-->" + lol, 1)
    j = judged(package(members))
    assert (j.statut, *first(j)) == (
        "REJETE",
        "F01",
        "Le classeur n'a pas pu être ouvert (il contient une déclaration DOCTYPE ou une entité, interdites) : "
        "enregistrez-le au format .xlsx ou .ods (sans macro ni mot de passe) ou CSV, puis renvoyez-le.",
    )
