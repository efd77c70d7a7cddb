"""Workbooks saved by the real programs (tests/fixtures/workbooks, made by make.sh with LibreOffice Calc 7.4 and
Gnumeric 1.12, French locale; the sheet made in Calc, and the same sheet made in Gnumeric): each read exactly as the program displays it, compared field by field with the
program's own export of its displayed values; and the number formats both programs write, read through."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from exchange.core.judge import judge
from exchange.core.reading import read_declaration
from exchange.core.reading.number_format import cell_text
from schemas.declaration import RG_COLUMNS, parse_file_name
from tests.paths import TESTS

FIXTURES = TESTS / "fixtures" / "workbooks"
SHOWN = {
    "calc-rg.xlsx": "calc-rg-shown.csv",
    "calc-rg.ods": "calc-rg-shown.csv",
    "gnumeric-rg.xlsx": "gnumeric-rg-shown.csv",
    "gnumeric-rg.ods": "gnumeric-rg-shown.csv",
    "gnumeric-native-rg.xlsx": "gnumeric-native-rg-shown.csv",
    "gnumeric-native-rg.ods": "gnumeric-native-rg-shown.csv",
}
HEADER_LINE = 3  # a title (merged across the table) and a blank row above the header
HIDDEN_LINE = 7  # Léa Petit's row is hidden in the sheet


def name(ext: str, kind: str = "RG") -> str:
    return f"ESAT_81234567600017_{kind}_20251210_001.{ext}"


def meant(shown: str) -> str | None:
    """What a displayed French value means, as the record rules read it: « 86 % » → 86, « 862,35 € » → 862.35,
    « 12/05/1985 » → 1985-05-12; identifiers and text as shown."""
    text = shown.strip()
    if not text:
        return None
    if text.endswith("%") or text.endswith("€"):
        number = Decimal(text.rstrip("%€").replace("\u202f", "").replace("\xa0", "").replace(",", ".").strip())
        out = format(number.normalize(), "f")
        return out[:-2] if out.endswith(".0") else out
    if len(text) == 10 and text[2] == "/" and text[5] == "/":
        return f"{text[6:]}-{text[3:5]}-{text[:2]}"
    if "," in text and text.replace(",", "").isdigit():
        return text.replace(",", ".")
    return text


def shown_rows(export: str) -> dict[int, dict[str, str | None]]:
    """The program's own export of what it displays: the declaration's lines, by sheet row number."""
    lines = list(csv.reader(io.StringIO((FIXTURES / export).read_text(encoding="utf-8")), delimiter=";"))
    header = lines[HEADER_LINE - 1]
    rows: dict[int, dict[str, str | None]] = {}
    for number, line in enumerate(lines[HEADER_LINE:], start=HEADER_LINE + 1):
        if line == header[:1] + line[1:] and line and line[0] == "nom":  # the side sheet begins
            break
        if not any(line):
            continue
        if line[0] == "nom":
            break
        rows[number] = {c: meant(v) for c, v in zip(header, line, strict=True)}
    # The SIRET is merged down four rows: the export holds it in the first cell only, the clerk sees it in each.
    first = rows[HEADER_LINE + 1]["siret_esat"]
    for row in rows.values():
        row["siret_esat"] = row["siret_esat"] or first
    return rows


@pytest.mark.parametrize("fixture", sorted(SHOWN))
def test_a_real_workbook_reads_exactly_as_its_program_displays_it(fixture):
    data = (FIXTURES / fixture).read_bytes()
    read = read_declaration(data, parse_file_name(name(fixture.rsplit(".", 1)[1])))
    assert read.blocking is None, read.anomalies
    expected = shown_rows(SHOWN[fixture])
    got = {row["ligne"]: {c: row[c] for c in RG_COLUMNS} for row in read.frame.iter_rows(named=True)}
    assert sorted(got) == sorted(expected) == [4, 5, 6, 7]
    for line, row in expected.items():
        for column in RG_COLUMNS:
            assert got[line][column] == row[column], (fixture, line, column)
    assert read.hidden == (HIDDEN_LINE,) and read.header_line == HEADER_LINE


@pytest.mark.parametrize("fixture", sorted(SHOWN))
def test_a_real_workbook_is_accepted_with_the_hidden_row_noted(fixture):
    j = judge(
        (FIXTURES / fixture).read_bytes(),
        name(fixture.rsplit(".", 1)[1]),
        date(2025, 12, 15),
        max_file_bytes=10_000_000,
        max_records=1000,
    )
    codes = [(a["ligne"], a["code"]) for a in j.anomalies.iter_rows(named=True)]
    assert (j.statut, j.records_in, j.records_rejected) == ("ACCEPTE", 4, 0), j.anomalies.to_dicts()
    assert codes == [(HIDDEN_LINE, "W12")]
    rates = j.records.sort("ligne")["taux_activite_esat"].to_list()
    assert [str(r) for r in rates] == ["100.00", "86.00", "60.00", "50.00"]  # =30/35 in `0 %` is shown 86 % and read 86


# The number formats LibreOffice Calc 7.4 (French profile) and Gnumeric 1.12 wrote into the fixtures' .xlsx
# (xl/styles.xml: calc-rg.xlsx, gnumeric-rg.xlsx, gnumeric-native-rg.xlsx), with Excel's spellings of the same,
# each with a value and what the program displays (the fixtures' *-shown.csv).
FORMATS = [
    # (format code, value, column, displayed, read)
    ("[$-40C]00", 1.0, "code_caf", "01", "01"),
    ("[$-40C]00", 78.0, "code_caf", "78", "78"),
    ("[$-40C]0000000", 456789.0, "numero_allocataire", "0456789", "0456789"),
    ("[$-40C]0000000", 12345.0, "numero_allocataire", "0012345", "0012345"),
    ("[$-40C]0", 81234567600017.0, "siret_esat", "81234567600017", "81234567600017"),
    ("[$-40C]0\\ %", 0.857142857142857, "taux_activite_esat", "86 %", "86"),
    ("[$-40C]0\\ %", 1.0, "taux_activite_esat", "100 %", "100"),
    ("[$-40C]0.00\\ %", 0.5, "taux_activite_esat", "50,00 %", "50"),
    ("[$-40C]0.00\\ %", 0.625, "taux_activite_esat", "62,50 %", "62.5"),
    ("0%;[RED]\\-0%", 0.6, "taux_activite_esat", "60%", "60"),
    ("[Red]0%", 0.8, "taux_activite_esat", "80%", "80"),
    ("[Rouge]0 %", 0.8, "taux_activite_esat", "80 %", "80"),
    ("[>=0]0%;[RED]\\-0%", 0.75, "taux_activite_esat", "75%", "75"),
    ('[<0]"-"00;00', 7.0, "code_caf", "07", "07"),
    ("0%", 0.335, "taux_activite_esat", "34%", "34"),
    ("0.00%", 0.8, "taux_activite_esat", "80.00%", "80"),
    ('0" %"', 80.0, "taux_activite_esat", "80 %", "80"),  # a literal « % »: the number is shown as it is
    ("#,##0.00\\ [$€-40C]", 862.35, "remuneration_garantie_nette", "862,35 €", "862.35"),
    ("[$-40C]dd/mm/yyyy", 31179.0, "date_naissance", "12/05/1985", "1985-05-12"),
    ("General", 750012345.0, "finess_esat", "750012345", "750012345"),
    # Gnumeric's own spellings (gnumeric-native-rg.xlsx)
    ("00", 1.0, "code_caf", "01", "01"),
    ("0000000", 456789.0, "numero_allocataire", "0456789", "0456789"),
    ("[Red]0%;[Red]-0%", 0.6, "taux_activite_esat", "60%", "60"),
    ("[Red]0.00%", 0.5, "taux_activite_esat", "50,00%", "50"),
    ('0.00" €"', 862.35, "remuneration_garantie_nette", "862,35 €", "862.35"),
    ("dd/mm/yyyy", 31179.0, "date_naissance", "12/05/1985", "1985-05-12"),
]


@pytest.mark.parametrize("fmt,value,column,displayed,read", FORMATS)
def test_number_formats_of_both_programs_read_as_displayed(fmt, value, column, displayed, read):
    assert meant(displayed.replace(".", ",") if displayed.endswith("%") else displayed) in (read, displayed)
    assert cell_text(value, column, fmt) == read


def test_calcs_own_csv_exports_get_advice_that_fits_the_program():
    """The CSV Calc writes of the same sheet: with its title, the header's line is named; with commas (Calc's
    default), the separator; without the title, each « 100 % » / « 862,35 € » it shows is refused with the way
    out that works (the column's format, or sending the .ods/.xlsx), since retyping gives the same text."""
    shown = (FIXTURES / "calc-rg-shown.csv").read_bytes()
    j = judge(shown, name("csv"), date(2025, 12, 15), max_file_bytes=10_000_000, max_records=1000)
    assert [(a["ligne"], a["code"]) for a in j.anomalies.iter_rows(named=True)] == [(3, "F03")]
    assert j.anomalies["message"][0].startswith("La ligne d'en-tête du fichier est la ligne 3, et non la première")
    comma = (FIXTURES / "calc-rg-virgule.csv").read_bytes()
    j = judge(comma, name("csv"), date(2025, 12, 15), max_file_bytes=10_000_000, max_records=1000)
    a = j.anomalies.row(0, named=True)
    assert (a["ligne"], a["code"]) == (3, "F03") and a["message"].startswith(
        "La ligne d'en-tête est séparée par des virgules (siret_esat,finess_esat,"
    )
    body = b"\n".join(shown.split(b"\n")[2:])
    j = judge(body, name("csv"), date(2025, 12, 15), max_file_bytes=10_000_000, max_records=1000)
    first = {a["code"]: a["message"] for a in j.anomalies.iter_rows(named=True) if a["ligne"] == 2}
    assert first["R05"] == (
        "Le champ taux d'activité à l'Esat (colonne taux_activite_esat) vaut « 100 % » : le taux s'écrit sans le "
        "signe %, par exemple 80 ou 62,5. Dans le tableur, mettez la colonne au format Nombre (et non Pourcentage) "
        "avant d'enregistrer le CSV (sinon il l'écrit de nouveau ainsi), ou envoyez directement le classeur .xlsx "
        "ou .ods."
    )
    assert first["R06"].endswith(
        "Dans le tableur, mettez la colonne au format Nombre (et non Monétaire) avant d'enregistrer le CSV (sinon il "
        "l'écrit de nouveau ainsi), ou envoyez directement le classeur .xlsx ou .ods."
    )
