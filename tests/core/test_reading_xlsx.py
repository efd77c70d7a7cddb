"""The .xlsx declaration (formats.md §3.0): typed cells read as the spec says, and the workbook guards."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

import pytest

from exchange.core.judge import judge
from exchange.core.reading.number_format import cell_text
from exchange.core.reading.workbook_reader import read_xlsx
from exchange.core.template import template_csv, template_xlsx
from tests.conftest import EXAMPLES
from tests.xlsx_files import workbook

RG_CSV = (EXAMPLES / "drop" / "esat-seine" / "depot" / "ESAT_81234567600017_RG_20251210_001.csv").read_text(
    encoding="utf-8"
)
CA_CSV = (EXAMPLES / "drop" / "esat-seine" / "depot" / "ESAT_81234567600017_CA_20251212_001.csv").read_text(
    encoding="utf-8"
)
NAME = "ESAT_81234567600017_RG_20251210_001.xlsx"
AS_OF = date(2025, 12, 15)
LIMIT = 10_000_000


def judged(data: bytes, name: str = NAME, max_file_bytes: int = LIMIT):
    return judge(data, name, AS_OF, max_file_bytes=max_file_bytes, max_records=1000)


def test_the_examples_as_a_workbook_are_accepted_with_typed_cells():
    j = judged(workbook(RG_CSV))
    assert (j.statut, j.records_in, j.records_rejected) == ("ACCEPTE", 3, 0)
    r = j.records.row(0, named=True)
    assert r["ligne"] == 2 and r["nom"] == "Martin" and r["date_naissance"] == date(1985, 5, 12)
    assert str(r["remuneration_garantie_nette"]) == "862.35"
    ca = judged(workbook(CA_CSV), name="ESAT_81234567600017_CA_20251212_001.xlsx")
    assert (ca.statut, ca.records_in) == ("ACCEPTE", 3)


def test_cell_reading_rules():
    assert cell_text(862.35, "remuneration_garantie_nette") == "862.35"
    assert cell_text(100.0, "taux_activite_esat") == "100"
    assert cell_text(862.3500000001, "remuneration_garantie_nette") == "862.3500000001"
    assert cell_text(81234567600017, "siret_esat") == "81234567600017"
    assert cell_text(1234567600017.0, "siret_esat") == "01234567600017"  # leading zero given back
    assert cell_text(75001234, "finess_esat") == "075001234"
    assert cell_text(1234567, "numero_allocataire") == "1234567"
    assert cell_text(datetime(1985, 5, 12), "date_naissance") == "1985-05-12"
    assert cell_text(None, "nom") is None and cell_text("  Martin ", "nom") == "  Martin "


def test_identifiers_typed_as_numbers_and_rows_numbered_as_in_the_sheet():
    header = RG_CSV.splitlines()[0].split(";")
    first = RG_CSV.splitlines()[1].split(";")
    row = [float(v) if c in ("siret_esat", "finess_esat") else v for c, v in zip(header, first)]
    data = workbook(RG_CSV, sheet_rows=[header, [], row])  # a blank row 2: the record is row 3
    j = judged(data)
    assert j.statut == "ACCEPTE" and j.records["ligne"].to_list() == [3]
    assert j.records["siret_esat"].to_list() == ["81234567600017"]


def test_a_computed_amount_with_more_than_2_decimals_is_r06_and_a_formula_reads_its_cached_value():
    data = workbook(RG_CSV, {(2, "remuneration_garantie_nette"): 862.3500000001})
    j = judged(data)
    a = j.anomalies.row(0, named=True)
    assert (a["ligne"], a["code"], a["champ"]) == (2, "R06", "remuneration_garantie_nette")
    assert a["message"] == (
        "Le champ rémunération garantie nette (colonne remuneration_garantie_nette, L) vaut "
        "« 862.3500000001 » : un montant a au plus 2 décimales, arrondissez-le au centime."
    )
    # a formula cell with its cached value (as a spreadsheet saves it)
    plain = workbook(RG_CSV)
    src = zipfile.ZipFile(io.BytesIO(plain))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert b'<c r="L2" t="n"><v>862.35</v></c>' in body
                body = body.replace(b'<c r="L2" t="n"><v>862.35</v></c>', b'<c r="L2"><f>M2+N2</f><v>862.35</v></c>')
            dst.writestr(item, body)
    assert judged(out.getvalue()).statut == "ACCEPTE"


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in members.items():
            z.writestr(name, body)
    return out.getvalue()


def test_zip_bomb_is_f07_before_opening():
    bomb = zipped(
        {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<w/>", "xl/worksheets/sheet1.xml": b"0" * 3_000_000}
    )
    assert len(bomb) < 100_000
    j = judged(bomb, max_file_bytes=100_000)  # 100 000 × 20 = 2 000 000 < 3 000 000
    a = j.anomalies.row(0, named=True)
    assert (j.statut, a["code"]) == ("REJETE", "F07")
    assert a["message"] == (
        "Le classeur se décompresse en plus de 2000000 octets : il est trop volumineux, "
        "découpez-le en plusieurs fichiers."
    )


@pytest.mark.parametrize(
    "data,why",
    [
        (
            zipped(
                {
                    "[Content_Types].xml": b"<Types>application/vnd.ms-excel.sheet.macroEnabled.main+xml</Types>",
                    "xl/workbook.xml": b"<w/>",
                    "xl/vbaProject.bin": b"\x00",
                }
            ),
            "il contient des macros",
        ),
        (b"PK\x03\x04 broken archive", "le fichier est endommagé"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64 + "EncryptionInfo".encode("utf-16-le") + b"\x00" * 64,
            "il est protégé par un mot de passe",
        ),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 200,
            "c'est un classeur Excel 97-2003 (.xls) renommé en .xlsx",
        ),
        (
            zipped({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<x/>"}),
            "c'est un classeur OpenDocument (.ods) renommé en .xlsx",
        ),
        (RG_CSV.encode("utf-8"), "ce n'est pas un classeur .xlsx"),
    ],
)
def test_what_is_not_a_plain_workbook_is_f01(data, why):
    j = judged(data)
    a = j.anomalies.row(0, named=True)
    assert (j.statut, a["code"]) == ("REJETE", "F01")
    assert a["message"] == (
        f"Le classeur n'a pas pu être ouvert ({why}) : enregistrez-le au format .xlsx ou .ods "
        "(sans macro ni mot de passe) ou CSV, puis renvoyez-le."
    )


def test_header_rules_are_the_csv_ones():
    bad = RG_CSV.replace("nom;prenoms", "nomm;prenoms", 1)
    r = read_xlsx(workbook(bad), "RG", LIMIT * 20)
    assert (
        r.blocking.code == "F03"
        and "Colonne inconnue dans la ligne d'en-tête : nomm (colonne E)." in r.blocking.message
    )
    empty = read_xlsx(workbook(RG_CSV.splitlines()[0]), "RG", LIMIT * 20)
    assert empty.blocking.code == "F01" and empty.blocking.message.startswith(
        "Le fichier ne contient aucun enregistrement"
    )


@pytest.mark.parametrize("kind", ["RG", "CA"])
def test_templates_are_accepted_and_keep_identifiers_and_dates_as_text(kind):
    from openpyxl import load_workbook

    name = f"ESAT_81234567600017_{kind}_20251210_001"
    assert judged(template_xlsx(kind), name=f"{name}.xlsx").statut == "ACCEPTE"
    assert judged(template_csv(kind), name=f"{name}.csv").statut == "ACCEPTE"
    sheet = load_workbook(io.BytesIO(template_xlsx(kind))).worksheets[0]
    header = [c.value for c in sheet[1]]
    for column in ("siret_esat", "nir", "date_naissance", "numero_allocataire"):
        i = header.index(column) + 1
        assert sheet.cell(row=2, column=i).number_format == "@", column
        assert sheet.column_dimensions[sheet.cell(row=1, column=i).column_letter].number_format == "@"
    assert sheet.cell(row=2, column=header.index("nir") + 1).data_type == "s"
    assert template_csv(kind).startswith(
        b"\xef\xbb\xbf" + (b"siret_esat;finess_esat" if kind == "RG" else b"siret_esat;nir")
    )


@pytest.mark.parametrize("member", ["xl/worksheets/sheet1.xml", "xl/workbook.xml"])
def test_entities_in_a_workbook_part_are_refused_not_expanded(member):
    """The XML guards of intake hold inside a workbook: a DTD in any part refuses it (F01), nothing is expanded."""
    plain = zipfile.ZipFile(io.BytesIO(workbook(RG_CSV)))
    out = io.BytesIO()
    lol = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in plain.infolist():
            body = plain.read(item.filename)
            if item.filename == member:
                body = (
                    body.replace(b"?>", b"?>" + lol.encode(), 1) if body.startswith(b"<?xml") else lol.encode() + body
                )
            dst.writestr(item, body)
    j = judged(out.getvalue())
    a = j.anomalies.row(0, named=True)
    assert (j.statut, a["code"]) == ("REJETE", "F01")
    assert a["message"] == (
        "Le classeur n'a pas pu être ouvert (il contient une déclaration DOCTYPE ou une "
        "entité, interdites) : enregistrez-le au format .xlsx ou .ods (sans macro ni mot de passe) "
        "ou CSV, puis renvoyez-le."
    )
